"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

# How SQLAlchemy writes DATETIME values on SQLite; bulk loaders write the same text.
SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


class UtcDateTime(TypeDecorator):
    """An instant, stored in UTC, always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UtcDateTime needs a timezone-aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def bulk_instant(value: datetime | None, dialect_name: str):
    """An instant as a bulk loader must write it for this database (see UtcDateTime)."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.replace(tzinfo=None).strftime(SQLITE_FORMAT) if dialect_name == "sqlite" else value
