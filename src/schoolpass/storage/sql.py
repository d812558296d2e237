"""SQL text with typed parameters, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from sqlalchemy import TextClause, bindparam, text


def typed(statement: str, **types) -> TextClause:
    """`statement` with its named parameters typed (dates need it on both databases).

    Types for names the statement does not use are ignored, so callers can pass one set.
    """
    clause = text(statement)
    bound = [bindparam(name, type_=type_) for name, type_ in types.items() if f":{name}" in statement]
    return clause.bindparams(*bound) if bound else clause


def for_drivers(statement: str) -> dict[str, str]:
    """SQL with `:name` parameters as each driver takes it, by dialect name: sqlite3 as written,
    psycopg as `%(name)s`. For statements run straight on the driver's cursor (hot paths)."""
    return {"sqlite": statement, "postgresql": re.sub(r"(?<!:):(\w+)", r"%(\1)s", statement)}
