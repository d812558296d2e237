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


def test_links_are_rebuilt_without_rowid_keeping_their_rows(tmp_path):
    """0011: on SQLite the link tables become their key's B-tree; every row and the lookup index stay."""
    from alembic import command

    from schoolpass.storage.engine import make_engine
    from schoolpass.storage.migrate import _config

    engine = make_engine(f"sqlite:///{tmp_path / 'links.db'}")
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0010")
        conn.exec_driver_sql("INSERT INTO person_schools VALUES ('stu-2', 'h2', 'sch-1'), ('stu-1', 'h1', 'sch-2')")
        conn.exec_driver_sql("INSERT INTO person_agents VALUES ('stu-1', 'h1', 'con-9'), ('con-9', 'h3', 'stu-1')")

    def shape(conn):
        return {name: ("WITHOUT ROWID" in sql, sorted(conn.exec_driver_sql(f"SELECT * FROM {name}").all()))
                for name, sql in conn.exec_driver_sql(
                    "SELECT name, sql FROM sqlite_master WHERE name IN ('person_schools', 'person_agents')")}

    with engine.begin() as conn:
        config.attributes["connection"] = conn
        before = shape(conn)
        command.upgrade(config, "head")
        after = shape(conn)
        indexes = {row[1] for table in ("person_schools", "person_agents")
                   for row in conn.exec_driver_sql(f"PRAGMA index_list({table})")}
    assert {name: rows for name, (_, rows) in after.items()} == {name: rows for name, (_, rows) in before.items()}
    assert [without for without, _ in before.values()] == [False, False]
    assert [without for without, _ in after.values()] == [True, True]
    assert {"ix_person_schools_org_sourced_id", "ix_person_agents_agent_sourced_id"} <= indexes
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0010")
        assert [without for without, _ in shape(conn).values()] == [False, False]
    engine.dispose()


def test_the_newest_migration_file_is_alembics_head():
    from schoolpass.storage.revision import newest_revision

    assert newest_revision() == head_revision()


def test_commands_refuse_a_database_of_another_schema(db, capsys, tmp_path):
    """Older: run init. Newer: upgrade schoolpass. None: init first. The same schema: the command runs."""
    from schoolpass.storage.revision import newest_revision

    def summary():
        return run(capsys, "--db", db.url, "roster", "summary", "--on", "2021-11-22")

    head = newest_revision()
    assert summary().code == 0
    try:
        for found, says in (("0010", f"at revision 0010 and this schoolpass needs {head}: run `schoolpass init`"),
                            ("9999", f"at revision 9999, newer than this schoolpass knows ({head})")):
            with db.engine.begin() as conn:
                conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{found}'")
            refused = summary()
            assert refused.code == 1 and says in refused.err, refused.err
    finally:
        with db.engine.begin() as conn:
            conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{head}'")
    assert summary().code == 0
    fresh = run(capsys, "--db", f"sqlite:///{tmp_path / 'never-initialized.db'}", "roster", "summary")
    assert fresh.code == 1 and "no schoolpass schema yet: run `schoolpass init` first" in fresh.err
