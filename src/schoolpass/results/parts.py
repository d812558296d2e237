"""A large lab file read in parts at once (SQLite): each worker writes its staging rows to a scratch file.

Handing parsed rows to the importing process one by one (pickled through a queue) costs that
process nearly as much as inserting them. Here each worker process inserts its part's rows into
a scratch SQLite file of its own; the importer then attaches the files and copies their rows
into its staging tables in one statement each, inside SQLite. Only counts (for the progress
bar) and the parts' outcomes cross between the processes.

The scratch files hold the same personal data as the staging tables (which SQLite may also
spill to temporary files): they live in a private temporary folder (mode 0700), in the
system's temporary place, and are removed when the import ends, whether it committed or not.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from schoolpass import background
from schoolpass.results.staging import ID_COLUMNS, STAGE_COLUMNS

if TYPE_CHECKING:  # a worker imports this module: it starts without the database layer
    from sqlalchemy import Connection

# The staging tables a part's rows go to, with their columns.
TABLES = {"stage_results": STAGE_COLUMNS, "to_match_ids": ID_COLUMNS}


def written_to(file: str, producer, *args):
    """Run in a worker: the producer's batches of (stage_results rows, to_match_ids rows), written to a
    new SQLite file; yields each batch's number of results; returns the producer's outcome."""
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
                return finished.value
            for insert, rows in zip(inserts, batch):
                scratch.executemany(insert, rows)
            yield len(batch[0])
    finally:
        scratch.close()


class Parts:
    """Reads a file's parts in worker processes, each into a scratch file (see the module's text)."""

    def __init__(self):
        self.folder: Path | None = None  # made on first use
        self.files: list[str] = []
        self.attached: list[str] = []

    def read(self, producer, parts: list[tuple], progress=None) -> list:
        """Run `producer(*part)` for each part, each in its own worker; returns their outcomes, in order."""
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="schoolpass-parts-"))  # private: mode 0700
        self.files = [str(self.folder / f"part-{index}-{len(self.files)}.db") for index in range(len(parts))]
        workers = [background.Batches(written_to, file, producer, *part, in_background=True)
                   for file, part in zip(self.files, parts)]
        try:
            for worker in workers:
                worker.start()
            for count in alternate([iter(worker) for worker in workers]):
                if progress:
                    progress(count)
        finally:
            for worker in workers:
                worker.close()
        return [worker.result for worker in workers]

    def copy_into_staging(self, conn: Connection) -> None:
        """Copy every part's rows, in part order, into this connection's staging tables."""
        for index, file in enumerate(self.files):
            name = f"part_{index}"
            conn.exec_driver_sql(f"ATTACH DATABASE ? AS {name}", (file,))
            self.attached.append(name)
            for table, columns in TABLES.items():
                listed = ", ".join(columns)
                conn.exec_driver_sql(f"INSERT INTO temp.{table} ({listed}) SELECT {listed} FROM {name}.{table}")

    def detach(self, conn: Connection) -> None:
        """After the import's transaction (SQLite keeps an attached file in use until it ends)."""
        while self.attached:
            conn.exec_driver_sql(f"DETACH DATABASE {self.attached.pop()}")


@contextmanager
def scratch_parts(conn: Connection) -> Iterator[Parts]:
    """Parts whose scratch files live in a private temporary folder, detached and removed after the block
    (wrap the import's transaction in it)."""
    parts = Parts()
    try:
        yield parts
    finally:
        try:
            parts.detach(conn)
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
