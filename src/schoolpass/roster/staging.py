"""Temporary staging tables: an export is loaded here, checked as a whole, then applied.

Everything happens in the import's one transaction, so a refused export leaves no trace.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, Date

from schoolpass.errors import Problem
from schoolpass.roster.records import BIRTH_DATE_COLUMNS, ORG_COLUMNS, PERSON_COLUMNS
from schoolpass.storage.bulk import index_building, insert_rows
from schoolpass.storage.sql import typed

STAGE_KEY = ("line", "sourced_id", "deleted", "payload_hash")
STAGE_COLUMNS = {
    "stage_orgs": STAGE_KEY + ORG_COLUMNS,
    "stage_users": STAGE_KEY + PERSON_COLUMNS,
    "stage_birth_dates": STAGE_KEY + BIRTH_DATE_COLUMNS,
    # A user's links, with the hash of the record that holds them.
    "stage_user_schools": ("line", "sourced_id", "payload_hash", "org_sourced_id"),
    "stage_user_agents": ("line", "sourced_id", "payload_hash", "agent_sourced_id"),
}
_DATE_COLUMNS = {"birth_date", "active_from", "active_until"}
_INTEGER_COLUMNS = {"line", "deleted"}
WORK_TABLES = {
    "known_orgs": "sourced_id {text} PRIMARY KEY",
    "known_users": "sourced_id {text} PRIMARY KEY",
    "affected": "sourced_id {text} PRIMARY KEY, present INTEGER NOT NULL, payload_hash {text}, g {date}",
    "overlap": "id INTEGER PRIMARY KEY",
}
KEYED_WORK_TABLES = {"known_orgs", "known_users", "affected"}  # keyed by sourced_id


def _in_force(alias: str) -> str:
    """The version of a record in force on :d, as the roster is known now."""
    return (
        f"{alias}.rec_to IS NULL AND {alias}.valid_from <= :d "
        f"AND ({alias}.valid_to IS NULL OR {alias}.valid_to > :d)"
    )


def create_stage_tables(conn: Connection, tables) -> None:
    """These staging tables (of STAGE_COLUMNS), new and empty, for the transaction (PostgreSQL) or the
    connection (SQLite, dropped after use)."""
    postgres = conn.dialect.name == "postgresql"
    date_type = "DATE" if postgres else "TEXT"
    for table in tables:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {'' if postgres else 'temp.'}{table}")
        spec = ", ".join(
            f"{c} {'INTEGER' if c in _INTEGER_COLUMNS else date_type if c in _DATE_COLUMNS else 'TEXT'}"
            for c in STAGE_COLUMNS[table]
        )
        conn.exec_driver_sql(f"CREATE TEMP TABLE {table} ({spec}){' ON COMMIT DROP' if postgres else ''}")


class Staging:
    def __init__(self, conn: Connection):
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"

    def _types(self) -> dict[str, str]:
        return {"text": "TEXT", "date": "DATE" if self.postgres else "TEXT"}

    def create(self) -> None:
        types = self._types()
        suffix = " ON COMMIT DROP" if self.postgres else ""
        create_stage_tables(self.conn, STAGE_COLUMNS)
        for table in WORK_TABLES:
            self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {'' if self.postgres else 'temp.'}{table}")
        # On SQLite, tables keyed by sourced_id are their key's B-tree (no second copy in an index; a probe
        # finds the row itself): what the import probes a million times.
        keyed = "" if self.postgres else " WITHOUT ROWID"
        for table, spec in WORK_TABLES.items():
            shape = keyed if table in KEYED_WORK_TABLES else ""
            self.conn.exec_driver_sql(f"CREATE TEMP TABLE {table} ({spec.format(**types)}){shape}{suffix}")

    def load(self, table: str, rows) -> int:
        return insert_rows(self.conn, table, STAGE_COLUMNS[table], rows)

    def index(self) -> None:
        with index_building(self.conn):
            for table in STAGE_COLUMNS:
                self.conn.exec_driver_sql(f"CREATE INDEX ix_{table}_sid ON {table} (sourced_id)")
        if self.postgres:
            for table in STAGE_COLUMNS:
                self.conn.exec_driver_sql(f"ANALYZE {table}")

    def drop(self) -> None:
        if not self.postgres:
            for table in [*STAGE_COLUMNS, *WORK_TABLES]:
                self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{table}")

    def _rows(self, sql: str, **params):
        return self.conn.execute(typed(sql, d=Date), params).all()

    def _execute(self, sql: str, **params) -> int:
        return self.conn.execute(typed(sql, d=Date, nb=Date), params).rowcount

    # ---- checks across files -------------------------------------------------------------

    def fill_known(self, as_of: date, modes: dict[str, str]) -> None:
        """The orgs and users that exist on `as_of` once this export is applied."""
        for known, stage, versions, entity in (
            ("known_orgs", "stage_orgs", "org_versions", "orgs"),
            ("known_users", "stage_users", "person_versions", "users"),
        ):
            mode = modes.get(entity, "absent")
            parts = []
            if mode != "absent":
                parts.append(f"SELECT DISTINCT sourced_id FROM {stage} WHERE deleted = 0")
            if mode != "bulk":
                parts.append(
                    f"SELECT v.sourced_id FROM {versions} v WHERE {_in_force('v')} "
                    f"AND NOT EXISTS (SELECT 1 FROM {stage} s WHERE s.sourced_id = v.sourced_id)"
                )
            self._execute(f"INSERT INTO {known} (sourced_id) {' UNION '.join(parts)}", d=as_of)

    def reference_problems(self, labels: dict[str, str]) -> list[Problem]:
        """Duplicate sourcedIds and references to orgs or users that do not exist."""
        problems: list[Problem] = []
        for stage, label in (("stage_orgs", labels["orgs"]), ("stage_users", labels["users"]),
                             ("stage_birth_dates", labels["demographics"])):
            for line, sid, first in self._rows(
                f"SELECT s.line, s.sourced_id, f.first FROM {stage} s JOIN "
                f"(SELECT sourced_id, min(line) AS first FROM {stage} GROUP BY sourced_id HAVING count(*) > 1) f "
                f"ON f.sourced_id = s.sourced_id WHERE s.line > f.first"
            ):
                problems.append(Problem(label, line, f"sourcedId {sid} appears again (first on line {first})"))
        for line, org in self._rows(
            "SELECT s.line, s.parent_sourced_id FROM stage_orgs s WHERE s.deleted = 0 "
            "AND s.parent_sourced_id IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM known_orgs k WHERE k.sourced_id = s.parent_sourced_id)"
        ):
            problems.append(Problem(labels["orgs"], line, f"parentSourcedId names org {org}, which is not in the roster"))
        for line, org in self._rows(
            "SELECT ss.line, ss.org_sourced_id FROM stage_user_schools ss "
            "WHERE NOT EXISTS (SELECT 1 FROM known_orgs k WHERE k.sourced_id = ss.org_sourced_id)"
        ):
            problems.append(Problem(labels["schools"], line, f"{labels['schools_column']} names org {org}, "
                                                             "which is not in the roster"))
        for line, agent in self._rows(
            "SELECT sa.line, sa.agent_sourced_id FROM stage_user_agents sa "
            "WHERE NOT EXISTS (SELECT 1 FROM known_users k WHERE k.sourced_id = sa.agent_sourced_id)"
        ):
            problems.append(Problem(labels["users"], line, f"agentSourcedIds names user {agent}, "
                                                           "which is not in the roster"))
        for line, sid in self._rows(
            "SELECT b.line, b.sourced_id FROM stage_birth_dates b WHERE b.deleted = 0 "
            "AND NOT EXISTS (SELECT 1 FROM known_users k WHERE k.sourced_id = b.sourced_id)"
        ):
            problems.append(Problem(labels["demographics"], line, f"sourcedId {sid} is not a user in the roster"))
        return problems
