"""Whether a database's schema is the one this schoolpass was built for, checked as a command starts.

Every command but `init` refuses a database whose schema is older (run `schoolpass init`), newer
(upgrade schoolpass) or missing, with a message that says which, instead of failing later on a
missing table or index. The newest revision is read from the migrations' file names (NNNN_what.py):
checking costs one query, without loading Alembic (a test holds the names and Alembic's head equal).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from schoolpass.errors import SchoolpassError

VERSIONS = Path(__file__).parent / "migrations" / "versions"


def newest_revision() -> str:
    """The revision of the newest migration shipped with this schoolpass."""
    return max(path.name.split("_", 1)[0] for path in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))


def database_revision(engine: Engine) -> str | None:
    """The revision the database's schema is at; None when it has none (never initialized)."""
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    except DBAPIError:  # no alembic_version table
        return None


def require_current(engine: Engine) -> None:
    """Refuse a database whose schema is not this schoolpass's, saying what to do."""
    newest, found = newest_revision(), database_revision(engine)
    if found == newest:
        return
    if found is None:
        raise SchoolpassError("the database has no schoolpass schema yet: run `schoolpass init` first")
    if found < newest:
        raise SchoolpassError(f"the database's schema is at revision {found} and this schoolpass needs {newest}: "
                              "run `schoolpass init` to upgrade it")
    raise SchoolpassError(f"the database's schema is at revision {found}, newer than this schoolpass knows "
                          f"({newest}): upgrade schoolpass")
