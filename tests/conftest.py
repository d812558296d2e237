"""Storage tests run on SQLite and on PostgreSQL (when SCHOOLPASS_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import pytest

from schoolpass.storage.engine import make_engine
from schoolpass.storage.migrate import upgrade
from schoolpass.storage.models import metadata

PG_URL = os.environ.get("SCHOOLPASS_TEST_POSTGRES_URL")
SKIP_PG = "SCHOOLPASS_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_engine():
    if not PG_URL:
        pytest.skip(SKIP_PG)
    engine = make_engine(PG_URL)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    upgrade(engine)
    yield engine
    engine.dispose()


def _seed(conn) -> None:
    """The rows migration 0004 seeds (the empty ledger chain, the claim lock)."""
    conn.exec_driver_sql(f"INSERT INTO ledger_head (id, seq, hash) VALUES (1, 0, '{'0' * 64}')")
    conn.exec_driver_sql("INSERT INTO send_lock (id, claims) VALUES (1, 0)")


def truncate_all(engine) -> None:
    tables = ", ".join(t.name for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        _seed(conn)


@dataclass
class Database:
    backend: str
    engine: object
    url: str

    def reset(self) -> None:
        """Empty every table (for property tests that need a fresh roster per example)."""
        if self.backend == "postgresql":
            truncate_all(self.engine)
        else:
            with self.engine.begin() as conn:
                for table in reversed(metadata.sorted_tables):
                    conn.exec_driver_sql(f"DELETE FROM {table.name}")
                _seed(conn)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path, sqlite_template) -> Database:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "schoolpass.db"
        shutil.copy(sqlite_template, path)
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        yield Database("sqlite", engine, url)
        engine.dispose()
    else:
        engine = request.getfixturevalue("postgres_engine")
        truncate_all(engine)
        yield Database("postgresql", engine, PG_URL)
