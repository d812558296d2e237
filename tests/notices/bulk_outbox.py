"""Filling a test database's outbox with many planned messages, quickly and the way production does.

`fill_outbox(engine, tmp_path, n)` writes a OneRoster 1.1 export of N minor students (one school from the
sample orgs), each with one parent at a distinct address, imports it, imports one negative SimpleReport
result per student, and plans the day with the real planner (`plan_day`, then the whole-run check), so
the outbox holds exactly N `planned` result-available messages, one per student. Nothing is sent.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from schoolpass.notices.models import PLANNED, OutboxMessage
from schoolpass.notices.planning import RESULT_AVAILABLE, plan_day, record_plan_summary
from schoolpass.notices.run_check import check_run
from schoolpass.policy.model import default_policy
from schoolpass.results.importer import import_results
from schoolpass.roster.importer import import_roster
from tests.results.files import person, simplereport
from tests.roster.exports import read_sample, write_export

ON = date(2021, 11, 22)  # the run date the messages are planned for
COLLECTED = "11/20/2021"  # results collected two days before, inside the notice window
SCHOOL = "sch-1"
ZONE = ZoneInfo("America/Los_Angeles")
MAIL_FROM = "schoolpass@localhost"

_GIVEN = ["Ana", "Luis", "Mei", "Omar", "Sofia", "Jamal", "Priya", "Noah", "Lena", "Diego", "Aiko", "Samuel"]
_FAMILY = ["Alvarez", "Baker", "Chen", "Diallo", "Evans", "Fischer", "Gupta", "Haddad", "Ito", "Johnson",
           "Kowalski", "Lopez", "Mensah", "Novak", "Okoro", "Petrov", "Quinn", "Rossi", "Sato", "Tran"]


def student_id(n: int) -> str:
    return f"bs-{n:05d}"


def parent_address(n: int) -> str:
    return f"parent{n:05d}@families.example.net"


def _people(count: int) -> tuple[list[dict[str, str]], list[dict[str, str]], list[tuple[str, str, str, str]]]:
    """(users rows, demographics rows, lab rows as (identifier, given, family, birth date MM/DD/YYYY))."""
    users, demographics, lab = [], [], []
    for n in range(count):
        sid, pid, identifier = student_id(n), f"bp-{n:05d}", f"7{n:06d}"
        given = _GIVEN[n % len(_GIVEN)]
        family = _FAMILY[(n // len(_GIVEN)) % len(_FAMILY)]
        born = date(2008 + n % 6, 1 + n % 12, 1 + n % 28)  # 8 to 13 years old on ON: minors
        users.append({"sourcedId": sid, "enabledUser": "true", "orgSourcedIds": SCHOOL, "role": "student",
                      "username": f"student{n:05d}", "givenName": given, "familyName": family,
                      "identifier": identifier, "agentSourcedIds": pid, "grades": f"{3 + n % 6:02d}"})
        users.append({"sourcedId": pid, "enabledUser": "true", "orgSourcedIds": SCHOOL, "role": "parent",
                      "givenName": f"Parent{n}", "familyName": family, "email": parent_address(n),
                      "agentSourcedIds": sid, "metadata.language": "es" if n % 5 == 0 else ""})
        demographics.append({"sourcedId": sid, "birthDate": born.isoformat(), "sex": "female" if n % 2 else "male"})
        lab.append((identifier, given, family, born.strftime("%m/%d/%Y")))
    return users, demographics, lab


def fill_outbox(engine: Engine, tmp_path: Path, count: int, *, on: date = ON) -> int:
    """Plan `count` result-available messages (one per student, each to its own parent); returns the run id."""
    work = Path(tmp_path) / f"bulk-{count}"
    users, demographics, lab = _people(count)
    orgs = [row for row in read_sample("orgs.csv") if row["sourcedId"] in ("d-1", SCHOOL)]
    export = write_export(work / "roster", users=users, orgs=orgs, demographics=demographics)
    import_roster(engine, export, date(2021, 8, 1))

    rows = [person(identifier, given, family, dob, f"BULK-{n:06d}", test_result="Not Detected",
                   specimen_collection_date=f"{COLLECTED} 08:00", test_result_date=f"{COLLECTED} 09:00",
                   order_test_date=COLLECTED, testing_lab_specimen_received_date=COLLECTED,
                   date_result_released=COLLECTED, test_result_status="F")
            for n, (identifier, given, family, dob) in enumerate(lab)]
    import_results(engine, simplereport(work / "results.csv", rows), "auto", ZONE)

    with engine.begin() as conn:
        plan = plan_day(conn, on, default_policy(), "test", MAIL_FROM)
        violations = check_run(conn, plan.run_id, on)
        assert not violations, f"the whole-run check refused the bulk plan: {violations[:3]}"
        record_plan_summary(conn, plan, "verified")
    with engine.connect() as conn:
        planned = conn.execute(select(OutboxMessage.kind, func.count()).where(OutboxMessage.state == PLANNED)
                               .group_by(OutboxMessage.kind)).all()
    assert dict(planned) == {RESULT_AVAILABLE: count}, f"expected {count} planned result-available messages, " \
                                                       f"got {dict(planned)} (plan: {plan.as_dict()})"
    return plan.run_id
