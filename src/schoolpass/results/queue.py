"""The unmatched queue: results that matched nobody, and staff resolving them (recorded who and when)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Connection, Engine, insert, select, update

from schoolpass.errors import NotFound, SchoolpassError
from schoolpass.results.models import LabResult, MatchEvent
from schoolpass.roster.people import kind_of


@dataclass(frozen=True)
class WaitingResult:
    id: int
    accession_number: str
    lab: str
    test_code: str
    patient_ids: list[str]
    given_name: str | None
    family_name: str | None
    birth_date: date | None
    collected_on: date
    reason: str | None

    def as_dict(self) -> dict:
        return {
            "id": self.id, "accession_number": self.accession_number, "lab": self.lab,
            "test_code": self.test_code, "patient_ids": self.patient_ids,
            "name": " ".join(filter(None, [self.given_name, self.family_name])) or None, "given_name": self.given_name,
            "family_name": self.family_name, "birth_date": self.birth_date.isoformat() if self.birth_date else None,
            "collected_on": self.collected_on.isoformat(), "reason": self.reason,
        }


def unmatched(conn: Connection) -> list[WaitingResult]:
    rows = conn.execute(
        select(LabResult.__table__).where(LabResult.person_id.is_(None))
        .order_by(LabResult.collected_on, LabResult.id)
    )
    return [
        WaitingResult(r.id, r.accession, r.lab, r.test_code, json.loads(r.patient_ids), r.given_name, r.family_name,
                      r.birth_date, r.collected_on, r.unmatched_reason)
        for r in rows
    ]


def _result(conn: Connection, result_id: int):
    found = conn.execute(
        select(LabResult.id, LabResult.person_id).where(LabResult.id == result_id).with_for_update()
    ).first()
    if found is None:
        raise NotFound(f"no result with id {result_id}")
    return found


def match(engine: Engine, result_id: int, person_id: str, by: str, now: datetime | None = None) -> None:
    """Staff attach a result to a student or staff member."""
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        result = _result(conn, result_id)
        person = kind_of(conn, person_id)
        if person is None:
            raise NotFound(f"no person with sourcedId {person_id} in the roster")
        if person not in ("student", "staff"):
            raise SchoolpassError(f"{person_id} is not a student or staff member; results belong to them only")
        if result.person_id == person_id:
            raise SchoolpassError(f"result {result_id} is already matched to {person_id}")
        conn.execute(update(LabResult).where(LabResult.id == result_id).values(
            person_id=person_id, match_method="staff", unmatched_reason=None, staff_only=False))
        conn.execute(insert(MatchEvent).values(result_id=result_id, action="match", person_id=person_id,
                                               previous_person_id=result.person_id, by=by, at=now))


def unmatch(engine: Engine, result_id: int, by: str, now: datetime | None = None) -> str:
    """Undo a wrong match: the result goes back to the queue, for staff only. Returns the former person."""
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        result = _result(conn, result_id)
        if result.person_id is None:
            raise SchoolpassError(f"result {result_id} is not matched to anyone")
        conn.execute(update(LabResult).where(LabResult.id == result_id).values(
            person_id=None, match_method=None, staff_only=True,
            unmatched_reason=f"unmatched by staff from {result.person_id}; resolve by hand"))
        conn.execute(insert(MatchEvent).values(result_id=result_id, action="unmatch", person_id=None,
                                               previous_person_id=result.person_id, by=by, at=now))
        return result.person_id
