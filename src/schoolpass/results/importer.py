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
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Date, Engine, bindparam, column, text

from schoolpass import background, collector
from schoolpass.errors import InputRejected, Problem, SchoolpassError
from schoolpass.results import matching
from schoolpass.results.codes import program_test_codes
from schoolpass.results.formats import detect_format
from schoolpass.results import staging
from schoolpass.results.parts import Parts, alternate, scratch_parts
from schoolpass.results.records import ParseOutcome
from schoolpass.results.staging import ID_COLUMNS, STAGE_COLUMNS, staged_batches
from schoolpass.roster.names import fold_name
from schoolpass.processes import workers_can_see
from schoolpass.storage.bulk import insert_rows, mapped_reads
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
    for table in ("stage_results", "kept", "existing", "replacing"):
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {'' if postgres else 'temp.'}{table}")
    conn.exec_driver_sql(
        "CREATE TEMP TABLE stage_results (row_no INTEGER PRIMARY KEY, lab TEXT, accession TEXT, test_code TEXT, "
        f"patient_ids TEXT, given_name TEXT, family_name TEXT, birth_date {date}, result TEXT, result_code TEXT, "
        f"result_text TEXT, collected_at {moment}, collected_on {date}, resulted_at {moment}, corrected {flag}, "
        f"source_ref TEXT, given_key TEXT, family_key TEXT){suffix}")
    conn.exec_driver_sql(f"CREATE TEMP TABLE kept (row_no INTEGER PRIMARY KEY){suffix}")
    # Kept rows whose key is already stored, with the stored result (looked up once).
    conn.exec_driver_sql(f"CREATE TEMP TABLE existing (row_no INTEGER PRIMARY KEY, result_id INTEGER NOT NULL){suffix}")
    conn.exec_driver_sql(f"CREATE TEMP TABLE replacing (result_id INTEGER PRIMARY KEY, row_no INTEGER){suffix}")
    conn.exec_driver_sql("CREATE INDEX ix_replacing_row_no ON replacing (row_no)")


def _stage(conn: Connection, batches, progress: Progress | None) -> int:
    """Load the parsed batches into staging; returns how many results."""
    count = 0
    for rows, ids in batches:
        insert_rows(conn, "stage_results", STAGE_COLUMNS, rows)
        insert_rows(conn, "to_match_ids", ID_COLUMNS, ids)
        count += len(rows)
        if progress:
            progress(len(rows))
    return count


# From this size, a SimpleReport CSV or HL7 file read into SQLite is read in two parts at once, each
# by a worker writing to a scratch file (results.parts); below it, one pass here costs less.
PARTS_FROM_BYTES = 8 * 1024 * 1024


def _in_parts(dialect: str, path: Path) -> bool:
    """Whether a SimpleReport CSV or HL7 file is read in two parts at once (a worker process each)."""
    size = path.stat().st_size
    return (os.cpu_count() or 1) > 1 and (size >= background.MIN_BYTES or (dialect == "sqlite"
                                                                            and size >= PARTS_FROM_BYTES))


def _parts(fmt: str, path: Path, zone: ZoneInfo, now: datetime, dialect: str, test_codes: frozenset[str] | None):
    """(producer, its arguments for each part) of a file read in two parts; None when it has no place to split."""
    if fmt == "hl7":
        # Messages stand alone: a part starts where a message starts, and always reads as in one pass.
        split = staging.hl7_split(path)
        return split and (staging.staged_hl7_part, [(path, zone, now, dialect, test_codes, index, start, end)
                                                    for index, (start, end) in enumerate(((0, split), (split, None)))])
    if fmt == "simplereport-csv":
        split = staging.csv_split(path)
        return split and (staging.staged_csv_part, [(path, zone, now, dialect, test_codes, start, end)
                                                    for start, end in ((0, split), (split, None))])
    return None


def _start_parts(engine: Engine, scratch: Parts, fmt: str, path: Path, zone: ZoneInfo, now: datetime,
                 test_codes: frozenset[str] | None) -> None:
    """SQLite: a large SimpleReport CSV or HL7 file's two parts start being read, each by a worker that
    writes a scratch file and matches its results there (results.parts).

    Before this process opens the database, and with the engine's idle connections closed: a worker is
    forked, and one forked from a process holding no SQLite connection shares no SQLite state with it.
    A CSV's parts start before the policy is read: they stage every test's results, and only the
    program's are copied into staging (the others counted as skipped analytes)."""
    if engine.dialect.name != "sqlite" or not _in_parts("sqlite", path):
        return
    found = _parts(fmt, path, zone, now, "sqlite", None if fmt == "simplereport-csv" else test_codes)
    if found:
        engine.dispose()
        scratch.start(*found, engine.url.database if workers_can_see(engine) else None)


def _stage_file(conn: Connection, fmt: str, path: Path, zone: ZoneInfo, now: datetime, test_codes: frozenset[str],
                progress: Progress | None, summary: ResultsImportSummary, scratch: Parts,
                meanwhile: Callable[[], None]) -> tuple[ParseOutcome, bool]:
    """Parse the file into staging: a large SimpleReport CSV or HL7 file in two parts at once (a worker
    process each: on SQLite started already, `_start_parts`), a large FHIR file in one worker, a small
    one here. Calls `meanwhile()` once (while workers read, if any). Returns the outcome, and whether
    the staged results are matched already."""
    dialect = conn.dialect.name
    large = path.stat().st_size >= background.MIN_BYTES
    halves, matched = None, False
    if scratch.started:  # SQLite: started before the import opened the database (_start_parts)
        halves, matched = _finish_parts(conn, scratch, progress, summary, meanwhile, fmt, test_codes)
    elif dialect != "sqlite" and _in_parts(dialect, path):
        found = _parts(fmt, path, zone, now, dialect, test_codes)
        if found:  # PostgreSQL: the two workers' batches taken in turn
            halves = _stage_halves(conn, *found, progress, summary, meanwhile)
    if halves is None:
        meanwhile()
    elif _usable(fmt, *halves):
        return _both(*halves), matched
    else:
        # No record ends at the middle (a quoted field spans it), or the text is unreadable
        # somewhere: read the whole file in one pass, which alone says exactly where.
        conn.exec_driver_sql("DELETE FROM stage_results")
        conn.exec_driver_sql("DELETE FROM to_match_ids")
    batches = background.Batches(staged_batches, fmt, path, zone, now, dialect, test_codes, in_background=large)
    try:
        summary.results = _stage(conn, batches.start(), progress)
    finally:
        batches.close()
    return batches.result, False


def _finish_parts(conn: Connection, scratch: Parts, progress: Progress | None, summary: ResultsImportSummary,
                  meanwhile: Callable[[], None], fmt: str, test_codes: frozenset[str]) -> tuple[list[ParseOutcome], bool]:
    """Wait for the parts `_start_parts` started; stage their rows when no part found a problem (and a CSV's
    first part ends where a record ends), with the workers' matches when they saw the roster this
    transaction sees. Returns the parts' outcomes, and whether the staged results are matched."""
    outcomes = scratch.finish(progress, meanwhile)
    first, second = outcomes
    if not _usable(fmt, first, second) or first.problems or second.problems:
        return outcomes, False
    matched = scratch.matched_on(_roster_now(conn))
    every_test = fmt == "simplereport-csv"  # read with every test (_start_parts): keep the program's
    scratch.copy_into_staging(conn, matched, test_codes if every_test else None)
    summary.results = conn.execute(text("SELECT count(*) FROM stage_results")).scalar()
    if every_test:
        first.skipped_analytes += scratch.rows - summary.results
    return outcomes, matched


def _stage_halves(conn: Connection, producer, parts: list[tuple], progress: Progress | None,
                  summary: ResultsImportSummary, meanwhile: Callable[[], None]) -> list[ParseOutcome]:
    """Stage what two worker processes read (`producer(*part)` each), taking their batches in turn."""
    halves = [background.Batches(producer, *part, in_background=True) for part in parts]
    try:
        for half in halves:
            half.start()
        meanwhile()
        summary.results = _stage(conn, alternate([iter(half) for half in halves]), progress)
    finally:
        for half in halves:
            half.close()
    return [half.result for half in halves]


def _usable(fmt: str, first: ParseOutcome, second: ParseOutcome) -> bool:
    """Whether two parts read as one pass would: always for HL7 (a part starts where a message starts);
    for a CSV, when the first part ends where a record ends and both could be read to their end."""
    return fmt == "hl7" or (first.part_aligned and not first.stopped and not second.stopped)


def _both(first: ParseOutcome, second: ParseOutcome) -> ParseOutcome:
    """The two halves' outcome, as one pass would give it."""
    return ParseOutcome(problems=first.problems + second.problems,
                        skipped_analytes=first.skipped_analytes + second.skipped_analytes)


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

    conn.execute(text(f"""
        INSERT INTO existing (row_no, result_id)
        SELECT s.row_no, r.id FROM stage_results s JOIN kept k ON k.row_no = s.row_no
        JOIN lab_results r ON {same_key}"""))
    if postgres:
        conn.exec_driver_sql("ANALYZE existing")

    # Corrections of stored results (a correction identical to what is stored is a duplicate).
    conn.execute(text(f"""
        INSERT INTO replacing (result_id, row_no)
        SELECT r.id, s.row_no FROM existing e JOIN stage_results s ON s.row_no = e.row_no
        JOIN lab_results r ON r.id = e.result_id
        WHERE s.corrected AND NOT (r.corrected AND {same_content})
        ORDER BY e.row_no"""))
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
        SELECT s.source_ref FROM existing e JOIN stage_results s ON s.row_no = e.row_no
        JOIN lab_results r ON r.id = e.result_id
        WHERE NOT EXISTS (SELECT 1 FROM replacing x WHERE x.row_no = s.row_no)
          AND r.import_id <> :import_id AND NOT ({same_content})
        ORDER BY e.row_no"""), stamp):
        summary.warnings.append(f"{ref}: a result with this accession number and test code is already stored "
                                "with a different value; only a correction replaces it")
    summary.duplicates += conn.execute(text("""
        SELECT count(*) FROM existing e WHERE NOT EXISTS (SELECT 1 FROM replacing x WHERE x.row_no = e.row_no)""")
    ).scalar()

    # New results.
    columns = ", ".join(RESULT_COLUMNS)
    summary.new = conn.execute(text(f"""
        INSERT INTO lab_results (lab, accession, test_code, {columns}, revision, received_at, import_id,
                                 person_id, match_method, unmatched_reason, staff_only, tried_roster)
        SELECT s.lab, s.accession, s.test_code, {", ".join("s." + c for c in RESULT_COLUMNS)}, 1, :now,
               :import_id, m.person_id, m.method, m.reason, FALSE, :roster
        FROM stage_results s JOIN kept k ON k.row_no = s.row_no JOIN match_outcome m ON m.ref = s.row_no
        WHERE NOT EXISTS (SELECT 1 FROM existing e WHERE e.row_no = s.row_no)""").bindparams(*typed), stamp).rowcount

    # How what this import wrote is matched: its new results and the corrections it applied
    # (read from the staged rows: lab_results has no index by import).
    by_id, by_name, unmatched = conn.execute(text("""
        SELECT coalesce(sum(CASE WHEN method = 'id' THEN 1 ELSE 0 END), 0),
               coalesce(sum(CASE WHEN method = 'name-birth-date' THEN 1 ELSE 0 END), 0),
               coalesce(sum(CASE WHEN method IS NULL THEN 1 ELSE 0 END), 0)
        FROM (SELECT m.method FROM kept k JOIN match_outcome m ON m.ref = k.row_no
              WHERE NOT EXISTS (SELECT 1 FROM existing e WHERE e.row_no = k.row_no)
              UNION ALL
              SELECT r.match_method FROM replacing x JOIN lab_results r ON r.id = x.result_id) written""")).one()
    summary.matched_by_id, summary.matched_by_name, summary.unmatched = by_id, by_name, unmatched


def _roster_now(conn: Connection) -> int:
    """The newest roster import (0 before any): what matching is done against."""
    return conn.execute(text("SELECT coalesce(max(id), 0) FROM roster_imports")).scalar()


def rematch_queue(conn: Connection, exclude_import: int | None = None) -> int:
    """Try the unmatched queue again against the roster as now known; returns how many now match.

    Only results not yet tried against the newest roster import are tried (nothing else
    can change their outcome). Results staff sent back to the queue wait for staff.
    """
    roster = _roster_now(conn)
    # SQL text, not the ORM models: importing the ORM costs every `results import` a quarter second.
    waiting = conn.execute(text(
        "SELECT id, patient_ids, given_name, family_name, birth_date FROM lab_results "
        "WHERE person_id IS NULL AND NOT staff_only AND tried_roster < :roster"
        + (" AND import_id <> :exclude" if exclude_import is not None else "")
    ).columns(column("id"), column("patient_ids"), column("given_name"), column("family_name"),
              column("birth_date", Date)), {"roster": roster, "exclude": exclude_import}).all()
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
    progress: Progress | None = None, test_codes: frozenset[str] | None = None,
) -> ResultsImportSummary:
    """Import one lab file; `test_codes` are the tests the program counts (the policy's)."""
    path = Path(path)
    if not path.is_file():
        raise SchoolpassError(f"{path.name}: no such file")
    now = now or datetime.now(UTC)
    fmt = detect_format(path) if fmt == "auto" else fmt
    summary = ResultsImportSummary(format=fmt)
    fingerprint = _Fingerprint(path)
    with collector.paused(), scratch_parts() as scratch:
        # A CSV's parts start before the policy is read (they read every test); HL7's need its tests.
        if fmt != "simplereport-csv" and test_codes is None:
            test_codes = program_test_codes()
        _start_parts(engine, scratch, fmt, path, zone, now, test_codes)
        test_codes = program_test_codes() if test_codes is None else test_codes
        with engine.connect() as conn, scratch.attached(conn):
            _import_in(conn, scratch, path, fmt, zone, now, test_codes, progress, summary, fingerprint)
    return summary


class _Fingerprint:
    """The file's SHA-256, taken (called once) while workers read the file, or before it is read here."""

    def __init__(self, path: Path):
        self.path = path
        self.digest = hashlib.sha256()

    def __call__(self) -> None:
        with open(self.path, "rb") as raw:
            for chunk in iter(lambda: raw.read(1 << 20), b""):
                self.digest.update(chunk)


def _import_in(conn: Connection, scratch: Parts, path: Path, fmt: str, zone: ZoneInfo, now: datetime,
               test_codes: frozenset[str], progress: Progress | None, summary: ResultsImportSummary,
               fingerprint: _Fingerprint) -> None:
    """The import's one transaction, once the file's parts may be being read already."""
    with conn.begin(), mapped_reads(conn):
        _stage_sql(conn)
        matching.create_work_tables(conn)
        outcome, matched = _stage_file(conn, fmt, path, zone, now, test_codes, progress, summary, scratch,
                                       fingerprint)
        summary.skipped_analytes = outcome.skipped_analytes
        if outcome.problems:
            raise InputRejected([_problem(path.name, p) for p in outcome.problems])
        if not matched:
            matching.take_staged(conn, "stage_results")
            matching.match_all(conn)
        import_id = conn.execute(text(
            "INSERT INTO result_imports (format, source_name, source_sha256, imported_at, summary) "
            "VALUES (:format, :name, :sha, :now, '{}') RETURNING id").bindparams(bindparam("now", type_=UtcDateTime())),
            {"format": fmt, "name": path.name[:255], "sha": fingerprint.digest.hexdigest(), "now": now}).scalar_one()
        summary.import_id = import_id
        _apply(conn, import_id, now, summary)
        summary.queue_matched = rematch_queue(conn, exclude_import=import_id)
        conn.execute(text("UPDATE result_imports SET summary = :summary WHERE id = :id"),
                     {"summary": json.dumps(summary.as_dict(), sort_keys=True), "id": import_id})
        matching.drop_work_tables(conn)
        if conn.dialect.name == "sqlite":  # the staged file's rows would otherwise stay with the connection
            for table in ("stage_results", "kept", "existing", "replacing"):
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{table}")
        if conn.dialect.name == "postgresql" and summary.new > 10000:
            conn.exec_driver_sql("ANALYZE lab_results")


def _problem(file: str, problem) -> Problem:
    """`line 7: ...` as `file:7: ...`; other places (an HL7 message, a FHIR entry) as `file: where: ...`."""
    found = _NUMBER.search(problem.where)
    number = int(found.group(1)) if found else 0
    if problem.where.startswith("line ") and problem.where[5:].isdigit():
        return Problem(file, number, problem.what)
    return Problem(file, number, problem.what, where=problem.where)
