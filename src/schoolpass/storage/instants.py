"""Instants as bulk loaders write them: the same text SQLAlchemy writes on SQLite (see types.UtcDateTime).

No SQLAlchemy here: lab-file readers import this in worker processes, which must start quickly.
"""

from __future__ import annotations

from datetime import UTC, datetime

# How SQLAlchemy writes DATETIME values on SQLite; bulk loaders write the same text.
SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def bulk_instant(value: datetime | None, dialect_name: str):
    """An instant as a bulk loader must write it for this database (see UtcDateTime)."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.replace(tzinfo=None).strftime(SQLITE_FORMAT) if dialect_name == "sqlite" else value
