"""A SimpleReport CSV read in two parts (two processes) gives exactly what one pass gives."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from schoolpass import background
from schoolpass.results import staging
from schoolpass.results.codes import PROGRAM_TEST_CODES
from schoolpass.results.importer import import_results
from schoolpass.results.models import LabResult
from schoolpass.results.records import ParseOutcome
from schoolpass.results.simplereport import parse_simplereport
from tests.results.files import person, simplereport

ZONE = ZoneInfo("America/Los_Angeles")
NOW = datetime(2021, 11, 22, 18, 0, tzinfo=UTC)


def drain(batches) -> tuple[list[tuple], list[tuple], ParseOutcome]:
    rows: list[tuple] = []
    ids: list[tuple] = []
    while True:
        try:
            part_rows, part_ids = next(batches)
        except StopIteration as finished:
            return rows, ids, finished.value
        rows += part_rows
        ids += part_ids


def whole(path: Path, dialect: str = "sqlite"):
    return drain(staging.staged_batches("simplereport-csv", path, ZONE, NOW, dialect, PROGRAM_TEST_CODES, size=7))


def halves(path: Path, split: int, dialect: str = "sqlite"):
    first = drain(staging.staged_csv_part(path, ZONE, NOW, dialect, PROGRAM_TEST_CODES, 0, split, 5))
    second = drain(staging.staged_csv_part(path, ZONE, NOW, dialect, PROGRAM_TEST_CODES, split, None, 3))
    return first, second


def line_starts(path: Path) -> list[int]:
    data = path.read_bytes()
    return [i + 1 for i, byte in enumerate(data[:-1]) if byte == ord("\n")]


def rows_for(count: int, bad: set[int] = frozenset(), quoted: set[int] = frozenset()) -> list[dict[str, str]]:
    rows = []
    for n in range(count):
        row = person(f"{900000 + n}", "Ana", "López" if n % 3 else "Ito", "2012-01-01", f"ACC-{n:05d}",
                     test_result_status="C" if n % 7 == 0 else "F")
        if n in quoted:
            row["patient_street"] = "12 Main St\nApt \"3\"\r\n,back door"
        if n in bad:
            row["specimen_collection_date"] = "not a date"
            row["accession_number"] = ""
        rows.append(row)
    return rows


def assert_same_as_whole(path: Path, split: int, dialect: str = "sqlite") -> bool:
    """The two parts against one pass; returns whether the split was at a record's end."""
    rows, ids, outcome = whole(path, dialect)
    (rows_a, ids_a, first), (rows_b, ids_b, second) = halves(path, split, dialect)
    if not first.part_aligned:
        return False
    assert not first.stopped and not second.stopped
    assert rows_a + rows_b == rows
    assert ids_a + ids_b == ids
    assert first.problems + second.problems == outcome.problems
    assert first.skipped_analytes + second.skipped_analytes == outcome.skipped_analytes
    return True


def test_the_fast_rows_are_the_parsers_results(tmp_path):
    path = simplereport(tmp_path / "r.csv", rows_for(40, quoted={3, 17}))
    for dialect in ("sqlite", "postgresql"):
        rows, ids, outcome = whole(path, dialect)
        parsed = ParseOutcome(problems=[])
        with open(path, encoding="utf-8-sig", newline="") as text:
            expected = [r for batch, _ in staging.staged_results(
                parse_simplereport(text, ZONE, NOW, parsed), ZONE, dialect) for r in batch]
        # row_no is the record's line on the fast path, the result's position on the other
        assert [r[1:] for r in rows] == [r[1:] for r in expected]
        assert [r[0] for r in rows] == [int(r[15].removeprefix("line ")) for r in rows]
        assert outcome.problems == parsed.problems


def test_every_line_start_splits_like_one_pass(tmp_path):
    path = simplereport(tmp_path / "r.csv", rows_for(30, bad={4, 22}, quoted={2, 9, 25}))
    aligned = [split for split in line_starts(path) if assert_same_as_whole(path, split)]
    records = 1 + 30  # the header and each row start a record; the quoted streets' lines do not
    assert len(aligned) == records - 1


def test_a_split_inside_a_quoted_field_is_detected(tmp_path):
    path = simplereport(tmp_path / "r.csv", rows_for(6, quoted={3}))
    data = path.read_bytes()
    inside = data.index(b"12 Main St\n") + len(b"12 Main St\n")
    (_, _, first), _ = halves(path, inside)
    assert not first.part_aligned


def test_bad_rows_in_both_parts_keep_their_lines(tmp_path):
    path = simplereport(tmp_path / "r.csv", rows_for(20, bad={1, 15}, quoted={5}))
    split = line_starts(path)[10]
    assert assert_same_as_whole(path, split)
    _, _, outcome = whole(path)
    assert [p.where for p in outcome.problems] == ["line 3", "line 3", "line 19", "line 19"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(count=st.integers(1, 25), bad=st.sets(st.integers(0, 24)), quoted=st.sets(st.integers(0, 24)),
       where=st.floats(0, 1), crlf=st.booleans())
def test_any_split_gives_one_pass_or_says_it_cannot(tmp_path, count, bad, quoted, where, crlf):
    path = simplereport(tmp_path / "h.csv", rows_for(count, bad=bad, quoted=quoted))
    if crlf:
        path.write_bytes(path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    starts = line_starts(path)
    if not starts:
        return
    assert_same_as_whole(path, starts[int(where * (len(starts) - 1))])


@pytest.fixture
def two_workers(monkeypatch):
    """Every file counts as large: a SimpleReport CSV is read in two worker processes."""
    monkeypatch.setattr(background, "MIN_BYTES", 0)


def stored(db) -> list[tuple]:
    with db.engine.connect() as conn:
        return conn.execute(select(LabResult.accession, LabResult.person_id, LabResult.match_method,
                                   LabResult.source_ref, LabResult.revision).order_by(LabResult.accession)).all()


def stored_in_two_then_one(db, path: Path, monkeypatch, stored) -> list[tuple]:
    """Import `path` in two workers, then (results deleted) in one pass: what `stored(db)` reads after the
    first, once both stored the same and said the same."""
    monkeypatch.setattr(background, "MIN_BYTES", 0)
    summary = import_results(db.engine, path, "auto", ZONE, now=NOW).as_dict()
    in_two = stored(db)
    with db.engine.begin() as conn:
        conn.execute(LabResult.__table__.delete())
    monkeypatch.setattr(background, "MIN_BYTES", 1 << 40)
    again = import_results(db.engine, path, "auto", ZONE, now=NOW).as_dict()
    assert stored(db) == in_two
    assert {k: v for k, v in summary.items() if k != "import_id"} == {
        k: v for k, v in again.items() if k != "import_id"}
    return in_two


def test_import_in_two_workers_stores_what_one_pass_stores(db, tmp_path, monkeypatch):
    path = simplereport(tmp_path / "r.csv", rows_for(300, quoted={0, 149, 150, 151, 299}))
    assert len(stored_in_two_then_one(db, path, monkeypatch, stored)) == 300


def test_a_bad_file_in_two_workers_is_refused_with_the_same_lines(db, tmp_path, monkeypatch, two_workers):
    from schoolpass.errors import InputRejected

    path = simplereport(tmp_path / "r.csv", rows_for(200, bad={3, 180}, quoted={100}))
    with pytest.raises(InputRejected) as refused:
        import_results(db.engine, path, "auto", ZONE, now=NOW)
    assert sorted({p.line for p in refused.value.problems}) == [5, 184]  # the quoted street's 2 line ends
    monkeypatch.setattr(background, "MIN_BYTES", 1 << 40)
    with pytest.raises(InputRejected) as in_one_pass:
        import_results(db.engine, path, "auto", ZONE, now=NOW)
    assert refused.value.problems == in_one_pass.value.problems
    with db.engine.connect() as conn:
        assert conn.execute(select(LabResult.id)).first() is None


def test_a_middle_inside_a_quoted_field_falls_back_to_one_pass(db, tmp_path, monkeypatch, two_workers):
    path = simplereport(tmp_path / "r.csv", rows_for(50, quoted={25}))
    data = path.read_bytes()
    inside = data.index(b"12 Main St\n") + len(b"12 Main St\n")
    monkeypatch.setattr(staging, "csv_split", lambda _path: inside)
    summary = import_results(db.engine, path, "auto", ZONE, now=NOW)
    assert (summary.results, summary.new) == (50, 50)
    assert [r.source_ref for r in stored(db)] == [f"line {n + 2 + (2 if n > 25 else 0)}" for n in range(50)]


def test_file_readers_start_without_the_database_layer():
    """Worker processes that read lab files import only the readers: no SQLAlchemy (a quarter second)."""
    import subprocess
    import sys

    probe = ("import sys, schoolpass.results.staging, schoolpass.background; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
