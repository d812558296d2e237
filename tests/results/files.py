"""Writing lab files for tests, starting from the shared samples."""

from __future__ import annotations

import csv
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "results"


def sample_rows() -> tuple[list[str], list[dict[str, str]]]:
    with open(SAMPLES / "simplereport.csv", encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames), list(reader)


def simplereport(path: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> Path:
    """A SimpleReport CSV with the sample's header; each row starts from the sample's first row."""
    sample_header, samples = sample_rows()
    header = header or sample_header
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({**samples[0], **row})
    return path


def person(patient_id: str, first: str, last: str, dob: str, accession: str, **more: str) -> dict[str, str]:
    return {"patient_id": patient_id, "patient_first_name": first, "patient_last_name": last, "patient_dob": dob,
            "accession_number": accession, **more}
