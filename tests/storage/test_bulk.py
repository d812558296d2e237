"""Bulk loading and index building: the same rows and indexes on both databases, settings restored."""

from __future__ import annotations

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
