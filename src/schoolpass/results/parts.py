"""A large lab file read in parts at once (SQLite): each worker writes its staging rows to a scratch file.

Handing parsed rows to the importing process one by one (pickled through a queue) costs that
process nearly as much as inserting them. Here each worker process inserts its part's rows into
a scratch SQLite file of its own and matches them against the database (read only; the importer
uses those matches only if it sees the same roster). The importer then attaches the files and
copies their rows and matches into its staging tables in one statement each, inside SQLite.
Only counts (for the progress bar) and the parts' outcomes cross between the processes.

The scratch files hold the same personal data as the staging tables (which SQLite may also
spill to temporary files): they live in a private temporary folder (mode 0700), in the
system's temporary place, and are removed when the import ends, whether it committed or not;
if the import was killed, by the next import that reads a file in parts.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schoolpass import background
from schoolpass.results.staging import ID_COLUMNS, STAGE_COLUMNS

if TYPE_CHECKING:  # a worker imports this module: it starts without the database layer
    from sqlalchemy import Connection

FOLDER_PREFIX = "schoolpass-parts-"  # then the importing process's id
MATCH_COLUMNS = ("ref", "person_id", "method", "reason")  # results.matching's match_outcome

# The staging tables a part's rows go to, with their columns.
TABLES = {"stage_results": STAGE_COLUMNS, "to_match_ids": ID_COLUMNS}


@dataclass
class PartRead:
    """What a worker hands back: its reader's outcome, and the roster import its part was matched
    against (None: not matched there; the importer matches it)."""

    outcome: Any
    matched_on_roster: int | None = None


def written_to(file: str, database: str | None, producer, *args):
    """Run in a worker: the producer's batches of (stage_results rows, to_match_ids rows), written to a
    new SQLite file; yields each batch's number of results. Then, when `database` (the SQLite file
    imported into) is named and the reader found no problem, the part's results are matched there
    (read only). Returns a PartRead."""
    scratch = sqlite3.connect(file, isolation_level=None)
    try:
        scratch.execute("PRAGMA journal_mode = OFF")  # a scratch file: a crash loses nothing worth keeping
        scratch.execute("PRAGMA synchronous = OFF")
        scratch.execute("BEGIN")
        for table, columns in TABLES.items():
            scratch.execute(f"CREATE TABLE {table} ({', '.join(columns)})")
        inserts = [f"INSERT INTO {table} VALUES ({', '.join('?' for _ in columns)})" for table, columns in TABLES.items()]
        batches = producer(*args)
        while True:
            try:
                batch = next(batches)
            except StopIteration as finished:
                scratch.execute("COMMIT")
                outcome = finished.value
                break
            for insert, rows in zip(inserts, batch):
                scratch.executemany(insert, rows)
            yield len(batch[0])
    finally:
        scratch.close()
    if database is None or outcome.problems or outcome.stopped:
        return PartRead(outcome)
    return PartRead(outcome, matched_in_part(file, database))


def matched_in_part(file: str, database: str) -> int | None:
    """Match the results in a part's scratch file against the roster in `database`, opened read only; the
    outcomes go to the file's table match_outcome. Returns the newest roster import the matching saw
    (all of it in one read transaction): the importer uses these outcomes only when its own transaction
    sees the same roster. None when the database could not be read here (the importer matches)."""
    from urllib.parse import quote

    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from schoolpass.storage.bulk import mapped_reads
    from schoolpass.storage.engine import make_engine

    engine = make_engine(f"sqlite:///file:{quote(database)}?mode=ro&uri=true")
    try:
        with engine.connect() as conn:
            raw = conn.connection.driver_connection  # outside a transaction: a file's safety level is set here
            raw.execute("ATTACH DATABASE ? AS part", (file,))
            raw.execute("PRAGMA part.journal_mode = OFF")
            raw.execute("PRAGMA part.synchronous = OFF")
            with conn.begin(), mapped_reads(conn):
                roster = conn.execute(text("SELECT coalesce(max(id), 0) FROM roster_imports")).scalar()
                _match_part(conn)
        return roster
    except (SQLAlchemyError, sqlite3.Error):
        return None  # e.g. a database another process holds in its rollback journal: matched by the importer
    finally:
        engine.dispose()


def _match_part(conn) -> None:
    from schoolpass.results import matching

    matching.create_work_tables(conn)
    matching.take_staged(conn, "part.stage_results")
    conn.exec_driver_sql("INSERT INTO temp.to_match_ids (ref, patient_id) SELECT ref, patient_id FROM part.to_match_ids")
    matching.match_all(conn)
    conn.exec_driver_sql("CREATE TABLE part.match_outcome AS SELECT * FROM temp.match_outcome")


class Parts:
    """Reads a file's parts in worker processes, each into a scratch file (see the module's text)."""

    def __init__(self):
        self.folder: Path | None = None  # made on first use
        self.files: list[str] = []
        self.names: list[str] = []  # the files' names in the connection they are attached to
        self.workers: list[background.Batches] = []
        self.reads: list[PartRead] = []
        self.rows = 0  # results the workers wrote

    def start(self, producer, parts: list[tuple], database: str | None = None) -> None:
        """Run `producer(*part)` for each part, each in its own worker, the parts matched there against
        `database` when named; `finish` waits for them."""
        if self.folder is None:
            remove_left_behind()
            # Private (mode 0700); named by this process, so that a later import can tell it was left behind.
            self.folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-"))
        self.files = [str(self.folder / f"part-{index}.db") for index in range(len(parts))]
        self.workers = [background.Batches(written_to, file, database, producer, *part, in_background=True)
                        for file, part in zip(self.files, parts)]
        try:
            for worker in self.workers:
                worker.start()
        except BaseException:
            self._close()
            raise

    @property
    def started(self) -> bool:
        return bool(self.workers)

    def finish(self, progress=None, meanwhile=None) -> list:
        """Run `meanwhile()`, then wait for the workers `start` started (progress: each batch's results)."""
        try:
            if meanwhile:
                meanwhile()
            for count in alternate([iter(worker) for worker in self.workers]):
                self.rows += count
                if progress:
                    progress(count)
        finally:
            self._close()
        self.reads = [worker.result for worker in self.workers]
        self.workers = []
        return [read.outcome for read in self.reads]

    def _close(self) -> None:
        for worker in self.workers:
            worker.close()

    def stop(self) -> None:
        """Stop workers still reading (the import ended before it waited for them)."""
        self._close()
        self.workers = []

    def matched_on(self, roster: int) -> bool:
        """Whether every part was matched against this roster import (the importer's)."""
        return bool(self.reads) and all(read.matched_on_roster == roster for read in self.reads)

    def copy_into_staging(self, conn: Connection, matched: bool, tests: frozenset[str] | None = None) -> None:
        """Copy every part's rows, in part order, into this connection's staging tables: with their
        match outcomes when `matched`, else with their lab patient ids (for matching here). Parts read
        with every test: only the results of `tests` are staged."""
        tables = {"stage_results": STAGE_COLUMNS} | (
            {"match_outcome": MATCH_COLUMNS} if matched else {"to_match_ids": ID_COLUMNS})
        kept = tuple(sorted(tests)) if tests is not None else ()
        only = f" WHERE test_code IN ({', '.join('?' for _ in kept)})" if tests is not None else ""
        for index, file in enumerate(self.files):
            name = f"part_{index}"
            conn.exec_driver_sql(f"ATTACH DATABASE ? AS {name}", (file,))
            self.names.append(name)
            for table, columns in tables.items():
                listed = ", ".join(columns)
                where = only if table == "stage_results" else ""
                conn.exec_driver_sql(f"INSERT INTO temp.{table} ({listed}) SELECT {listed} FROM {name}.{table}{where}",
                                     kept if where else ())

    @contextmanager
    def attached(self, conn: Connection) -> Iterator[None]:
        """Wrap the transaction that copies from the files: they are detached after it (SQLite keeps an
        attached file in use until the transaction ends)."""
        try:
            yield
        finally:
            while self.names:
                conn.exec_driver_sql(f"DETACH DATABASE {self.names.pop()}")


def remove_left_behind() -> list[Path]:
    """Remove scratch folders whose import was killed before it could (their process is gone); returns them."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*-*"):
        pid = folder.name[len(FOLDER_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)) and folder.is_dir() and folder.stat().st_uid == os.getuid():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # no signal: only whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextmanager
def scratch_parts() -> Iterator[Parts]:
    """Parts whose scratch files live in a private temporary folder; after the block, workers still
    reading are stopped and the folder is removed (attach the files with `Parts.attached`)."""
    parts = Parts()
    try:
        yield parts
    finally:
        try:
            parts.stop()
        finally:
            if parts.folder is not None:
                shutil.rmtree(parts.folder, ignore_errors=True)


def alternate(iterators: list):
    """The items of several iterators, taking from each in turn until all are done."""
    while iterators:
        for it in list(iterators):
            item = next(it, None)
            if item is None:
                iterators.remove(it)
            else:
                yield item
