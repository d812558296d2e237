"""Four weeks of a synthetic district's screening results, every file, all three formats, end to end."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from schoolpass.results.importer import import_results
from schoolpass.results.models import LabResult
from schoolpass.roster.importer import import_roster
from schoolpass.synth.district import write_district, write_screening


def test_synthetic_weeks_import_as_the_generator_says(db, tmp_path):
    out = tmp_path / "district"
    write_district(out, students=1200, seed=5)
    stats = write_screening(out, weeks=2, seed=5)
    import_roster(db.engine, out / "roster", date(2021, 8, 16))
    totals = {"new": 0, "duplicates": 0, "corrected": 0, "skipped": 0}
    for path in sorted((out / "results").iterdir()):  # day by day; csv, hl7, json within a day
        summary = import_results(db.engine, path, "auto", ZoneInfo("America/Los_Angeles"))
        totals["new"] += summary.new
        totals["duplicates"] += summary.duplicates
        totals["corrected"] += summary.corrected
        totals["skipped"] += summary.skipped_analytes
    with db.engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(LabResult)).scalar()
        waiting = conn.execute(select(func.count()).select_from(LabResult).where(LabResult.person_id.is_(None))
                               ).scalar()
        revised = conn.execute(select(func.count()).select_from(LabResult).where(LabResult.revision > 1)).scalar()
    assert stored == totals["new"] == stats.distinct
    assert totals["duplicates"] == stats.duplicates
    assert totals["corrected"] == revised == stats.corrections
    assert totals["skipped"] == stats.flu_analytes
    # Unknown people and namesakes wait; so do id matches the roster cannot confirm (no birth date on record).
    assert waiting == stats.unknown_people + stats.ambiguous_names + stats.no_roster_birth_date
