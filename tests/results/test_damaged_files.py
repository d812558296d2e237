"""Damaged lab files: always a clean refusal or a correct import, never a crash or a partial write."""

from __future__ import annotations

import io
import random
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from schoolpass.errors import InputRejected, SchoolpassError
from schoolpass.results.importer import import_results
from schoolpass.results.records import LabResult, ParseOutcome
from schoolpass.results.simplereport import parse_simplereport
from schoolpass.roster.importer import import_roster
from schoolpass.storage.models import metadata
from tests.results.files import SAMPLES
from tests.roster.exports import write_export

ZONE = ZoneInfo("America/Los_Angeles")
NOW = datetime(2021, 11, 22, 18, 0, tzinfo=UTC)
SAMPLE_FILES = ["simplereport.csv", "elr-oru-r01.hl7", "fhir-bundle.json"]


def damage(data: bytes, how: str, seed: int) -> bytes:
    rng = random.Random(seed)
    if how == "truncate":
        return data[: rng.randrange(len(data))]
    if how == "shuffle-lines":
        lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        rng.shuffle(lines)
        return b"\n".join(lines)
    if how == "flip-bytes":
        mutable = bytearray(data)
        for _ in range(rng.randrange(1, 8)):
            mutable[rng.randrange(len(mutable))] = rng.randrange(256)
        return bytes(mutable)
    return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))  # random


@settings(max_examples=200, deadline=None)
@given(how=st.sampled_from(["truncate", "shuffle-lines", "flip-bytes", "random"]), seed=st.integers(0, 10**6))
def test_simplereport_parser_never_crashes(how, seed):
    data = damage((SAMPLES / "simplereport.csv").read_bytes(), how, seed)
    outcome = ParseOutcome(problems=[])
    text = io.StringIO(data.decode("utf-8", "replace"), newline="")
    results = list(parse_simplereport(text, ZONE, NOW, outcome))
    for result in results:
        assert isinstance(result, LabResult) and result.accession and result.collected_at <= NOW
        assert result.result in ("positive", "negative", "inconclusive")
    for problem in outcome.problems:
        assert "Okafor" not in str(problem) and "2006" not in str(problem)


def _counts(db) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in metadata.sorted_tables}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(SAMPLE_FILES), how=st.sampled_from(["truncate", "shuffle-lines", "flip-bytes", "random"]),
       seed=st.integers(0, 10**6))
def test_damaged_files_import_whole_or_not_at_all(db, tmp_path_factory, name, how, seed):
    db.reset()
    import_roster(db.engine, write_export(tmp_path_factory.mktemp("roster")), date(2021, 8, 16))
    path = tmp_path_factory.mktemp("lab") / name
    path.write_bytes(damage((SAMPLES / name).read_bytes(), how, seed))
    before = _counts(db)
    try:
        summary = import_results(db.engine, path, "auto", ZONE, now=NOW)
    except (InputRejected, SchoolpassError):
        assert _counts(db) == before  # refused: nothing written
        return
    after = _counts(db)
    assert after["lab_results"] == before["lab_results"] + summary.new
    assert after["result_imports"] == before["result_imports"] + 1
