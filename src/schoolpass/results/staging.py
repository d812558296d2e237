"""Turning a lab file into rows for the staging tables, batch by batch.

`staged_batches` is a producer for schoolpass.background.Batches: for a large file it
runs in a second process, so parsing overlaps with loading.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from schoolpass.results.formats import parser_for
from schoolpass.results.records import ParseOutcome
from schoolpass.roster.names import fold_name
from schoolpass.storage.types import bulk_instant

STAGE_COLUMNS = (
    "row_no", "lab", "accession", "test_code", "patient_ids", "given_name", "family_name", "birth_date",
    "result", "result_code", "result_text", "collected_at", "collected_on", "resulted_at", "corrected",
    "source_ref", "given_key", "family_key",
)
ID_COLUMNS = ("ref", "patient_id")


class _Instants:
    """Each distinct lab time converted once: to the stored form and to the district's day."""

    def __init__(self, dialect: str, zone: ZoneInfo):
        self.dialect = dialect
        self.zone = zone
        self.seen: dict[datetime, tuple[object, str]] = {}

    def __call__(self, moment: datetime) -> tuple[object, str]:
        found = self.seen.get(moment)
        if found is None:
            if len(self.seen) > 100000:
                self.seen.clear()
            found = self.seen[moment] = (bulk_instant(moment, self.dialect),
                                         moment.astimezone(self.zone).date().isoformat())
        return found


def id_list(ids: tuple[str, ...]) -> str:
    """The lab's patient ids as a JSON list (plain ids skip the JSON encoder: this runs per result)."""
    if all(i.isalnum() or i.replace("-", "").replace(".", "").replace("_", "").isalnum() for i in ids) \
            and all(i.isascii() for i in ids):
        return "[" + ",".join(f'"{i}"' for i in ids) + "]"
    return json.dumps(list(ids), ensure_ascii=False)


def staged_batches(fmt: str, path: Path, zone: ZoneInfo, now: datetime, dialect: str, test_codes: frozenset[str],
                   size: int = 20000):
    """Batches of (stage_results rows, to_match_ids rows); returns the ParseOutcome."""
    outcome = ParseOutcome(problems=[])
    instants = _Instants(dialect, zone)
    postgres = dialect == "postgresql"
    rows: list[tuple] = []
    ids: list[tuple] = []
    with parser_for(fmt, path, zone, now, outcome, test_codes) as results:
        for count, r in enumerate(results, start=1):
            collected, collected_on = instants(r.collected_at)
            rows.append((
                count, r.performing_lab, r.accession, r.test_code, id_list(r.patient_ids), r.given_name,
                r.family_name, r.birth_date.isoformat() if r.birth_date else None, r.result, r.result_code,
                r.result_text, collected, collected_on,
                instants(r.resulted_at)[0] if r.resulted_at else None,
                r.corrected if postgres else int(r.corrected), r.source_ref,
                fold_name(r.given_name), fold_name(r.family_name),
            ))
            ids.extend((count, patient_id) for patient_id in r.patient_ids)
            if len(rows) >= size:
                yield rows, ids
                rows, ids = [], []
    yield rows, ids
    return outcome
