"""Which parser reads a lab file: chosen by the user, or detected from the content (never the name)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from schoolpass.errors import SchoolpassError
from schoolpass.results.records import LabResult, ParseOutcome

FORMATS = ("simplereport-csv", "hl7", "fhir")


def detect_format(path: Path) -> str:
    with open(path, "rb") as raw:
        head = raw.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{"):
        return "fhir"
    if head[:3] in (b"MSH", b"FHS", b"BHS"):  # HL7 v2 messages, or a batch of them
        return "hl7"
    first_line = head.split(b"\n", 1)[0]
    if b"accession_number" in first_line and b"," in first_line:
        return "simplereport-csv"
    raise SchoolpassError(f"{path.name}: cannot tell the format (not a FHIR bundle, HL7 v2 messages or a "
                          "SimpleReport CSV); name it with --format")


@contextmanager
def parser_for(fmt: str, path: Path, zone: ZoneInfo, now: datetime, outcome: ParseOutcome,
               test_codes: frozenset[str]) -> Iterator[Iterator[LabResult]]:
    """The results in the file, streamed by the parser for `fmt`."""
    if fmt == "simplereport-csv":
        from schoolpass.results.simplereport import parse_simplereport

        with open(path, encoding="utf-8-sig", newline="") as text:
            yield parse_simplereport(text, zone, now, outcome, test_codes)
    elif fmt == "hl7":
        from schoolpass.results.hl7 import parse_hl7

        with open(path, encoding="utf-8", errors="replace", newline="") as text:
            yield parse_hl7(text, zone, now, outcome, test_codes)
    elif fmt == "fhir":
        from schoolpass.results.fhir import parse_fhir

        with open(path, "rb") as raw:
            yield parse_fhir(raw, zone, now, outcome, test_codes)
    else:
        raise SchoolpassError(f"unknown format {fmt}; use one of auto, {', '.join(FORMATS)}")
