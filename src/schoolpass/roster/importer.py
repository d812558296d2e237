"""`schoolpass roster import`: a OneRoster export, all or nothing, into the roster's history."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine, insert, select

from schoolpass.errors import InputRejected
from schoolpass import background
from schoolpass.roster.export import FILES, open_export
from schoolpass.roster.models import RosterImport, RosterImportFile
from schoolpass.roster.records import (
    BIRTH_DATE_COLUMNS, ORG_COLUMNS, PERSON_COLUMNS, Findings, birth_date_batches, read_orgs, user_batches,
)
from schoolpass.roster.staging import Staging
from schoolpass.roster import first_import
from schoolpass.roster.timeline import Changes, Entity, apply_file
from schoolpass.storage.bulk import rollback_journal

ORGS = Entity("orgs", "org_versions", "stage_orgs", ORG_COLUMNS)
USERS = Entity(
    "users", "person_versions", "stage_users", PERSON_COLUMNS,
    children=(("person_schools", "stage_user_schools", "org_sourced_id"),
              ("person_agents", "stage_user_agents", "agent_sourced_id")),
)
BIRTH_DATES = Entity("demographics", "birth_date_versions", "stage_birth_dates", BIRTH_DATE_COLUMNS)
ENTITIES = (ORGS, USERS, BIRTH_DATES)

# A worker process starts in ~0.1 s (it imports only the readers); from this size on, a file's reading is
# worth moving off this process, which meanwhile loads what the workers read.
WORKER_BYTES = 8 * 1024 * 1024

# progress(file label, rows read since the last call)
Progress = Callable[[str, int], None]


@dataclass
class ImportSummary:
    as_of: date
    import_id: int | None
    already_imported: bool
    version: str
    modes: dict[str, str]
    changes: dict[str, Changes] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "import_id": self.import_id,
            "as_of": self.as_of.isoformat(),
            "already_imported": self.already_imported,
            "oneroster_version": self.version,
            "files": self.modes,
            "changes": {name: c.as_dict() for name, c in self.changes.items()},
            "warnings": self.warnings,
        }


def import_roster(engine: Engine, path: Path, as_of: date, progress: Progress | None = None) -> ImportSummary:
    export = open_export(Path(path))
    try:
        fingerprint = export.sha256()
        modes = {e: m for e, m in export.modes.items() if e != "roles"}
        try:
            return _import(engine, export, fingerprint, modes, as_of, progress, direct=True)
        except first_import.NeedsStaging:
            # A first import that is not clean across its files (rolled back): staging names each problem.
            return _import(engine, export, fingerprint, modes, as_of, progress, direct=False)
    finally:
        export.close()


def _import(engine: Engine, export, fingerprint: str, modes: dict[str, str], as_of: date,
            progress: Progress | None, direct: bool) -> ImportSummary:
    """The import in one transaction: a first import straight into the history when `direct` allows,
    any other through staging and roster.timeline."""
    with engine.connect() as conn:
        # A first import writes the whole roster in one transaction: on SQLite, through the rollback
        # journal when nobody else has the database open (storage.bulk.rollback_journal).
        journal = rollback_journal(conn) if direct and _nothing_imported(conn, modes) else nullcontext()
        with journal, conn.begin():
            return _import_in(conn, export, fingerprint, modes, as_of, progress, direct)


def _nothing_imported(conn, modes: dict[str, str]) -> bool:
    """Whether this will be a first import (asked before its transaction, which asks again)."""
    if not first_import.applies(modes):
        return False
    found = conn.execute(select(RosterImport.id).limit(1)).first()
    conn.rollback()
    return found is None


def _import_in(conn, export, fingerprint: str, modes: dict[str, str], as_of: date, progress: Progress | None,
               direct: bool) -> ImportSummary:
    """The import's work, inside its transaction."""
    # The same export for the same day, with nothing recorded since: nothing to do. (After a
    # later import, the same snapshot re-asserts itself and goes through the normal path.)
    latest = conn.execute(
        select(RosterImport.id, RosterImport.source_sha256, RosterImport.as_of)
        .order_by(RosterImport.id.desc()).limit(1)
    ).first()
    if latest is not None and (latest.source_sha256, latest.as_of) == (fingerprint, as_of):
        return ImportSummary(as_of, latest.id, True, export.version, modes)

    findings = Findings()
    if direct and latest is None and first_import.applies(modes):
        import_id = _record(conn, export, fingerprint, as_of)
        history = first_import.DirectLoad(conn, as_of, import_id)
        history.create()
        with history.loading():
            _read_files(history, export, modes, findings, progress)
        history.link()
        found = history.finish()
        changes = {e.name: found.get(e.name, Changes()) for e in ENTITIES if modes[e.name] != "absent"}
    else:
        staging = Staging(conn)
        staging.create()
        _read_files(staging, export, modes, findings, progress)
        staging.index()
        staging.fill_known(as_of, modes)
        problems = staging.reference_problems(_labels(export))
        if problems:
            raise InputRejected(problems)
        import_id = _record(conn, export, fingerprint, as_of)
        changes = {e.name: apply_file(conn, e, modes[e.name], as_of, import_id)
                   for e in ENTITIES if modes[e.name] != "absent"}
        staging.drop()

    summary = ImportSummary(as_of, import_id, False, export.version, modes, changes=changes,
                            warnings=[str(w) for w in findings.warnings])
    for entity, mode in modes.items():
        if mode != "absent":
            conn.execute(insert(RosterImportFile).values(import_id=import_id, entity=entity, mode=mode))
    conn.execute(
        RosterImport.__table__.update()
        .where(RosterImport.id == import_id)
        .values(summary=json.dumps(summary.as_dict(), sort_keys=True))
    )
    if conn.dialect.name == "postgresql":
        # Fresh statistics, or the planner takes a bulk-loaded table for empty.
        for entity in ENTITIES:
            conn.exec_driver_sql(f"ANALYZE {entity.versions}")
        conn.exec_driver_sql("ANALYZE person_agents")
        conn.exec_driver_sql("ANALYZE person_schools")
    return summary


def _record(conn, export, fingerprint: str, as_of: date) -> int:
    """This import's row (its summary is written once the files are applied); returns its id."""
    return conn.execute(
        insert(RosterImport).values(
            as_of=as_of, recorded_at=datetime.now(UTC), source_name=export.path.name[:255],
            source_sha256=fingerprint, oneroster_version=export.version, summary="{}",
        ).returning(RosterImport.id)
    ).scalar_one()


def _read_files(target, export, modes: dict[str, str], findings: Findings, progress: Progress | None) -> None:
    """Every file's rows into `target` (staging, or a first import's history): demographics.csv and
    users.csv are read by worker processes when large, while this process loads what they read (and
    orgs.csv, a few hundred rows). Problems in any row refuse the export."""
    births = _reader(export, modes, "demographics", birth_date_batches)
    users = _reader(export, modes, "users", user_batches)
    try:
        if modes["orgs"] != "absent":
            target.load("stage_orgs", _counted(read_orgs(export, findings), export, "orgs", progress))
        _stage_read(target, births, users, export, progress)
        for reader in (births, users):  # problems in the order of the files: orgs, demographics, users
            if reader is not None:
                findings.problems.extend(reader.result.problems)
                findings.warnings.extend(reader.result.warnings)
    finally:
        for reader in (births, users):
            if reader is not None:
                reader.close()
    if findings.problems:
        raise InputRejected(findings.problems)


def _counted(rows, export, entity: str, progress: Progress | None, every: int = 10000):
    """Pass rows through, telling `progress` how many went by every `every` rows."""
    if progress is None:
        yield from rows
        return
    label = export.file_label(FILES[entity])
    count = 0
    for row in rows:
        yield row
        count += 1
        if count == every:
            progress(label, count)
            count = 0
    progress(label, count)


def _reader(export, modes: dict[str, str], entity: str, producer) -> background.Batches | None:
    """The batches of one file, read in a worker process from WORKER_BYTES on, else here; None when absent."""
    if modes[entity] == "absent":
        return None
    large = export.size(FILES[entity]) >= WORKER_BYTES and (os.cpu_count() or 1) > 1
    return background.Batches(producer, export.path, in_background=large).start()


def _stage_read(target, births, users, export, progress: Progress | None) -> None:
    """Load the two readers' batches into `target`, taking from each in turn (both workers keep reading)."""
    streams = [(entity, iter(reader)) for entity, reader in (("demographics", births), ("users", users))
               if reader is not None]
    while streams:
        for stream in list(streams):
            entity, batches = stream
            batch = next(batches, None)
            if batch is None:
                streams.remove(stream)
                continue
            if entity == "demographics":
                target.load("stage_birth_dates", batch)
                count = len(batch)
            else:
                people, schools, agents = batch
                target.load("stage_users", people)
                target.load("stage_user_schools", schools)
                target.load("stage_user_agents", agents)
                count = len(people)
            if progress:
                progress(export.file_label(FILES[entity]), count)


def _labels(export) -> dict[str, str]:
    version_12 = export.version == "1.2"
    return {
        "orgs": export.file_label(FILES["orgs"]),
        "users": export.file_label(FILES["users"]),
        "demographics": export.file_label(FILES["demographics"]),
        "schools": export.file_label(FILES["roles"] if version_12 else FILES["users"]),
        "schools_column": "orgSourcedId" if version_12 else "orgSourcedIds",
    }
