"""A district's first roster import: the export's records written straight into the empty history.

With nothing recorded yet, applying a bulk snapshot (roster.timeline) adds every active record
from the as-of date on and nothing else: there is nothing to compare with, supersede or end. So
the first import skips staging: the readers' rows go straight into the version tables, whose
secondary indexes are built once after loading, and the checks across files (a sourcedId twice,
a reference to an org or user not in the export) run on those tables. They only say whether
the export is clean; when it is not, the caller rolls this back and imports through staging,
which names every problem's line. The history written is the one staging would write.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, text

from schoolpass.roster.records import BIRTH_DATE_COLUMNS, ORG_COLUMNS, PERSON_COLUMNS
from schoolpass.roster.staging import STAGE_COLUMNS, create_stage_tables
from schoolpass.roster.timeline import Changes, indexes_built_after_load
from schoolpass.storage.bulk import insert_rows

# Staged table -> (version table, entity, its columns after the staged key: line, sourced_id, deleted, hash).
VERSIONS = {
    "stage_orgs": ("org_versions", "orgs", ORG_COLUMNS),
    "stage_users": ("person_versions", "users", PERSON_COLUMNS),
    "stage_birth_dates": ("birth_date_versions", "demographics", BIRTH_DATE_COLUMNS),
}
# Staged links -> (link table, column): inserted in key order once all are read.
LINKS = {
    "stage_user_schools": ("person_schools", "org_sourced_id"),
    "stage_user_agents": ("person_agents", "agent_sourced_id"),
}


class NeedsStaging(Exception):
    """The export is not clean across its files: import it through staging, which names each problem."""


def applies(modes: dict[str, str]) -> bool:
    """Whether a first import (no roster import recorded yet) can go straight into the history: every
    file a bulk snapshot (or absent)."""
    return all(mode in ("bulk", "absent") for mode in modes.values())


class DirectLoad:
    """Takes the readers' rows as staging would (`load(stage table, rows)`) and writes the history.

    Use inside `loading()`, then `finish()` for the changes per file (raises NeedsStaging).
    """

    def __init__(self, conn: Connection, as_of: date, import_id: int):
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"
        self.as_of = as_of
        self.import_id = import_id
        self.changes: dict[str, Changes] = {}
        self._statements: dict[str, str] = {}

    def create(self) -> None:
        """Temporary tables for the links (inserted in key order at the end) and for the ended records
        an export may list (checked for a sourcedId twice, never written)."""
        create_stage_tables(self.conn, LINKS)
        self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {'' if self.postgres else 'temp.'}first_ended")
        self.conn.exec_driver_sql("CREATE TEMP TABLE first_ended (entity TEXT, sourced_id TEXT)"
                                  + (" ON COMMIT DROP" if self.postgres else ""))

    def loading(self):
        """While the rows are loaded: the version tables without their secondary indexes."""
        return indexes_built_after_load(self.conn, tuple(versions for versions, _, _ in VERSIONS.values()))

    def load(self, table: str, rows) -> int:
        if table in LINKS:
            return insert_rows(self.conn, table, STAGE_COLUMNS[table], rows)
        versions, entity, columns = VERSIONS[table]
        rows = rows if isinstance(rows, list) else list(rows)
        ended = [(entity, row[1]) for row in rows if row[2]]
        if ended:
            insert_rows(self.conn, "first_ended", ("entity", "sourced_id"), ended)
        changes = self.changes.setdefault(entity, Changes())
        changes.added += len(rows) - len(ended)
        changes.unchanged += len(ended)  # as staging counts a record ended before it was ever known
        self._write(versions, columns, rows)
        return len(rows)

    def _write(self, versions: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        """Active rows as versions from the as-of date on, recorded by this import."""
        if self.postgres:
            insert_rows(self.conn, versions, ("sourced_id", "valid_from", "rec_from", "payload_hash", *columns),
                        ((row[1], self.as_of, self.import_id, *row[3:]) for row in rows if not row[2]))
            return
        sql = self._statements.get(versions)
        if sql is None:
            # The staged row binds as it is (?1 line ... ?4 hash, then the columns); ended rows are skipped.
            values = ", ".join(f"?{n}" for n in range(5, 5 + len(columns)))
            sql = self._statements[versions] = (
                f"INSERT INTO {versions} (sourced_id, valid_from, rec_from, payload_hash, {', '.join(columns)}) "
                f"SELECT ?2, '{self.as_of.isoformat()}', {int(self.import_id)}, ?4, {values} WHERE ?3 = 0")
        cursor = self.conn.connection.driver_connection.cursor()
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()

    def link(self) -> None:
        """The staged links of active users, in key order (appended, not scattered), each once; the link
        tables' secondary indexes built after."""
        with indexes_built_after_load(self.conn, tuple(table for table, _ in LINKS.values())):
            for stage, (table, column) in LINKS.items():
                self.conn.exec_driver_sql(
                    f"INSERT INTO {table} (person_sourced_id, payload_hash, {column}) "
                    f"SELECT sourced_id, payload_hash, {column} FROM {stage} ORDER BY 1, 2, 3 ON CONFLICT DO NOTHING")

    def finish(self) -> dict[str, Changes]:
        """After loading (indexes built): the changes per file; NeedsStaging when a check across files fails."""
        if self._problem():
            raise NeedsStaging
        for table in (*LINKS, "first_ended"):
            self.conn.exec_driver_sql(f"DROP TABLE {'' if self.postgres else 'temp.'}{table}")
        return self.changes

    def _problem(self) -> bool:
        checks = [
            # A sourcedId twice in a file: among its active rows, its ended rows, or both.
            *(f"SELECT 1 FROM {versions} GROUP BY sourced_id HAVING count(*) > 1"
              for versions, _, _ in VERSIONS.values()),
            "SELECT 1 FROM first_ended GROUP BY entity, sourced_id HAVING count(*) > 1",
            *(f"SELECT 1 FROM first_ended e JOIN {versions} v ON v.sourced_id = e.sourced_id "
              f"WHERE e.entity = '{entity}'" for versions, entity, _ in VERSIONS.values()),
            # References to what the export does not hold as active.
            "SELECT 1 FROM org_versions o WHERE o.parent_sourced_id IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM org_versions p WHERE p.sourced_id = o.parent_sourced_id)",
            "SELECT 1 FROM stage_user_schools s WHERE NOT EXISTS "
            "(SELECT 1 FROM org_versions o WHERE o.sourced_id = s.org_sourced_id)",
            "SELECT 1 FROM stage_user_agents a WHERE NOT EXISTS "
            "(SELECT 1 FROM person_versions p WHERE p.sourced_id = a.agent_sourced_id)",
            "SELECT 1 FROM birth_date_versions b WHERE NOT EXISTS "
            "(SELECT 1 FROM person_versions p WHERE p.sourced_id = b.sourced_id)",
        ]
        return any(self.conn.execute(text(f"SELECT EXISTS ({check})")).scalar() for check in checks)
