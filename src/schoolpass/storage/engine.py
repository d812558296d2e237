"""Engines: SQLite (foreign keys on, WAL) by default, PostgreSQL through psycopg 3."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def normalize_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use the psycopg 3 driver for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - exercised by every test
            # Let SQLAlchemy, not the driver, decide when transactions begin.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # A district roster is hundreds of MB: random lookups need more than the 2 MB default cache.
            cursor.execute("PRAGMA cache_size=-131072")
            # Staging tables, temporary tables and materialized subqueries live in the temp database, whose
            # own cache is a few hundred KB: at district size every probe into them would be a file read.
            cursor.execute("PRAGMA temp.cache_size=-131072")
            # This SQLite overwrites deleted content with zeros (SECURE_DELETE). The temp database is a file
            # unlinked as it is opened, gone with the connection: zeroing its pages as a roster import drops
            # its staging tables (1.7 s at district size) protects nothing. The database itself keeps it.
            cursor.execute("PRAGMA temp.secure_delete=OFF")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover - exercised by every test
            conn.exec_driver_sql("BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True)
