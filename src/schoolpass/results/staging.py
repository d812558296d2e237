"""Turning a lab file into rows for the staging tables, batch by batch.

`staged_batches` is a producer for schoolpass.background.Batches: for a large file it
runs in a second process, so parsing overlaps with loading.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import operator
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from schoolpass.csvrecords import Records
from schoolpass.results import simplereport
from schoolpass.results.codes import interpret
from schoolpass.results.formats import parser_for
from schoolpass.results.records import ParseOutcome, ParseProblem
from schoolpass.roster.names import fold_name
from schoolpass.storage.instants import bulk_instant
from schoolpass.textfiles import non_utf8_line_of

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
    """Batches of (stage_results rows, to_match_ids rows); returns the ParseOutcome.

    A SimpleReport CSV goes straight from its rows to staging rows (row_no = the record's line);
    the other formats through their parsers' LabResults (row_no = the result's position).
    """
    if fmt == "simplereport-csv":
        return (yield from staged_csv_part(path, zone, now, dialect, test_codes, 0, None, size))
    outcome = ParseOutcome(problems=[])
    with parser_for(fmt, path, zone, now, outcome, test_codes) as results:
        yield from staged_results(results, zone, dialect, size)
    return outcome


def staged_results(results, zone: ZoneInfo, dialect: str, size: int = 20000, first_row: int = 1):
    """Staging batches of parsed LabResults (row_no = the result's position, from `first_row`)."""
    instants = _Instants(dialect, zone)
    postgres = dialect == "postgresql"
    rows: list[tuple] = []
    ids: list[tuple] = []
    for count, r in enumerate(results, start=first_row):
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


# -- HL7 in two parts (one process each), split where a message starts

# A part's results are numbered from its index times this (row_no orders a file's results; a part of
# a lab file holds far fewer, and it stays inside PostgreSQL's INTEGER).
PART_ROWS = 1_000_000_000
_MESSAGE_START = re.compile(rb"[\r\n]MSH")


def hl7_split(path: Path) -> int:
    """Where a second part of an HL7 file may start: the first message (a segment MSH at a line start)
    after the middle; 0 when there is none. Segments hold no line ends, so a part never cuts one."""
    size = path.stat().st_size
    with open(path, "rb") as raw:
        raw.seek(size // 2)
        tail = raw.read(1 << 20)
    found = _MESSAGE_START.search(tail)
    return size // 2 + found.start() + 1 if found else 0


COUNT_CHUNK = 1 << 22  # bytes read at a time when counting messages
_BATCH_HEADS = tuple(end + head for head in (b"FHS", b"BHS", b"BTS", b"FTS") for end in (b"\r", b"\n"))


def messages_before(path: Path, offset: int) -> int:
    """How many messages one pass over the HL7 file reads before `offset`, a message start after the first.

    When the file starts with MSH and has no batch envelope there, each message is an MSH segment, so
    the segment starts are counted on the bytes (CR, LF and MSH are single bytes in UTF-8): ~0.05 s for
    18 MB against ~0.24 s to read its segments. Otherwise it reads them, as the parser would."""
    counted = 0
    with open(path, "rb") as raw:
        first = raw.read(6)
        if first.removeprefix(b"\xef\xbb\xbf")[:3] == b"MSH":
            raw.seek(0)
            left, carried = offset, b""
            while left > 0:
                chunk = raw.read(min(left, COUNT_CHUNK))
                if not chunk:
                    break
                left -= len(chunk)
                data = carried + chunk  # a segment start cut by the chunk's edge is whole here, once
                if any(head in data for head in _BATCH_HEADS):
                    break  # messages inside a batch envelope: read them
                counted += data.count(b"\nMSH") + data.count(b"\rMSH")
                carried = data[-3:]
            else:
                return counted + 1  # the first message, at the file's start
        from schoolpass.results.hl7_tokens import iter_messages, iter_segments

        raw.seek(0)
        head = io.TextIOWrapper(io.BufferedReader(_Span(raw, offset), 1 << 20), encoding="utf-8",
                                errors="replace", newline="")
        return sum(1 for _ in iter_messages(iter_segments(head)))


def staged_hl7_part(path: Path, zone: ZoneInfo, now: datetime, dialect: str, test_codes: frozenset[str],
                    index: int, start: int, end: int | None, size: int = 20000):
    """Staging batches of the HL7 file's bytes [start, end) (part `index`); returns its ParseOutcome.
    Its messages are numbered after those before `start`, as one pass over the file numbers them."""
    from schoolpass.results.hl7 import parse_hl7

    outcome = ParseOutcome(problems=[])
    before = messages_before(path, start) if start else 0
    with open(path, "rb") as raw:
        raw.seek(start)
        text = io.TextIOWrapper(io.BufferedReader(_Span(raw, end if end is not None else 1 << 62), 1 << 20),
                                encoding="utf-8", errors="replace", newline="")
        try:
            results = parse_hl7(text, zone, now, outcome, test_codes, first_number=before + 1)
            yield from staged_results(results, zone, dialect, size, first_row=index * PART_ROWS + 1)
        finally:
            text.close()
    return outcome


# -- SimpleReport CSV, straight to staging rows, whole or in parts (one process each)

# Ends the text of a part that is not the file's last: read as a record of its own exactly when
# the part ends where a record ends (inside a quoted field it becomes part of that field).
_PART_END = "\ufdd0schoolpass: end of part\ufdd0"
_STATUSES = frozenset({"", "F", "C", "P", "f", "c", "p"})


class _Span(io.RawIOBase):
    """The bytes of a binary file from where it stands up to `end`."""

    def __init__(self, raw, end: int):
        self.raw = raw
        self.left = end - raw.tell()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.left <= 0:
            return 0
        count = self.raw.readinto(memoryview(buffer)[:min(len(buffer), self.left)])
        self.left -= count
        return count


def csv_split(path: Path) -> int:
    """Where a second part of a SimpleReport CSV may start: just after the line end nearest the middle
    (0: no such place). Whether a record really ends there is checked by reading the first part."""
    size = path.stat().st_size
    with open(path, "rb") as raw:
        raw.seek(size // 2)
        tail = raw.read(1 << 20)
    found = tail.find(b"\n")
    if found < 0 or size // 2 + found + 1 >= size:
        return 0
    return size // 2 + found + 1


def _lines_before(path: Path, offset: int) -> int:
    """How many lines a CSV reader counts in the file's first `offset` bytes (CR, LF or CRLF ends)."""
    lines = 0
    ends_with_cr = False
    with open(path, "rb") as raw:
        left = offset
        while left > 0:
            chunk = raw.read(min(left, 1 << 24))
            if not chunk:
                break
            left -= len(chunk)
            lines += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
            if ends_with_cr and chunk[:1] == b"\n":
                lines -= 1  # a CRLF split between two chunks
            ends_with_cr = chunk[-1:] == b"\r"
    return lines


def _picker(header: list[str]):
    """(pick, width) for the file's header, or the problem with it (as the CSV reader says it)."""
    index = {name.strip(): i for i, name in enumerate(header)}
    required, any_of = simplereport.READ, (simplereport.SEX_COLUMNS,)
    missing = [c for c in required if c not in index]
    missing += [f"{group[0]} (or {', '.join(group[1:])})" for group in any_of if not any(c in index for c in group)]
    if missing:
        return "missing column" + ("s " if len(missing) > 1 else " ") + ", ".join(missing)
    pick = operator.itemgetter(*(index.get(c, len(header)) for c in required + simplereport.OPTIONAL))
    return pick, len(header) + 1


def staged_csv_part(path: Path, zone: ZoneInfo, now: datetime, dialect: str, test_codes: frozenset[str] | None,
                    start: int, end: int | None, size: int = 20000):
    """Staging batches of the SimpleReport CSV's bytes [start, end) (the whole file: 0, None): the results
    of `test_codes` (every test's when None; the others are counted as skipped analytes).

    `start` is 0 or a line start from `csv_split`; a part that stops before the end of the file
    says in its outcome whether a record really ends there (`part_aligned`). Returns the outcome;
    `stopped` when the text could not be read on (then only the whole file's reading is exact).
    """
    outcome = ParseOutcome(problems=[])
    with open(path, "rb") as raw:
        if start:
            with open(path, encoding="utf-8-sig", newline="") as head:
                try:
                    header = next(csv.reader(head), None)
                except (csv.Error, UnicodeDecodeError):
                    header = None
            picked = _picker(header) if header is not None else "no header"
            if isinstance(picked, str):  # the first part reports it
                outcome.stopped = True
                return outcome
            base = _lines_before(path, start)
            raw.seek(start)
        if start or end is not None:
            text = io.TextIOWrapper(io.BufferedReader(_Span(raw, end if end is not None else 1 << 62), 1 << 20),
                                    encoding="utf-8" if start else "utf-8-sig", newline="")
        else:  # the whole file, read as the parsers read it
            text = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed with raw below
        try:
            result = yield from _read_part(text, start, end, base if start else 0, picked if start else None,
                                           zone, now, dialect, test_codes, size, outcome)
        finally:
            text.close()
    return result


def _read_part(text, start: int, end: int | None, base: int, picked, zone: ZoneInfo, now: datetime, dialect: str,
               test_codes: frozenset[str] | None, size: int, outcome: ParseOutcome):
    problems = outcome.problems
    lines = itertools.chain(text, (_PART_END + "\n",)) if end is not None else text
    reader = Records(lines)
    if not start:
        try:
            header = next(reader, None)
        except csv.Error as exc:
            problems.append(ParseProblem("line 1", f"unreadable CSV ({exc})"))
            outcome.stopped = True
            return outcome
        except UnicodeDecodeError:
            problems.append(ParseProblem(f"line {non_utf8_line_of(text)}", "not UTF-8 text"))
            outcome.stopped = True
            return outcome
        if header is None or header == [_PART_END]:
            problems.append(ParseProblem("line 1", "the file is empty; a header row is required"))
            outcome.stopped = True
            return outcome
        picked = _picker(header)
        if isinstance(picked, str):
            problems.append(ParseProblem("line 1", picked))
            outcome.stopped = True
            return outcome
        first = 2
    else:
        first = base + 1
    pick, width = picked
    try:
        yield from _csv_rows(reader, pick, width, base, first, zone, now, dialect, test_codes, outcome, size,
                             end is not None)
    except UnicodeDecodeError:
        problems.append(ParseProblem(f"line {non_utf8_line_of(text) if not start else 0}", "not UTF-8 text"))
        outcome.stopped = True
    return outcome


def _csv_rows(reader, pick, width: int, base: int, first: int, zone: ZoneInfo, now: datetime, dialect: str,
              test_codes: frozenset[str] | None, outcome: ParseOutcome, size: int, ends_part: bool):
    """The rows of a CSV reader as staging batches. Values are cached by their text (dates, results and
    names repeat); a row any check fails goes through simplereport's own check for its problems."""
    problems = outcome.problems
    times = simplereport._Times(zone)
    postgres = dialect == "postgresql"
    births: dict[str, str | None] = {}
    moments: dict[str, tuple] = {}  # text -> (readable, in the future, stored form, district day)
    readings: dict[str, tuple] = {}  # test_result -> (result, code, text)
    statuses = _STATUSES
    every_test = test_codes is None
    padding = [""] * width
    strip = str.strip
    fold = fold_name
    rows: list[tuple] = []
    ids: list[tuple] = []
    append, append_id = rows.append, ids.append
    start = first
    try:
        for row in reader:
            line = start
            start = base + reader.line_num + 1
            if len(row) < width:
                if ends_part and row == [_PART_END]:
                    outcome.part_aligned = next(reader, None) is None
                    break
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                row += padding[len(row):]
            (patient_id, family, given, dob_text, accession, test_code, result_text, collected_text,
             resulted_text, lab, status) = map(strip, pick(row))
            if dob_text:
                birth = births.get(dob_text, False)
                if birth is False:
                    day = times.day(dob_text)
                    birth = births[dob_text] = day.isoformat() if day is not None else None
                good = birth is not None
            else:
                birth = None
                good = True
            collected = moments.get(collected_text)
            if collected is None:
                collected = moments[collected_text] = _moment(times, collected_text, now, zone, dialect)
            if resulted_text:
                resulted = moments.get(resulted_text)
                if resulted is None:
                    resulted = moments[resulted_text] = _moment(times, resulted_text, now, zone, dialect)
                resulted_at = resulted[2]
                good = good and resulted[0]
            else:
                resulted_at = None
            if status in statuses:
                corrected = status == "C" or status == "c"
            else:
                corrected = status.upper() == "C"
                good = good and status.upper() in ("", "F", "C", "P")
            if not (good and accession and test_code and result_text and collected[0] and not collected[1]
                    and (patient_id or (given and family and birth))):
                if simplereport._check_row(f"line {line}", list(map(strip, pick(row))), times, now,
                                           problems) is None:
                    continue
            if every_test is False and test_code not in test_codes:
                outcome.skipped_analytes += 1
                continue
            reading = readings.get(result_text)
            if reading is None:
                code = result_text if result_text.isdigit() else None
                reading = readings[result_text] = (interpret(code, None if code else result_text), code,
                                                   None if code else result_text)
            if patient_id:
                append_id((line, patient_id))
                id_text = ('["' + patient_id + '"]' if patient_id.isascii() and patient_id.isalnum()
                           else id_list((patient_id,)))
            else:
                id_text = "[]"
            append((
                line, lab, accession, test_code, id_text, given or None, family or None, birth, reading[0],
                reading[1], reading[2], collected[2], collected[3], resulted_at,
                corrected if postgres else int(corrected), f"line {line}", fold(given), fold(family),
            ))
            if len(rows) >= size:
                yield rows, ids
                rows, ids = [], []
                append, append_id = rows.append, ids.append
    except csv.Error as exc:
        problems.append(ParseProblem(f"line {start}", f"unreadable CSV ({exc})"))
        outcome.stopped = True
    if rows:
        yield rows, ids


def _moment(times, text: str, now: datetime, zone: ZoneInfo, dialect: str) -> tuple:
    moment = times.moment(text) if text else None
    if moment is None:
        return (False, False, None, None)
    return (True, moment > now, bulk_instant(moment, dialect), moment.astimezone(zone).date().isoformat())
