"""An HL7 file read in two parts (one worker process each) reads as one pass: the same results, in the
same order, the same problems with the same message numbers."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from schoolpass import background
from schoolpass.errors import InputRejected
from schoolpass.results import staging
from schoolpass.results.codes import PROGRAM_TEST_CODES
from schoolpass.results.importer import import_results
from schoolpass.results.models import LabResult
from tests.results.files import SAMPLES
from tests.results.test_csv_parts import drain, stored_in_two_then_one

ZONE = ZoneInfo("America/Los_Angeles")
NOW = datetime(2021, 11, 22, 18, 0, tzinfo=UTC)
ENDINGS = {"cr": "\r", "lf": "\n", "crlf": "\r\n"}


def _sample_messages() -> list[list[str]]:
    text = (SAMPLES / "elr-oru-r01.hl7").read_text(encoding="utf-8")
    segments = [s for s in re.split(r"\r\n|\r|\n", text) if s.strip()]
    messages: list[list[str]] = []
    for segment in segments:
        if segment.startswith("MSH"):
            messages.append([])
        messages[-1].append(segment)
    return messages


def elr_file(path: Path, count: int, bad: set[int] = frozenset(), ending: str = "cr", batch: bool = False) -> Path:
    """`count` messages made from the sample's two (their own accession numbers); `bad` ones with a
    birth date that is not a date; segments end in `ending`; `batch` wraps them in FHS/BHS ... BTS/FTS."""
    samples = _sample_messages()
    end = ENDINGS[ending]
    out = ["FHS|^~\\&|LABSYS", "BHS|^~\\&|LABSYS"] if batch else []
    for n in range(count):
        for segment in samples[n % 2]:
            segment = segment.replace("ACC-21-00000", f"ACC-{n:05d}-").replace("MSG0000", f"MSG{n:05d}-")
            if n in bad and segment.startswith("PID"):
                segment = segment.replace("|20130402|", "|20131402|").replace("|20110917|", "|20111317|")
            out.append(segment)
    if batch:
        out += ["BTS|" + str(count), "FTS|1"]
    path.write_bytes((end.join(out) + end).encode("utf-8"))
    return path


def message_starts(path: Path) -> list[int]:
    return [m.start() + 1 for m in re.finditer(rb"[\r\n]MSH", path.read_bytes())]


def whole(path: Path):
    return drain(staging.staged_batches("hl7", path, ZONE, NOW, "sqlite", PROGRAM_TEST_CODES, size=7))


def in_parts(path: Path, split: int):
    first = drain(staging.staged_hl7_part(path, ZONE, NOW, "sqlite", PROGRAM_TEST_CODES, 0, 0, split, 5))
    second = drain(staging.staged_hl7_part(path, ZONE, NOW, "sqlite", PROGRAM_TEST_CODES, 1, split, None, 3))
    return first, second


def _ranked(rows: list[tuple], ids: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """Rows and ids with row_no replaced by its rank (parts number their rows from their own base)."""
    rank = {row[0]: n for n, row in enumerate(rows, 1)}
    assert [row[0] for row in rows] == sorted(rank), "row numbers keep the file's order"
    return [(rank[row[0]], *row[1:]) for row in rows], [(rank[ref], patient) for ref, patient in ids]


def assert_same_as_whole(path: Path, split: int) -> None:
    rows, ids, outcome = whole(path)
    (rows_a, ids_a, first), (rows_b, ids_b, second) = in_parts(path, split)
    assert _ranked(rows_a + rows_b, ids_a + ids_b) == _ranked(rows, ids)
    assert first.problems + second.problems == outcome.problems
    assert first.skipped_analytes + second.skipped_analytes == outcome.skipped_analytes


def test_the_split_is_a_message_start_after_the_middle(tmp_path):
    path = elr_file(tmp_path / "a.hl7", 40)
    split = staging.hl7_split(path)
    assert split in message_starts(path) and split >= path.stat().st_size // 2
    # the first message whose line end before it lies at or after the middle
    assert [s for s in message_starts(path) if s - 1 >= path.stat().st_size // 2][0] == split


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "messages"])
@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_every_message_start_splits_like_one_pass(tmp_path, ending, batch):
    path = elr_file(tmp_path / "a.hl7", 9, bad={0, 4, 8}, ending=ending, batch=batch)
    for split in message_starts(path):
        assert_same_as_whole(path, split)


def _read_count(path: Path, offset: int) -> int:
    """Messages in the first `offset` bytes as the parser's own segment reader counts them."""
    from schoolpass.results.hl7_tokens import iter_messages, iter_segments

    text = path.read_bytes()[:offset].decode("utf-8", errors="replace")
    return sum(1 for _ in iter_messages(iter_segments(text)))


@pytest.mark.parametrize("shape", ["plain", "bom", "blank-lines", "leading-junk", "batch"])
@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_messages_before_a_part_are_counted_as_the_reader_counts_them(tmp_path, monkeypatch, ending, shape):
    path = elr_file(tmp_path / "a.hl7", 5, ending=ending, batch=shape == "batch")
    data = path.read_bytes()
    end = ENDINGS[ending].encode()
    data = {"bom": b"\xef\xbb\xbf" + data, "blank-lines": data.replace(end, end + b"  " + end),
            "leading-junk": b"NTE|junk before the first message" + end + data}.get(shape, data)
    path.write_bytes(data)
    monkeypatch.setattr(staging, "COUNT_CHUNK", 7)  # segment starts cut by chunk edges, often
    starts = [start for start in message_starts(path) if start > 3]
    assert len(starts) >= 4
    for offset in starts:
        assert staging.messages_before(path, offset) == _read_count(path, offset), offset


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(count=st.integers(2, 30), bad=st.sets(st.integers(0, 29), max_size=5), ending=st.sampled_from(sorted(ENDINGS)),
       batch=st.booleans(), where=st.floats(0, 1))
def test_any_message_start_gives_one_pass(tmp_path, count, bad, ending, batch, where):
    path = elr_file(tmp_path / "h.hl7", count, bad=bad, ending=ending, batch=batch)
    starts = message_starts(path)
    assert_same_as_whole(path, starts[int(where * (len(starts) - 1))])


def stored(db) -> list[tuple]:
    with db.engine.connect() as conn:
        return conn.execute(select(LabResult.accession, LabResult.person_id, LabResult.match_method,
                                   LabResult.source_ref, LabResult.result).order_by(LabResult.accession)).all()


def test_import_in_two_workers_stores_and_refuses_what_one_pass_does(db, tmp_path, monkeypatch):
    path = elr_file(tmp_path / "r.hl7", 60, ending="crlf")
    assert len(stored_in_two_then_one(db, path, monkeypatch, stored)) == 60

    bad = elr_file(tmp_path / "bad.hl7", 60, bad={2, 57})
    refusals = []
    for size in (0, 1 << 40):
        monkeypatch.setattr(background, "MIN_BYTES", size)
        with pytest.raises(InputRejected) as refused:
            import_results(db.engine, bad, "auto", ZONE, now=NOW)
        refusals.append([str(p) for p in refused.value.problems])
    assert refusals[0] == refusals[1] == ["bad.hl7: message 3, PID: PID-7 is not a date",
                                          "bad.hl7: message 58, PID: PID-7 is not a date"]
