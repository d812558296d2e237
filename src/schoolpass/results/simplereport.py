"""SimpleReport bulk-upload CSV: one result per row, streamed, any number of rows.

Column names are those of SimpleReport's published template. Dates come as
`MM/DD/YYYY`, `M/D/YYYY`, `MM/DD/YYYY HH:MM` (optionally with AM/PM) or ISO 8601;
times without a zone are read in the district's zone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import TextIO
from zoneinfo import ZoneInfo

from schoolpass.results.codes import interpret, program_test_codes
from schoolpass.results.records import LabResult, ParseOutcome, ParseProblem
from schoolpass.csvrows import read_rows

READ = [
    "patient_id", "patient_last_name", "patient_first_name", "patient_dob", "accession_number",
    "test_performed_code", "test_result", "specimen_collection_date", "test_result_date", "testing_lab_clia",
]
OPTIONAL = ["test_result_status"]
SEX_COLUMNS = ("patient_sex", "patient_gender")

_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?$")
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?)?$")


class _Times:
    """Parses and caches the date and time texts of one file (they repeat a great deal)."""

    def __init__(self, zone: ZoneInfo):
        self.zone = zone
        self.moments: dict[str, datetime | None] = {}
        self.days: dict[str, date | None] = {}

    def moment(self, text: str) -> datetime | None:
        if text not in self.moments:
            self.moments[text] = self._moment(text)
        return self.moments[text]

    def day(self, text: str) -> date | None:
        if text not in self.days:
            found = self._moment(text)
            self.days[text] = found.date() if found is not None else None
        return self.days[text]

    def _moment(self, text: str) -> datetime | None:
        try:
            match = _US.match(text)
            if match:
                month, day, year, hour, minute, second, half = match.groups()
                hour_value = int(hour or 0)
                if half:
                    if not 1 <= hour_value <= 12:
                        return None
                    hour_value = hour_value % 12 + (12 if half.lower() == "pm" else 0)
                return datetime.combine(date(int(year), int(month), int(day)),
                                        time(hour_value, int(minute or 0), int(second or 0)), self.zone)
            match = _ISO.match(text)
            if match:
                year, month, day, hour, minute, second, offset = match.groups()
                moment = datetime.combine(date(int(year), int(month), int(day)),
                                          time(int(hour or 0), int(minute or 0), int(second or 0)))
                if offset:
                    return datetime.fromisoformat(moment.isoformat() + ("+00:00" if offset == "Z" else offset))
                return moment.replace(tzinfo=self.zone)
        except ValueError:
            return None
        return None


def parse_simplereport(
    text: TextIO, zone: ZoneInfo, now: datetime, outcome: ParseOutcome,
    test_codes: frozenset[str] | None = None,
) -> Iterator[LabResult]:
    test_codes = program_test_codes() if test_codes is None else test_codes
    times = _Times(zone)
    problems = outcome.problems

    def report(line: int, what: str) -> None:
        problems.append(ParseProblem(f"line {line}", what))

    for line, values in read_rows(text, READ, OPTIONAL, report, any_of=(SEX_COLUMNS,)):
        where = f"line {line}"
        checked = _check_row(where, values, times, now, problems)
        if checked is None:
            continue
        (patient_id, family, given, _dob, accession, test_code, result_text, _collected, _resulted, lab,
         status) = values
        birth_date, collected_at, resulted_at = checked
        if test_code not in test_codes:
            outcome.skipped_analytes += 1
            continue
        code = result_text if result_text.isdigit() else None
        yield LabResult(
            source_ref=where,
            patient_ids=(patient_id,) if patient_id else (),
            given_name=given or None,
            family_name=family or None,
            birth_date=birth_date,
            accession=accession,
            performing_lab=lab,
            test_code=test_code,
            result=interpret(code, None if code else result_text),
            result_code=code,
            result_text=None if code else result_text,
            collected_at=collected_at,
            resulted_at=resulted_at,
            corrected=status.upper() == "C",
        )


def _check_row(where: str, values, times: _Times, now: datetime, problems: list[ParseProblem]):
    """(birth date, collected at, resulted at) of a good row; None, with its problems listed, for a bad one."""
    (patient_id, family, given, dob_text, accession, test_code, result_text, collected_text,
     resulted_text, lab, status) = values
    bad = len(problems)
    if not accession:
        problems.append(ParseProblem(where, "accession_number is empty"))
    if not test_code:
        problems.append(ParseProblem(where, "test_performed_code is empty"))
    if not result_text:
        problems.append(ParseProblem(where, "test_result is empty"))
    birth_date = None
    if dob_text:
        birth_date = times.day(dob_text)
        if birth_date is None:
            problems.append(ParseProblem(where, "patient_dob is not a date"))
    if not patient_id and not (given and family and birth_date):
        problems.append(ParseProblem(where, "no patient_id, and no full name with patient_dob"))
    collected_at = times.moment(collected_text) if collected_text else None
    if not collected_text:
        problems.append(ParseProblem(where, "specimen_collection_date is empty"))
    elif collected_at is None:
        problems.append(ParseProblem(where, "specimen_collection_date is not a date"))
    elif collected_at > now:
        problems.append(ParseProblem(where, "specimen_collection_date is in the future"))
    resulted_at = times.moment(resulted_text) if resulted_text else None
    if resulted_text and resulted_at is None:
        problems.append(ParseProblem(where, "test_result_date is not a date"))
    if status.upper() not in ("", "F", "C", "P"):
        problems.append(ParseProblem(where, "test_result_status must be F or C"))
    if len(problems) > bad:
        return None
    return birth_date, collected_at, resulted_at
