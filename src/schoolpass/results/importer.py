"""`schoolpass results import`: a lab file, all or nothing, matched, stored once.

A file is parsed as it streams into staging tables; any bad record refuses the whole
file (nothing written). Then, in one transaction: results are matched to people
(results.matching), new ones stored, corrections replace what they correct, the
same result seen again is counted as a duplicate, and the unmatched queue is tried
again against the roster as now known.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, bindparam, insert, select, text

from schoolpass import background
from schoolpass.errors import InputRejected, Problem, SchoolpassError
from schoolpass.results import matching
from schoolpass.results.codes import PROGRAM_TEST_CODES
from schoolpass.results.formats import detect_format
from schoolpass.results.models import LabResult as StoredResult
from schoolpass.results.models import ResultImport
from schoolpass.results.staging import ID_COLUMNS, STAGE_COLUMNS, staged_batches
from schoolpass.roster.names import fold_name
from schoolpass.storage.bulk import insert_rows
from schoolpass.storage.types import UtcDateTime

Progress = Callable[[int], None]
BATCH = 20000

# Columns a stored result takes from its staged row (on insert, and when a correction replaces it).
RESULT_COLUMNS = (
    "patient_ids", "given_name", "family_name", "birth_date", "result", "result_code", "result_text",
    "collected_at", "collected_on", "resulted_at", "corrected", "source_ref",
)
_NUMBER = re.compile(r"(\d+)")


@dataclass
class ResultsImportSummary:
    format: str
    import_id: int = 0
    results: int = 0  # program results read from the file
    new: int = 0
    corrected: int = 0
    duplicates: int = 0
    matched_by_id: int = 0
    matched_by_name: int = 0
    unmatched: int = 0
    skipped_analytes: int = 0
    queue_matched: int = 0  # results waiting in the queue that this import's roster now matches
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _stage_sql(conn: Connection) -> None:
    postgres = conn.dialect.name == "postgresql"
    date, moment, flag = ("DATE", "TIMESTAMPTZ", "BOOLEAN") if postgres else ("TEXT", "TEXT", "INTEGER")
    suffix = " ON COMMIT DROP" if postgres else ""
    for table in ("stage_results", "kept", "replacing"):
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {'' if postgres else 'temp.'}{table}")
    conn.exec_driver_sql(
        "CREATE TEMP TABLE stage_results (row_no INTEGER PRIMARY KEY, lab TEXT, accession TEXT, test_code TEXT, "
        f"patient_ids TEXT, given_name TEXT, family_name TEXT, birth_date {date}, result TEXT, result_code TEXT, "
        f"result_text TEXT, collected_at {moment}, collected_on {date}, resulted_at {moment}, corrected {flag}, "
        f"source_ref TEXT, given_key TEXT, family_key TEXT){suffix}")
    conn.exec_driver_sql(f"CREATE TEMP TABLE kept (row_no INTEGER PRIMARY KEY){suffix}")
    conn.exec_driver_sql(f"CREATE TEMP TABLE replacing (result_id INTEGER PRIMARY KEY, row_no INTEGER){suffix}")


def _stage(conn: Connection, batches: background.Batches, progress: Progress | None) -> int:
    """Load the parsed batches into staging; returns how many results."""
    count = 0
    for rows, ids in batches:
        insert_rows(conn, "stage_results", STAGE_COLUMNS, rows)
        insert_rows(conn, "to_match_ids", ID_COLUMNS, ids)
        count += len(rows)
        if progress:
            progress(len(rows))
    conn.execute(text("INSERT INTO to_match (ref, given_key, family_key, birth_date) "
                      "SELECT row_no, given_key, family_key, birth_date FROM stage_results"))
    return count


def _same(column: str) -> str:
    return f"(r.{column} = s.{column} OR (r.{column} IS NULL AND s.{column} IS NULL))"


def _apply(conn: Connection, import_id: int, now: datetime, summary: ResultsImportSummary) -> None:
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.exec_driver_sql("ANALYZE stage_results")
    # Within the file, one row per key: its last correction, else its first row.
    conn.execute(text(
        "INSERT INTO kept (row_no) SELECT COALESCE(max(CASE WHEN corrected THEN row_no END), min(row_no)) "
        "FROM stage_results GROUP BY lab, accession, test_code"))
    kept = conn.execute(text("SELECT count(*) FROM kept")).scalar()
    summary.duplicates += summary.results - kept
    same_key = "r.lab = s.lab AND r.accession = s.accession AND r.test_code = s.test_code"
    # What a result says, whatever its form: a lab's code and another's text for the same finding agree.
    same_content = " AND ".join(_same(c) for c in ("result", "collected_on"))
    stamp = {"now": now, "import_id": import_id, "roster": _roster_now(conn)}
    typed = [bindparam("now", type_=UtcDateTime())]

    # Corrections of stored results (a correction identical to what is stored is a duplicate).
    conn.execute(text(f"""
        INSERT INTO replacing (result_id, row_no)
        SELECT r.id, s.row_no FROM stage_results s JOIN kept k ON k.row_no = s.row_no
        JOIN lab_results r ON {same_key}
        WHERE s.corrected AND NOT (r.corrected AND {same_content})"""))
    summary.corrected = conn.execute(text("SELECT count(*) FROM replacing")).scalar()
    conn.execute(text("""
        INSERT INTO lab_result_revisions (result_id, revision, result, result_code, result_text, collected_at,
                                          resulted_at, person_id, import_id, received_at, replaced_at)
        SELECT r.id, r.revision, r.result, r.result_code, r.result_text, r.collected_at, r.resulted_at,
               r.person_id, r.import_id, r.received_at, :now
        FROM lab_results r JOIN replacing x ON x.result_id = r.id""").bindparams(*typed), stamp)
    assignments = ", ".join(f"{c} = s.{c}" for c in RESULT_COLUMNS)
    conn.execute(text(f"""
        UPDATE lab_results SET {assignments},
            revision = lab_results.revision + 1, received_at = :now, import_id = :import_id,
            person_id = CASE WHEN lab_results.match_method = 'staff' OR lab_results.staff_only
                             THEN lab_results.person_id ELSE m.person_id END,
            unmatched_reason = CASE WHEN lab_results.match_method = 'staff' OR lab_results.staff_only
                                    THEN lab_results.unmatched_reason ELSE m.reason END,
            match_method = CASE WHEN lab_results.match_method = 'staff' OR lab_results.staff_only
                                THEN lab_results.match_method ELSE m.method END,
            tried_roster = :roster
        FROM replacing x JOIN stage_results s ON s.row_no = x.row_no JOIN match_outcome m ON m.ref = x.row_no
        WHERE lab_results.id = x.result_id""").bindparams(*typed), stamp)

    # The same result again: counted, and flagged when the lab now says something else.
    for (ref,) in conn.execute(text(f"""
        SELECT s.source_ref FROM stage_results s JOIN kept k ON k.row_no = s.row_no
        JOIN lab_results r ON {same_key}
        WHERE NOT EXISTS (SELECT 1 FROM replacing x WHERE x.row_no = s.row_no)
          AND r.import_id <> :import_id AND NOT ({same_content})
        ORDER BY s.row_no"""), stamp):
        summary.warnings.append(f"{ref}: a result with this accession number and test code is already stored "
                                "with a different value; only a correction replaces it")
    summary.duplicates += conn.execute(text(f"""
        SELECT count(*) FROM stage_results s JOIN kept k ON k.row_no = s.row_no JOIN lab_results r ON {same_key}
        WHERE NOT EXISTS (SELECT 1 FROM replacing x WHERE x.row_no = s.row_no)""")).scalar()

    # New results.
    columns = ", ".join(RESULT_COLUMNS)
    summary.new = conn.execute(text(f"""
        INSERT INTO lab_results (lab, accession, test_code, {columns}, revision, received_at, import_id,
                                 person_id, match_method, unmatched_reason, staff_only, tried_roster)
        SELECT s.lab, s.accession, s.test_code, {", ".join("s." + c for c in RESULT_COLUMNS)}, 1, :now,
               :import_id, m.person_id, m.method, m.reason, FALSE, :roster
        FROM stage_results s JOIN kept k ON k.row_no = s.row_no JOIN match_outcome m ON m.ref = s.row_no
        WHERE NOT EXISTS (SELECT 1 FROM lab_results r WHERE {same_key})""").bindparams(*typed), stamp).rowcount

    for method, count in conn.execute(text("""
        SELECT r.match_method, count(*) FROM lab_results r
        WHERE r.import_id = :import_id AND r.received_at = :now GROUP BY r.match_method""").bindparams(*typed),
                                      stamp):
        if method == "id":
            summary.matched_by_id = count
        elif method == "name-birth-date":
            summary.matched_by_name = count
        elif method is None:
            summary.unmatched = count


def _roster_now(conn: Connection) -> int:
    """The newest roster import (0 before any): what matching is done against."""
    return conn.execute(text("SELECT coalesce(max(id), 0) FROM roster_imports")).scalar()


def rematch_queue(conn: Connection, exclude_import: int | None = None) -> int:
    """Try the unmatched queue again against the roster as now known; returns how many now match.

    Only results not yet tried against the newest roster import are tried (nothing else
    can change their outcome). Results staff sent back to the queue wait for staff.
    """
    roster = _roster_now(conn)
    query = select(StoredResult.id, StoredResult.patient_ids, StoredResult.given_name, StoredResult.family_name,
                   StoredResult.birth_date).where(StoredResult.person_id.is_(None), StoredResult.staff_only.is_(False),
                                                  StoredResult.tried_roster < roster)
    if exclude_import is not None:
        query = query.where(StoredResult.import_id != exclude_import)
    waiting = conn.execute(query).all()
    if not waiting:
        return 0
    conn.exec_driver_sql("DELETE FROM to_match")
    conn.exec_driver_sql("DELETE FROM to_match_ids")
    conn.exec_driver_sql("DELETE FROM id_candidates")
    conn.exec_driver_sql("DELETE FROM match_outcome")
    conn.exec_driver_sql("DELETE FROM remaining")
    insert_rows(conn, "to_match", ("ref", "given_key", "family_key", "birth_date"),
                [(w.id, fold_name(w.given_name), fold_name(w.family_name),
                  w.birth_date.isoformat() if w.birth_date else None) for w in waiting])
    insert_rows(conn, "to_match_ids", ("ref", "patient_id"),
                [(w.id, patient_id) for w in waiting for patient_id in json.loads(w.patient_ids)])
    matched = matching.match_all(conn)
    conn.execute(text("""
        UPDATE lab_results SET person_id = m.person_id, match_method = m.method, unmatched_reason = m.reason,
                               tried_roster = :roster
        FROM match_outcome m WHERE m.ref = lab_results.id"""), {"roster": roster})
    return matched.by_id + matched.by_name


def import_results(
    engine: Engine, path: Path, fmt: str, zone: ZoneInfo, now: datetime | None = None,
    progress: Progress | None = None, test_codes: frozenset[str] = PROGRAM_TEST_CODES,
) -> ResultsImportSummary:
    """Import one lab file; `test_codes` are the tests the program counts (the policy's)."""
    path = Path(path)
    if not path.is_file():
        raise SchoolpassError(f"{path.name}: no such file")
    now = now or datetime.now(UTC)
    fmt = detect_format(path) if fmt == "auto" else fmt
    summary = ResultsImportSummary(format=fmt)
    digest = hashlib.sha256()
    with open(path, "rb") as raw:
        for chunk in iter(lambda: raw.read(1 << 20), b""):
            digest.update(chunk)
    with engine.begin() as conn:
        _stage_sql(conn)
        matching.create_work_tables(conn)
        large = path.stat().st_size >= background.MIN_BYTES
        batches = background.Batches(staged_batches, fmt, path, zone, now, conn.dialect.name, test_codes,
                                     in_background=large)
        try:
            summary.results = _stage(conn, batches.start(), progress)
        finally:
            batches.close()
        outcome = batches.result
        summary.skipped_analytes = outcome.skipped_analytes
        if outcome.problems:
            raise InputRejected([_problem(path.name, p) for p in outcome.problems])
        matching.match_all(conn)
        import_id = conn.execute(insert(ResultImport).values(
            format=fmt, source_name=path.name[:255], source_sha256=digest.hexdigest(), imported_at=now,
            summary="{}").returning(ResultImport.id)).scalar_one()
        summary.import_id = import_id
        _apply(conn, import_id, now, summary)
        summary.queue_matched = rematch_queue(conn, exclude_import=import_id)
        conn.execute(ResultImport.__table__.update().where(ResultImport.id == import_id)
                     .values(summary=json.dumps(summary.as_dict(), sort_keys=True)))
        matching.drop_work_tables(conn)
        if conn.dialect.name == "postgresql" and summary.new > 10000:
            conn.exec_driver_sql("ANALYZE lab_results")
    return summary


def _problem(file: str, problem) -> Problem:
    """`line 7: ...` as `file:7: ...`; other places (an HL7 message, a FHIR entry) as `file: where: ...`."""
    found = _NUMBER.search(problem.where)
    number = int(found.group(1)) if found else 0
    if problem.where.startswith("line ") and problem.where[5:].isdigit():
        return Problem(file, number, problem.what)
    return Problem(file, number, problem.what, where=problem.where)
