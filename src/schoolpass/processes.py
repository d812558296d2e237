"""Worker processes for work split in parts (ledger verify, breach scope): two cores, two processes.

Forked from a clean forkserver that has the workers' modules loaded: quick to start, and no copy
of the caller's open database connections (SQLite must not be used across fork). Spawned where
there is no fork.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.context import BaseContext

from sqlalchemy import Connection

PRELOAD = ["schoolpass.disclosure.ledger", "schoolpass.disclosure.breach"]


def worker_context() -> BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


def workers_can_see(conn: Connection) -> bool:
    """Whether other processes can open what `conn` reads (not a private in-memory SQLite database)."""
    return not (conn.dialect.name == "sqlite" and conn.engine.url.database in (None, "", ":memory:"))


def worker_url(conn: Connection) -> str:
    """The URL a worker opens `conn`'s database with (password included: it never leaves the machine)."""
    return conn.engine.url.render_as_string(hide_password=False)


@contextmanager
def worker_connection(url: str) -> Iterator[Connection]:
    """In a worker process: a connection of its own to the caller's database, its engine disposed after."""
    from schoolpass.storage.engine import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()
