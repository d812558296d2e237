"""Reading a large users.csv in a second process, so parsing overlaps with staging.

The worker only reads and checks rows (records.read_users); it never touches the
database. Rows come back in bounded batches; problems and warnings come back at the
end, and the importer decides, as for any export, whether to refuse it.
"""

from __future__ import annotations

import multiprocessing
import queue as queues
from collections.abc import Iterator
from pathlib import Path

from schoolpass.errors import SchoolpassError
from schoolpass.roster.export import open_export
from schoolpass.roster.records import Findings, read_users

BATCH = 20000
# Below this size, a second process costs more than it saves.
MIN_BYTES = 32 * 1024 * 1024


def _worker(path: str, out: multiprocessing.Queue) -> None:
    try:
        export = open_export(Path(path))
        findings = Findings()
        people: list[tuple] = []
        schools: list[tuple] = []
        agents: list[tuple] = []
        for person, person_schools, person_agents in read_users(export, findings):
            people.append(person)
            schools.extend(person_schools)
            agents.extend(person_agents)
            if len(people) >= BATCH:
                out.put(("rows", people, schools, agents))
                people, schools, agents = [], [], []
        out.put(("rows", people, schools, agents))
        out.put(("done", findings))
        export.close()
    except BaseException as failure:  # noqa: BLE001 - reported to the parent, which raises
        out.put(("failed", type(failure).__name__))


class BackgroundUsers:
    """users.csv read by a worker process: start it early, then iterate its batches."""

    def __init__(self, path: Path, findings: Findings):
        self.findings = findings
        context = multiprocessing.get_context("spawn")
        self.channel = context.Queue(maxsize=4)
        self.process = context.Process(target=_worker, args=(str(path), self.channel), daemon=True)

    def start(self) -> BackgroundUsers:
        self.process.start()
        return self

    def __iter__(self) -> Iterator[tuple[list, list, list]]:
        """Batches of (people, schools, agents); problems and warnings are merged at the end."""
        try:
            while True:
                try:
                    message = self.channel.get(timeout=1.0)
                except queues.Empty:
                    if not self.process.is_alive():
                        raise SchoolpassError("the users.csv reader stopped unexpectedly") from None
                    continue
                if message[0] == "rows":
                    yield message[1], message[2], message[3]
                elif message[0] == "done":
                    self.findings.problems.extend(message[1].problems)
                    self.findings.warnings.extend(message[1].warnings)
                    return
                else:
                    raise SchoolpassError(f"reading users.csv failed ({message[1]})")
        finally:
            self.close()

    def close(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        if self.process.pid is not None:
            self.process.join()
