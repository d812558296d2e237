"""One lab result, as every parser hands it over, whatever the format it came in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple


class LabResult(NamedTuple):
    """A normalized result. Times are timezone-aware (naive lab times are read in the district's zone).

    A NamedTuple, not a dataclass: a million of them are made per large file.
    """

    source_ref: str  # where it came from in its file: "line 12", "message 3", "entry 5"
    patient_ids: tuple[str, ...]  # every id the lab gave for the patient (PID-3 repetitions, identifiers)
    given_name: str | None
    family_name: str | None
    birth_date: date | None
    accession: str
    performing_lab: str  # the performing lab's CLIA (or other id) where given, else ""
    test_code: str  # LOINC
    result: str  # positive | negative | inconclusive
    result_code: str | None  # the code as the lab sent it (e.g. SNOMED CT)
    result_text: str | None  # the text as the lab sent it
    collected_at: datetime
    resulted_at: datetime | None
    corrected: bool  # HL7 OBX-11 C, SimpleReport test_result_status C, FHIR corrected/amended


@dataclass(frozen=True)
class ParseProblem:
    """A bad record: where (e.g. "line 7" or "message 3, OBX") and what, without personal values."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class ParseOutcome:
    """What a parser tells besides the results: problems (refuse the file) and skipped analytes."""

    problems: list[ParseProblem]
    skipped_analytes: int = 0  # observations outside the program's test codes (e.g. flu in a panel)
    # Reading a file in parts (staging.staged_csv_part): the text stopped being readable (an
    # unreadable CSV or non-UTF-8 text: only the whole file's reading says where), and whether a
    # part that stops before the file's end really ends where a record ends.
    stopped: bool = False
    part_aligned: bool = False
