"""HL7 v2.5.1 ORU^R01 (ELR) lab results, read as a stream of messages.

A message whose patient, accession, result or collection time cannot be read is a bad record:
it yields nothing and its problems are listed in the outcome (without any personal value).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from schoolpass.results.codes import interpret, program_test_codes
from schoolpass.results.hl7_tokens import (
    Encoding,
    component,
    field,
    is_segment_id,
    iter_messages,
    iter_segments,
    read_encoding,
    repetitions,
    split_fields,
)
from schoolpass.results.records import LabResult, ParseOutcome, ParseProblem

CODED_TYPES = frozenset({"CWE", "CE", "CNE", "CF", ""})  # OBX-2 values whose OBX-5 is code^text
TEXT_TYPES = frozenset({"ST", "TX", "FT"})

_TS = re.compile(
    r"([0-9]{4})([0-9]{2})([0-9]{2})"
    r"(?:([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:\.([0-9]{1,6})[0-9]*)?)?)?)?"
    r"(?:([+-])([0-9]{2})([0-9]{2}))?\Z"
)
_BIRTH = re.compile(r"[0-9]{8}")


def parse_hl7(lines: Iterable[str], zone: ZoneInfo, now: datetime, outcome: ParseOutcome,
              test_codes: frozenset[str] | None = None, first_number: int = 1) -> Iterator[LabResult]:
    """The program's results in an ELR file; bad messages go to `outcome.problems` instead.

    `lines` may be an open text file (read in 1 MB chunks) or any iterable of text pieces;
    segments end in CR, LF or CRLF. Times without an offset are read in `zone`. Messages are
    numbered from `first_number` (a part of a file read on its own: the messages before it, plus 1).
    """
    test_codes = program_test_codes() if test_codes is None else test_codes
    if now.tzinfo is None:
        now = now.replace(tzinfo=zone)
    for number, segments in enumerate(iter_messages(iter_segments(lines)), first_number):
        reader = _MessageReader(number, zone, now, test_codes)
        try:
            results = reader.read(segments)
        except Exception:  # a guard: whatever the input, a bad message is a problem, not a crash
            reader.problem("", "message could not be read")
            results = []
        if reader.problems:
            outcome.problems.extend(reader.problems)
            continue
        outcome.skipped_analytes += reader.skipped
        yield from results


class _Patient:
    __slots__ = ("ids", "given", "family", "birth_date")

    def __init__(self, ids: tuple[str, ...], given: str | None, family: str | None, birth_date: date | None):
        self.ids, self.given, self.family, self.birth_date = ids, given, family, birth_date


class _Order:
    """One ORDER_OBSERVATION group: its ORC, OBR, OBX and SPM segments (as field lists)."""

    __slots__ = ("patient", "orc", "obr", "observations", "specimens")

    def __init__(self, patient: _Patient | None):
        self.patient = patient
        self.orc: list[str] | None = None
        self.obr: list[str] | None = None
        self.observations: list[list[str]] = []
        self.specimens: list[list[str]] = []


class _MessageReader:
    def __init__(self, number: int, zone: ZoneInfo, now: datetime, test_codes: frozenset[str]):
        self.number = number
        self.zone = zone
        self.now = now
        self.test_codes = test_codes
        self.problems: list[ParseProblem] = []
        self.skipped = 0
        self.enc: Encoding

    def problem(self, segment: str, what: str) -> None:
        where = f"message {self.number}, {segment}" if segment else f"message {self.number}"
        found = ParseProblem(where, what)
        if found not in self.problems:
            self.problems.append(found)

    # -- the message, segment by segment

    def read(self, segments: list[str]) -> list[LabResult]:
        enc = read_encoding(segments[0])
        if enc is None:
            if segments[0].startswith("MSH"):
                self.problem("MSH", "MSH-1/MSH-2 encoding characters are not valid")
            else:
                self.problem("MSH", "message does not start with an MSH segment")
            return []
        self.enc = enc
        msh = split_fields(segments[0], enc)
        message_type = field(msh, 9)
        if component(message_type, enc, 1) != "ORU" or component(message_type, enc, 2) != "R01":
            self.problem("MSH", "MSH-9 is not ORU^R01")
            return []

        orders = self.gather(segments)
        if not any(order.observations for order in orders):
            self.problem("OBX", "no OBX segment (no result)")
        lab = component(field(msh, 4), enc, 2)
        results = []
        for order in orders:
            for obx in order.observations:
                result = self.read_observation(order, obx, lab)
                if result is not None:
                    results.append(result)
        return results

    def gather(self, segments: list[str]) -> list[_Order]:
        """The message's order groups, each with the patient of the PID before it."""
        patient: _Patient | None = None
        seen_pid = False
        orders: list[_Order] = []
        order: _Order | None = None
        separator = self.enc.field
        for position, text in enumerate(segments[1:], 2):
            name = text[:3]
            if not is_segment_id(name) or text[3:4] not in (separator, ""):
                self.problem("", f"segment {position} is not an HL7 segment")
                continue
            if name == "PID":
                seen_pid = True
                patient = self.read_patient(text.split(separator))
                order = None
            elif name == "ORC" or (name == "OBR" and (order is None or order.obr is not None or order.observations)):
                order = _Order(patient)
                orders.append(order)
            elif name in ("OBX", "SPM") and order is None:
                order = _Order(patient)
                orders.append(order)
            if order is None:
                continue
            if name == "OBX":
                order.observations.append(text.split(separator))
            elif name == "OBR":
                order.obr = text.split(separator)
            elif name == "SPM":
                order.specimens.append(text.split(separator))
            elif name == "ORC":
                order.orc = text.split(separator)
        if not seen_pid:
            self.problem("PID", "PID segment is missing")
        return orders

    def read_patient(self, pid: list[str]) -> _Patient | None:
        enc = self.enc
        ids = []
        for rep in repetitions(field(pid, 3), enc):
            value = component(rep, enc, 1).strip()
            if value and value not in ids:
                ids.append(value)
        name = field(pid, 5)
        family = component(name, enc, 1).strip() or None
        given = component(name, enc, 2).strip() or None
        birth_date = self.read_birth_date(component(field(pid, 7), enc, 1).strip())
        if birth_date is False:
            return None
        if not ids and not (family and given and birth_date):
            self.problem("PID", "no patient id (PID-3) and no full name and birth date (PID-5, PID-7)")
            return None
        return _Patient(tuple(ids), given, family, birth_date)

    def read_birth_date(self, text: str) -> date | None | bool:
        """The birth date, None when not given, False (and a problem) when unreadable."""
        if not text:
            return None
        if _BIRTH.match(text) is None:
            self.problem("PID", "PID-7 is not a date")
            return False
        try:
            born = date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        except ValueError:
            self.problem("PID", "PID-7 is not a date")
            return False
        if born > self.now.astimezone(self.zone).date():
            self.problem("PID", "PID-7 is in the future")
            return False
        return born

    # -- one observation

    def read_observation(self, order: _Order, obx: list[str], lab: str) -> LabResult | None:
        enc = self.enc
        test = field(obx, 3)
        code = component(test, enc, 1).strip()
        if code not in self.test_codes:
            alternate = component(test, enc, 4).strip()
            if alternate in self.test_codes and component(test, enc, 6).strip() == "LN":
                code = alternate
            else:
                self.skipped += 1
                return None

        value_type = component(field(obx, 2), enc, 1).strip().upper()
        value = field(obx, 5)
        if value_type in TEXT_TYPES or value_type not in CODED_TYPES:
            result_code, result_text = "", component(value, enc, 1).strip()
        else:
            result_code, result_text = component(value, enc, 1).strip(), component(value, enc, 2).strip()
        if not result_code and not result_text:
            self.problem("OBX", "OBX-5 (result) is empty")

        accession = self.read_accession(order)
        collected_at = self.read_collected_at(order, obx)
        resulted_at = self.read_resulted_at(order, obx)
        if order.patient is None or accession is None or collected_at is None or resulted_at is False:
            return None
        if self.problems:
            return None
        performing_lab = (
            component(field(obx, 23), enc, 10).strip() or component(field(obx, 15), enc, 1).strip() or lab.strip()
        )
        patient = order.patient
        return LabResult(
            source_ref=f"message {self.number}",
            patient_ids=patient.ids,
            given_name=patient.given,
            family_name=patient.family,
            birth_date=patient.birth_date,
            accession=accession,
            performing_lab=performing_lab,
            test_code=code,
            result=interpret(result_code, result_text),
            result_code=result_code or None,
            result_text=result_text or None,
            collected_at=collected_at,
            resulted_at=resulted_at,
            corrected=component(field(obx, 11), enc, 1).strip() == "C",
        )

    def read_accession(self, order: _Order) -> str | None:
        enc = self.enc
        for fields, number in ((order.obr, 3), (order.orc, 3)):
            if fields is not None:
                value = component(field(fields, number), enc, 1).strip()
                if value:
                    return value
        for spm in order.specimens:
            identifier = field(spm, 2)
            value = component(identifier, enc, 2, 1).strip() or component(identifier, enc, 1, 1).strip()
            if value:
                return value
        self.problem("OBR", "no accession number (OBR-3, ORC-3 and SPM-2 are empty)")
        return None

    def read_collected_at(self, order: _Order, obx: list[str]) -> datetime | None:
        enc = self.enc
        candidates = [(spm, "SPM", 17) for spm in order.specimens]
        if order.obr is not None:
            candidates.append((order.obr, "OBR", 7))
        candidates.append((obx, "OBX", 14))
        for fields, segment, number in candidates:
            text = component(field(fields, number), enc, 1, 1).strip()
            if not text:
                continue
            when = parse_ts(text, self.zone)
            if when is None:
                self.problem(segment, f"{segment}-{number} is not a date/time")
                return None
            if when > self.now:
                self.problem(segment, f"{segment}-{number} (collection time) is in the future")
                return None
            return when
        self.problem("OBX", "no specimen collection time (SPM-17, OBR-7 and OBX-14 are empty)")
        return None

    def read_resulted_at(self, order: _Order, obx: list[str]) -> datetime | None | bool:
        """The result time, None when not given, False (and a problem) when unreadable."""
        enc = self.enc
        candidates = [(obx, "OBX", 19)] if order.obr is None else [(order.obr, "OBR", 22), (obx, "OBX", 19)]
        for fields, segment, number in candidates:
            text = component(field(fields, number), enc, 1, 1).strip()
            if text:
                when = parse_ts(text, self.zone)
                if when is None:
                    self.problem(segment, f"{segment}-{number} is not a date/time")
                    return False
                return when
        return None


@lru_cache(maxsize=4096)
def parse_ts(text: str, zone: ZoneInfo) -> datetime | None:
    """An HL7 TS value (at least a full date) as an aware datetime; without an offset it is in `zone`."""
    match = _TS.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, sign, off_hours, off_minutes = match.groups()
    tz = zone if sign is None else _offset(sign, off_hours, off_minutes)
    if tz is None:
        return None
    try:
        return datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
            int((fraction or "0").ljust(6, "0")), tzinfo=tz,
        )
    except ValueError:
        return None


@lru_cache(maxsize=256)
def _offset(sign: str, hours: str, minutes: str) -> timezone | None:
    if int(hours) > 14 or int(minutes) > 59:
        return None
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    return timezone(-delta if sign == "-" else delta)
