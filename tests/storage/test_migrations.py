"""The schema comes only from migrations, and they match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from schoolpass.storage.migrate import current_revision, head_revision, upgrade
from schoolpass.storage.models import metadata
from tests.cli import run


def test_migrations_match_the_models(db):
    with db.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []
    assert current_revision(db.engine) == head_revision()


def test_upgrade_twice_is_safe(db):
    assert upgrade(db.engine) == (head_revision(), head_revision())
    tables = set(inspect(db.engine).get_table_names())
    assert {t.name for t in metadata.sorted_tables} <= tables


def test_init_creates_a_fresh_sqlite_database_and_runs_twice(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    first = run(capsys, "init", "--db", url)
    assert first.code == 0 and "upgraded from empty" in first.out
    second = run(capsys, "init", "--db", url)
    assert second.code == 0 and "already at revision" in second.out


def test_database_url_from_the_environment(tmp_path, capsys, monkeypatch):
    path = tmp_path / "env.db"
    monkeypatch.setenv("SCHOOLPASS_DATABASE_URL", f"sqlite:///{path}")
    assert run(capsys, "init").code == 0
    assert path.exists()


def test_sqlite_pragmas(db):
    if db.backend != "sqlite":
        return
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
