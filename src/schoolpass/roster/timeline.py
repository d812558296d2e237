"""Applying one file of an export to the bitemporal history of its records, in set-based SQL.

An export dated D asserts, for every record it names (and, for a bulk file, every
record it leaves out: absent), what holds from D on. The assertion governs until
the next later assertion about that record already recorded: the as-of date of the
next later bulk snapshot of the same file, or a later delta that named the record.
Call that end G (none = for ever). Applying the assertion:

- records whose history already says exactly that over [D, G) are untouched;
- every other version overlapping [D, G) is superseded (rec_to = this import) and
  replaced by its parts outside [D, G), plus the new version over [D, G) when the
  record is present.

So a later snapshot that drops a link ends it at its as-of date, also when that
date is earlier than earlier imports (a correction), and what was known before
stays queryable through rec_from/rec_to.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, Date, func, select, text

from schoolpass.roster.models import RosterImport, RosterImportFile
from schoolpass.storage.bulk import index_building
from schoolpass.storage.models import metadata
from schoolpass.storage.sql import typed


@dataclass(frozen=True)
class Entity:
    name: str  # as in the manifest: orgs | users | demographics
    versions: str
    stage: str
    columns: tuple[str, ...]
    children: tuple[tuple[str, str, str], ...] = ()  # (table, stage table, column)


@dataclass
class Changes:
    added: int = 0
    changed: int = 0
    ended: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"added": self.added, "changed": self.changed, "ended": self.ended, "unchanged": self.unchanged}


def _run(conn: Connection, sql: str, **params) -> int:
    return conn.execute(typed(sql, d=Date, nb=Date), params).rowcount


def _scalar(conn: Connection, sql: str, **params):
    return conn.execute(typed(sql, d=Date), params).scalar()


def next_bulk_as_of(conn: Connection, entity: str, as_of: date, import_id: int) -> date | None:
    """The as-of date of the next later bulk snapshot of this file already recorded."""
    return conn.execute(
        select(func.min(RosterImport.as_of))
        .join(RosterImportFile, RosterImportFile.import_id == RosterImport.id)
        .where(
            RosterImportFile.entity == entity,
            RosterImportFile.mode == "bulk",
            RosterImport.as_of > as_of,
            RosterImport.id != import_id,
        )
    ).scalar()


@contextmanager
def indexes_built_after_load(conn: Connection, tables: tuple[str, ...]) -> Iterator[None]:
    """Into empty tables (a district's first import: millions of rows), insert first and build the secondary
    indexes after, one sorted pass each, rather than maintain them row by row. The same indexes, from the
    same metadata the migrations are checked against, inside the import's transaction."""
    empty = [t for t in tables if conn.execute(text(f"SELECT 1 FROM {t} LIMIT 1")).first() is None]
    indexes = [index for t in empty for index in metadata.tables[t].indexes]
    for index in indexes:
        index.drop(conn)
    yield
    with index_building(conn):
        for index in indexes:
            index.create(conn)


def apply_file(conn: Connection, entity: Entity, mode: str, as_of: date, import_id: int) -> Changes:
    v, s = entity.versions, entity.stage
    d, i = as_of, import_id
    nb = next_bulk_as_of(conn, entity.name, as_of, import_id)
    staged = _run(conn, f"INSERT INTO affected (sourced_id, present, payload_hash) "
                        f"SELECT sourced_id, 1 - deleted, payload_hash FROM {s}")
    if mode == "bulk":
        before_nb = " AND v.valid_from < :nb" if nb else ""
        _run(conn, f"INSERT INTO affected (sourced_id, present) SELECT DISTINCT v.sourced_id, 0 FROM {v} v "
                   f"WHERE v.rec_to IS NULL AND (v.valid_to IS NULL OR v.valid_to > :d){before_nb} "
                   f"AND NOT EXISTS (SELECT 1 FROM affected a WHERE a.sourced_id = v.sourced_id)",
             d=d, **({"nb": nb} if nb else {}))

    # G: where this file's assertion stops governing each record.
    if _scalar(conn, "SELECT count(*) FROM roster_delta_assertions WHERE entity = :e AND as_of > :d",
               e=entity.name, d=d):
        _run(conn, "UPDATE affected SET g = (SELECT min(da.as_of) FROM roster_delta_assertions da "
                   "WHERE da.entity = :e AND da.sourced_id = affected.sourced_id AND da.as_of > :d)",
             e=entity.name, d=d)
    if nb:
        _run(conn, "UPDATE affected SET g = :nb WHERE g IS NULL OR g > :nb", nb=nb)

    overlaps = (f"v.sourced_id = affected.sourced_id AND v.rec_to IS NULL "
                f"AND (affected.g IS NULL OR v.valid_from < affected.g) "
                f"AND (v.valid_to IS NULL OR v.valid_to > :d)")
    _run(conn, f"DELETE FROM affected WHERE present = 1 AND EXISTS (SELECT 1 FROM {v} v "
               f"WHERE v.sourced_id = affected.sourced_id AND v.rec_to IS NULL "
               f"AND v.payload_hash = affected.payload_hash AND v.valid_from <= :d "
               f"AND (v.valid_to IS NULL OR (affected.g IS NOT NULL AND v.valid_to >= affected.g)))", d=d)
    _run(conn, f"DELETE FROM affected WHERE present = 0 AND NOT EXISTS (SELECT 1 FROM {v} v WHERE {overlaps})", d=d)

    changes = Changes()
    changes.unchanged = staged - _scalar(
        conn, f"SELECT count(*) FROM affected a WHERE EXISTS (SELECT 1 FROM {s} s WHERE s.sourced_id = a.sourced_id)")
    changes.ended = _scalar(conn, "SELECT count(*) FROM affected WHERE present = 0")
    present = _scalar(conn, "SELECT count(*) FROM affected WHERE present = 1")
    changes.added = _scalar(
        conn, f"SELECT count(*) FROM affected WHERE present = 1 AND NOT EXISTS (SELECT 1 FROM {v} v "
              f"WHERE v.sourced_id = affected.sourced_id AND v.rec_to IS NULL AND v.valid_from <= :d "
              f"AND (v.valid_to IS NULL OR v.valid_to > :d))", d=d)
    changes.changed = present - changes.added

    columns = ", ".join(entity.columns)
    v_columns = ", ".join(f"v.{c}" for c in entity.columns)
    s_columns = ", ".join(f"s.{c}" for c in entity.columns)
    target = f"{v} (sourced_id, valid_from, valid_to, rec_from, rec_to, payload_hash, {columns})"

    _run(conn, f"INSERT INTO overlap (id) SELECT v.id FROM {v} v JOIN affected ON {overlaps}", d=d)
    # The parts of superseded versions outside [D, G) still hold: re-record them.
    _run(conn, f"INSERT INTO {target} SELECT v.sourced_id, v.valid_from, :d, :i, NULL, v.payload_hash, {v_columns} "
               f"FROM {v} v JOIN overlap o ON o.id = v.id WHERE v.valid_from < :d", d=d, i=i)
    _run(conn, f"INSERT INTO {target} SELECT v.sourced_id, a.g, v.valid_to, :i, NULL, v.payload_hash, {v_columns} "
               f"FROM {v} v JOIN overlap o ON o.id = v.id JOIN affected a ON a.sourced_id = v.sourced_id "
               f"WHERE a.g IS NOT NULL AND (v.valid_to IS NULL OR v.valid_to > a.g)", i=i)
    _run(conn, f"UPDATE {v} SET rec_to = :i WHERE id IN (SELECT id FROM overlap)", i=i)
    with indexes_built_after_load(conn, (v, *(table for table, _, _ in entity.children))):
        _run(conn, f"INSERT INTO {target} SELECT s.sourced_id, :d, a.g, :i, NULL, s.payload_hash, {s_columns} "
                   f"FROM {s} s JOIN affected a ON a.sourced_id = s.sourced_id WHERE a.present = 1", d=d, i=i)
        for table, stage, column in entity.children:
            # Children belong to (person, payload): a payload already stored has them already.
            _run(conn, f"INSERT INTO {table} (person_sourced_id, payload_hash, {column}) "
                       f"SELECT c.sourced_id, a.payload_hash, c.{column} FROM {stage} c "
                       f"JOIN affected a ON a.sourced_id = c.sourced_id WHERE a.present = 1 "
                       f"ORDER BY 1, 2, 3 ON CONFLICT DO NOTHING")  # in key order: appended, not scattered
    if mode == "delta":
        _run(conn, f"INSERT INTO roster_delta_assertions (entity, sourced_id, as_of, import_id) "
                   f"SELECT :named, s.sourced_id, :d, :i FROM {s} s WHERE NOT EXISTS (SELECT 1 FROM "
                   f"roster_delta_assertions da WHERE da.entity = :e AND da.sourced_id = s.sourced_id "
                   f"AND da.as_of = :d)", named=entity.name, e=entity.name, d=d, i=i)
    _run(conn, "DELETE FROM affected")
    _run(conn, "DELETE FROM overlap")
    return changes
