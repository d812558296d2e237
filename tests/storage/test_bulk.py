"""Bulk loading and index building: the same rows and indexes on both databases, settings restored."""

from __future__ import annotations

import pytest

from schoolpass.storage.bulk import SORT_RUN_KB, index_building, insert_rows


def _settings(conn) -> dict:
    return {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("threads", "main.cache_size", "temp.cache_size")}


def test_index_building_sorts_small_runs_on_every_core_then_restores(db):
    with db.engine.connect() as conn:
        with conn.begin():
            conn.exec_driver_sql("CREATE TEMP TABLE bulk_rows (a TEXT, b INTEGER)")
            assert insert_rows(conn, "bulk_rows", ("a", "b"), ((f"k{i % 97}", i) for i in range(5000))) == 5000
            before = _settings(conn) if db.backend == "sqlite" else None
            with index_building(conn):
                if db.backend == "sqlite":
                    during = _settings(conn)
                    assert during["threads"] >= 1
                    assert during["main.cache_size"] == during["temp.cache_size"] == -SORT_RUN_KB
                conn.exec_driver_sql("CREATE INDEX ix_bulk_rows_a ON bulk_rows (a, b)")
            if db.backend == "sqlite":
                assert _settings(conn) == before
            assert conn.exec_driver_sql("SELECT count(*), count(DISTINCT a) FROM bulk_rows WHERE a >= 'k5'").one() \
                == (sum(1 for i in range(5000) if f"k{i % 97}" >= "k5"), sum(1 for i in range(97) if f"k{i}" >= "k5"))
            conn.exec_driver_sql("DROP TABLE bulk_rows")


def test_index_building_restores_settings_when_the_build_fails(db):
    if db.backend != "sqlite":
        return
    with db.engine.connect() as conn:
        before = _settings(conn)
        try:
            with index_building(conn):
                conn.exec_driver_sql("CREATE INDEX ix_nowhere ON no_such_table (a)")
        except Exception:  # noqa: BLE001 - the failure itself is not what is tested
            pass
        assert _settings(conn) == before


def test_mapped_reads_maps_the_database_then_restores(db):
    from schoolpass.storage.bulk import MAPPED_BYTES, mapped_reads

    with db.engine.connect() as conn:
        if db.backend != "sqlite":
            with mapped_reads(conn):  # nothing to change on PostgreSQL
                assert conn.exec_driver_sql("SELECT 1").scalar() == 1
            return
        before = conn.exec_driver_sql("PRAGMA mmap_size").scalar()
        with mapped_reads(conn):
            during = conn.exec_driver_sql("PRAGMA mmap_size").scalar()
        assert during > before and during <= MAPPED_BYTES
        assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == before


def test_statements_for_drivers_take_each_drivers_parameters(db):
    from schoolpass.storage.sql import for_drivers

    statement = for_drivers("SELECT CAST(:n AS INTEGER) + 1, :word || '!'")[db.engine.dialect.name]
    with db.engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()
        try:
            cursor.execute(statement, {"n": 41, "word": "sent"})
            assert tuple(cursor.fetchone()) == (42, "sent!")
        finally:
            cursor.close()


def _journal(conn) -> tuple:
    raw = conn.connection.driver_connection
    return tuple(raw.execute(f"PRAGMA {name}").fetchone()[0] for name in ("journal_mode", "synchronous", "busy_timeout"))


def test_rollback_journal_for_one_large_transaction_then_wal_again(db):
    from schoolpass.storage.bulk import rollback_journal

    with db.engine.connect() as conn:
        if db.backend != "sqlite":
            with rollback_journal(conn) as switched, conn.begin():
                assert switched is False
                assert conn.exec_driver_sql("SELECT 1").scalar() == 1
            return
        before = _journal(conn)
        assert before[0] == "wal"
        with rollback_journal(conn) as switched:
            assert switched is True
            with conn.begin():
                assert _journal(conn) == ("delete", 2, before[2])  # synced in full while it lasts
                conn.exec_driver_sql("CREATE TABLE loaded (n INTEGER)")
                insert_rows(conn, "loaded", ("n",), ((n,) for n in range(3000)))
        assert _journal(conn) == before
        # Failed inside its transaction: rolled back, and WAL again all the same.
        try:
            with rollback_journal(conn) as switched, conn.begin():
                assert switched is True
                conn.exec_driver_sql("DELETE FROM loaded")
                raise ValueError("stop")
        except ValueError:
            pass
        assert _journal(conn) == before
        assert conn.exec_driver_sql("SELECT count(*) FROM loaded").scalar() == 3000
        conn.rollback()


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_rollback_journal_only_when_no_other_connection_has_the_database_open(db):
    import sqlite3

    from schoolpass.storage.bulk import rollback_journal

    path = db.url.removeprefix("sqlite:///")
    reader = sqlite3.connect(path)
    try:
        reader.execute("SELECT count(*) FROM roster_imports").fetchone()  # open, and the WAL in use
        with db.engine.connect() as conn:
            before = _journal(conn)
            with rollback_journal(conn) as switched, conn.begin():
                assert switched is False  # asked without waiting for the other connection
                assert _journal(conn) == before
            assert _journal(conn) == before
    finally:
        reader.close()


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_rollback_journal_refuses_a_connection_in_a_transaction(db):
    from schoolpass.storage.bulk import rollback_journal

    with db.engine.connect() as conn, conn.begin():
        conn.exec_driver_sql("SELECT 1")
        with pytest.raises(RuntimeError, match="in a transaction"):
            with rollback_journal(conn):
                pass
