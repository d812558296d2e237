"""Fast bulk loading: executemany on SQLite, COPY on PostgreSQL, inside the caller's transaction; and the
SQLite settings that make loading and indexing at district size fast."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection

# SQLite sorts for CREATE INDEX in runs as large as the page cache. Runs of a few MB stay in the CPU's
# caches and can be sorted by helper threads, one per core: a 1.3M-row index builds twice as fast.
SORT_RUN_KB = 4096
# A lab file's import probes the roster's indexes once per result, from a cold page cache. Reading the
# database through a memory map saves a read call and a copy per page (matching: 0.45 s -> 0.33 s for a
# day's 54,360 results at 500,000 students). This SQLite maps at most 2 GB.
MAPPED_BYTES = 2 << 30


def insert_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Insert rows (tuples in `columns` order) into `table`; returns how many."""
    count = 0
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
        return count
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    cursor = conn.connection.driver_connection.cursor()
    try:
        batch: list[Sequence] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= 20000:
                cursor.executemany(sql, batch)
                count += len(batch)
                batch.clear()
        if batch:
            cursor.executemany(sql, batch)
            count += len(batch)
    finally:
        cursor.close()
    return count


@contextmanager
def sqlite_settings(conn: Connection, settings: dict[str, int]) -> Iterator[None]:
    """SQLite: these PRAGMA values while the block runs, the connection's own after. PostgreSQL: nothing."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in settings}
    for name, value in settings.items():
        conn.exec_driver_sql(f"PRAGMA {name} = {int(value)}")
    try:
        yield
    finally:
        for name, value in before.items():
            conn.exec_driver_sql(f"PRAGMA {name} = {value}")


def index_building(conn: Connection):
    """While building indexes over many rows: small sort runs, sorted on every core."""
    return sqlite_settings(conn, {"threads": min(os.cpu_count() or 1, 8), "main.cache_size": -SORT_RUN_KB,
                                  "temp.cache_size": -SORT_RUN_KB})


def mapped_reads(conn: Connection):
    """While probing a large database many times: read it through a memory map."""
    return sqlite_settings(conn, {"mmap_size": MAPPED_BYTES})


@contextmanager
def rollback_journal(conn: Connection) -> Iterator[bool]:
    """SQLite: one very large transaction on this connection through the rollback journal, not the WAL.

    In WAL mode every page a transaction writes goes to the WAL first, and the checkpoint after the
    commit copies it again into the database: a district's first roster import (850 MB) writes
    everything twice (SQLite's WAL documentation: for transactions over about 100 MB the rollback
    journal is likely faster). A new page needs no journal entry, so loading an empty database
    through the rollback journal writes it once. While it runs, readers wait (as they would for
    any rollback-journal writer), so use it only where nobody else is expected.

    Call outside a transaction; begin the transaction inside. Switches only when this is the
    database's only connection (asked without waiting): yields whether it switched. Commits are
    synced in full while it lasts. WAL and the connection's own settings are restored after,
    whether the transaction committed or not; every connection also sets WAL as it opens, so a
    database left in the rollback journal by a crash returns to WAL (after SQLite rolls the journal
    back) as soon as it is opened again. PostgreSQL: nothing, yields False.
    """
    if conn.dialect.name != "sqlite":
        yield False
        return
    raw = conn.connection.driver_connection
    if raw.in_transaction:
        raise RuntimeError("rollback_journal: the connection is in a transaction")
    waits = raw.execute("PRAGMA busy_timeout").fetchone()[0]
    synchronous = raw.execute("PRAGMA synchronous").fetchone()[0]
    raw.execute("PRAGMA busy_timeout = 0")
    try:
        switched = raw.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"
    except raw.OperationalError:  # another connection has the database open
        switched = False
    finally:
        raw.execute(f"PRAGMA busy_timeout = {int(waits)}")
    if not switched:
        yield False
        return
    raw.execute("PRAGMA synchronous = FULL")
    try:
        yield True
    finally:
        raw.execute(f"PRAGMA synchronous = {int(synchronous)}")
        try:
            raw.execute("PRAGMA journal_mode = WAL")
        except raw.OperationalError:  # a reader holds it now: the next connection to open sets WAL
            pass
