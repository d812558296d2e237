"""A lab file read in parts by workers writing scratch files (SQLite): same rows, nothing left behind."""

from __future__ import annotations

import os
import sqlite3
import stat
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import select

from schoolpass.errors import InputRejected, SchoolpassError
from schoolpass.results import importer, matching, parts
from schoolpass.results.importer import import_results
from schoolpass.results.models import LabResult
from schoolpass.results.records import ParseOutcome
from schoolpass.results.staging import ID_COLUMNS, STAGE_COLUMNS
from tests.results.files import person, simplereport
from tests.results.test_hl7_parts import elr_file
from tests.results.test_csv_parts import NOW, ZONE, rows_for
from tests.results.test_import import roster  # noqa: F401 - a fixture: the import tests' roster

sqlite_only = pytest.mark.parametrize("db", ["sqlite"], indirect=True)


def counted_batches(count: int, size: int, fail_at: int | None = None):
    """A producer: `count` staging rows in batches of `size` (a failure after `fail_at` rows)."""
    rows: list[tuple] = []
    for n in range(1, count + 1):
        rows.append(tuple([n] + [f"{c}-{n}" for c in STAGE_COLUMNS[1:]]))
        if len(rows) == size or n == count:
            yield rows, [(row[0], f"id-{row[0]}") for row in rows]
            rows = []
        if fail_at is not None and n == fail_at:
            raise ValueError("a reader broke")
    return ParseOutcome(problems=[], skipped_analytes=count % 7)


def test_a_part_written_to_its_file_holds_every_batch(tmp_path):
    file = str(tmp_path / "part.db")
    written = parts.written_to(file, None, counted_batches, 25, 10)  # no database: not matched
    counts = []
    while True:
        try:
            counts.append(next(written))
        except StopIteration as finished:
            read = finished.value
            break
    assert counts == [10, 10, 5] and read.outcome.skipped_analytes == 25 % 7 and read.matched_on_roster is None
    scratch = sqlite3.connect(file)
    assert scratch.execute("SELECT count(*), min(row_no), max(row_no) FROM stage_results").fetchone() == (25, 1, 25)
    assert scratch.execute("SELECT patient_id FROM to_match_ids WHERE ref = 7").fetchall() == [("id-7",)]
    assert [c[1] for c in scratch.execute("PRAGMA table_info(stage_results)")] == list(STAGE_COLUMNS)
    assert [c[1] for c in scratch.execute("PRAGMA table_info(to_match_ids)")] == list(ID_COLUMNS)


@sqlite_only
def test_parts_are_copied_into_staging_in_order_and_their_folder_removed(db):
    seen = []
    with db.engine.connect() as conn:
        with parts.scratch_parts() as scratch, scratch.attached(conn), conn.begin():
            conn.exec_driver_sql(f"CREATE TEMP TABLE stage_results ({', '.join(STAGE_COLUMNS)})")
            conn.exec_driver_sql(f"CREATE TEMP TABLE to_match_ids ({', '.join(ID_COLUMNS)})")
            scratch.start(counted_batches, [(30, 8), (12, 5)])
            outcomes = scratch.finish(progress=seen.append)
            folder = scratch.folder
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # private while it holds personal data
            scratch.copy_into_staging(conn, matched=False)  # not matched: with the lab patient ids
            copied = conn.exec_driver_sql("SELECT row_no FROM stage_results ORDER BY rowid").scalars().all()
            ids = conn.exec_driver_sql("SELECT count(*) FROM to_match_ids").scalar()
        assert not folder.exists()
        assert conn.exec_driver_sql("PRAGMA database_list").fetchall()[-1][1] in ("main", "temp")  # detached
    assert [o.skipped_analytes for o in outcomes] == [30 % 7, 12 % 7]
    assert sorted(seen) == sorted([8, 8, 8, 6, 5, 5, 2]) and sum(seen) == 42
    assert copied == list(range(1, 31)) + list(range(1, 13)) and ids == 42


def test_a_worker_that_fails_stops_the_read_and_leaves_no_files():
    with pytest.raises(SchoolpassError, match="reading the file failed"):
        with parts.scratch_parts() as scratch:
            scratch.start(counted_batches, [(30, 8), (30, 8, 12)])
            scratch.finish()
    assert scratch.folder is not None and not scratch.folder.exists()


@sqlite_only
def test_readers_are_forked_before_the_import_opens_the_database(db, tmp_path, monkeypatch):
    """A reader forked from a process holding an SQLite connection would share its lock state."""
    db.engine.connect().close()  # an idle connection in the pool, as a command that read the policy leaves
    monkeypatch.setattr(importer, "PARTS_FROM_BYTES", 0)
    open_at_fork = []
    real = parts.Parts.start

    def start(self, *args, **kwargs):
        open_at_fork.append(db.engine.pool.checkedin() + db.engine.pool.checkedout())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(parts.Parts, "start", start)
    for path in (simplereport(tmp_path / "r.csv", rows_for(30)), elr_file(tmp_path / "r.hl7", 30)):
        import_results(db.engine, path, "auto", ZONE, now=NOW)
    assert open_at_fork == [0, 0]


@pytest.fixture
def parts_from_any_size(monkeypatch):
    """Every file counts as large enough to read in parts (on SQLite, through scratch files)."""
    monkeypatch.setattr(importer, "PARTS_FROM_BYTES", 0)


@pytest.fixture
def folders(monkeypatch) -> list[Path]:
    """The scratch folders imports make (each is gone when its import ends)."""
    made: list[Path] = []
    real = tempfile.mkdtemp

    def recorded(*args, **kwargs):
        made.append(Path(real(*args, **kwargs)))
        return str(made[-1])

    monkeypatch.setattr(parts.tempfile, "mkdtemp", recorded)
    return made


@sqlite_only
def test_imports_in_parts_leave_no_scratch_files_committed_or_refused(db, tmp_path, monkeypatch, parts_from_any_size,
                                                                     folders):
    good = simplereport(tmp_path / "good.csv", rows_for(40))
    assert import_results(db.engine, good, "auto", ZONE, now=NOW).new == 40
    bad = elr_file(tmp_path / "bad.hl7", 20, bad={3})
    with pytest.raises(InputRejected):
        import_results(db.engine, bad, "auto", ZONE, now=NOW)
    small = simplereport(tmp_path / "small.csv", rows_for(3))
    monkeypatch.setattr(importer, "PARTS_FROM_BYTES", small.stat().st_size + 1)  # one pass here: no folder
    assert import_results(db.engine, small, "auto", ZONE, now=NOW).duplicates == 3
    assert len(folders) == 2 and not any(folder.exists() for folder in folders)
    with db.engine.connect() as conn:
        assert len(conn.execute(select(LabResult.id)).all()) == 40
        assert [row[1] for row in conn.exec_driver_sql("PRAGMA database_list")] == ["main", "temp"]


@sqlite_only
def test_a_file_read_in_parts_stores_what_one_pass_stores(db, tmp_path, monkeypatch):
    path = simplereport(tmp_path / "r.csv", rows_for(120, quoted={59, 60}) + [
        person("", "Ana", "Ito", "2012-01-01", "ACC-X")])

    def imported(parts_from: int) -> tuple[dict, list[tuple]]:
        monkeypatch.setattr(importer, "PARTS_FROM_BYTES", parts_from)
        summary = import_results(db.engine, path, "auto", ZONE, now=NOW).as_dict()
        with db.engine.begin() as conn:
            stored = conn.execute(select(LabResult.accession, LabResult.source_ref, LabResult.person_id,
                                         LabResult.unmatched_reason).order_by(LabResult.accession)).all()
            conn.execute(LabResult.__table__.delete())
        return {k: v for k, v in summary.items() if k != "import_id"}, stored

    in_parts, one_pass = imported(0), imported(1 << 40)
    assert in_parts == one_pass and in_parts[0]["results"] == 121


@pytest.fixture
def matched_here(monkeypatch) -> list[int]:
    """Each time the importer matches staged results itself (a forked worker's calls land in its own copy)."""
    calls: list[int] = []
    real = matching.take_staged
    monkeypatch.setattr(matching, "take_staged", lambda conn, staged: calls.append(1) or real(conn, staged))
    return calls


@sqlite_only
def test_workers_match_their_parts_against_the_roster_the_import_sees(roster, tmp_path, monkeypatch,
                                                                       parts_from_any_size, matched_here):
    lea = person("004512345", "Lea", "Ito", "2009-03-03", "ACC-S1")  # s-14 in the import tests' roster
    path = simplereport(tmp_path / "r.csv", rows_for(30) + [lea])
    summary = import_results(roster.engine, path, "auto", ZONE, now=NOW)
    assert matched_here == [] and summary.matched_by_id == 2  # in the workers (Lea, and s-13 among the others)
    with roster.engine.connect() as conn:
        assert conn.execute(select(LabResult.person_id).where(LabResult.accession == "ACC-S1")).scalar() == "s-14"

    # A roster import lands while the workers match: their outcomes are not used; the importer matches.
    real = parts.matched_in_part
    monkeypatch.setattr(parts, "matched_in_part", lambda file, database: real(file, database) + 1)
    again = simplereport(tmp_path / "again.csv", [lea | {"accession_number": "ACC-S2"}] + rows_for(30))
    assert import_results(roster.engine, again, "auto", ZONE, now=NOW).matched_by_id == 1  # the one new result
    assert matched_here == [1]


def test_parts_are_matched_only_on_the_roster_the_importer_sees():
    read = parts.Parts()
    assert not read.matched_on(3)  # nothing read
    read.reads = [parts.PartRead(None, 3), parts.PartRead(None, 3)]
    assert read.matched_on(3) and not read.matched_on(4)
    read.reads[1] = parts.PartRead(None, None)  # a worker could not read the database
    assert not read.matched_on(3)


@sqlite_only
def test_scratch_folders_of_a_killed_import_are_removed_by_the_next(db, tmp_path, monkeypatch, parts_from_any_size):
    import subprocess
    import sys

    monkeypatch.setattr(parts.tempfile, "tempdir", str(tmp_path))  # the system's temporary place, for this test
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()  # a process that has ended
    left = tmp_path / f"{parts.FOLDER_PREFIX}{gone}-abc"
    left.mkdir()
    (left / "part-0-0.db").write_bytes(b"personal data")
    running = tmp_path / f"{parts.FOLDER_PREFIX}{os.getpid()}-def"  # an import still running (this process)
    running.mkdir()
    path = simplereport(tmp_path / "r.csv", rows_for(20))
    assert import_results(db.engine, path, "auto", ZONE, now=NOW).new == 20
    assert not left.exists() and running.exists()
    assert sorted(p.name for p in tmp_path.glob(f"{parts.FOLDER_PREFIX}*")) == [running.name]


@sqlite_only
def test_a_csv_read_in_parts_with_every_test_stages_only_the_programs(db, tmp_path, monkeypatch):
    flu = [person(f"{800000 + n}", "Ana", "Ito", "2012-01-01", f"FLU-{n}", test_performed_code="80382-5")
           for n in range(7)]
    path = simplereport(tmp_path / "r.csv", rows_for(40)[:20] + flu + rows_for(40)[20:])
    summaries = []
    for parts_from in (0, 1 << 40):
        monkeypatch.setattr(importer, "PARTS_FROM_BYTES", parts_from)
        summary = import_results(db.engine, path, "auto", ZONE, now=NOW).as_dict()
        summaries.append({k: v for k, v in summary.items() if k != "import_id"})
        with db.engine.begin() as conn:
            assert {a for (a,) in conn.execute(select(LabResult.accession))} == {f"ACC-{n:05d}" for n in range(40)}
            conn.execute(LabResult.__table__.delete())
    assert summaries[0] == summaries[1] and summaries[0]["skipped_analytes"] == 7 and summaries[0]["new"] == 40
