"""The sample district with staff accounts of every role, for the staff console tests.

Sample roster: sch-1 Harbor Elementary (s-1 María García, s-2 Luis García, t-1 Karen White),
sch-2 Vista High School (s-3 Thao Nguyen, s-4 Jide Okafor).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from argon2 import PasswordHasher
from sqlalchemy import insert, select

from schoolpass.notices.models import HELD, UNDELIVERABLE, Notice, NoticeRun, OutboxMessage
from schoolpass.results.importer import import_results
from schoolpass.web import accounts
from tests.notices.district import ZONE, load_results, load_roster
from tests.results.files import person, simplereport
from tests.roster.exports import SAMPLE

PASSWORD = "correct horse battery"
RUN_DAY = "2021-11-22"
# Staff accounts: key -> (email, role, schools). "nurse-2" is the nurse of the other school.
STAFF = {
    "district-admin": ("admin@district.example.org", "district-admin", []),
    "school-admin": ("principal@harbor.example.org", "school-admin", ["sch-1"]),
    "nurse": ("nurse@harbor.example.org", "nurse", ["sch-1"]),
    "auditor": ("auditor@district.example.org", "auditor", []),
    "viewer": ("viewer@district.example.org", "viewer", []),
    "nurse-2": ("nurse@vista.example.org", "nurse", ["sch-2"]),
}
# A lab result for somebody the roster does not know: it waits in the unmatched queue.
STRANGER = ("777777", "Quentin", "Zabriskie", "03/05/2012")


def cheap_hasher() -> PasswordHasher:
    """Argon2id with tiny costs: the same code paths, a fraction of the CPU (tests only)."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def personal_values() -> list[str]:
    """Every name, email and birth date in the sample roster (and the stranger's), in the forms pages could use."""
    values: set[str] = set()
    with open(SAMPLE / "users.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            values.update(v for v in (row["givenName"], row["familyName"], row["email"]) if v)
    with open(SAMPLE / "demographics.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            day = date.fromisoformat(row["birthDate"])
            values.update({day.isoformat(), day.strftime("%m/%d/%Y")})
    values.update(STRANGER[1:])
    values.add(date(2012, 3, 5).isoformat())
    return sorted(values)


@dataclass
class District:
    db: object
    ids: dict[str, int] = field(default_factory=dict)  # staff key -> account id
    unmatched_id: int = 0


def load_district(db, tmp_path: Path, capsys, sink_url: str | None = None) -> District:
    """Roster, results (s-1 positive, s-3 negative, one unmatched), a daily run when a sink is given,
    a held notice about s-2 (sch-1) and an undeliverable one about s-4 (sch-2), and every staff account."""
    load_roster(db.engine)
    load_results(db.engine, tmp_path, [("s-1", "Detected", "11/20/2021"), ("s-3", "Not Detected", "11/20/2021")])
    lab_id, first, last, dob = STRANGER
    path = simplereport(tmp_path / "stranger.csv", [person(
        lab_id, first, last, dob, "T-stranger-1", test_result="Detected",
        specimen_collection_date="11/21/2021 08:00", test_result_date="11/21/2021 09:00", order_test_date="11/21/2021",
        testing_lab_specimen_received_date="11/21/2021", date_result_released="11/21/2021", test_result_status="F")])
    from zoneinfo import ZoneInfo

    import_results(db.engine, path, "auto", ZoneInfo(ZONE))
    if sink_url:
        from tests.cli import run

        assert run(capsys, "--db", db.url, "daily", "--on", RUN_DAY, "--smtp", sink_url).code == 0
    _follow_up_rows(db.engine)
    district = District(db)
    for key, (email, role, schools) in STAFF.items():
        district.ids[key] = accounts.add_account(db.engine, email, role, PASSWORD, schools).id
    from schoolpass.results.models import LabResult

    with db.engine.connect() as conn:
        district.unmatched_id = conn.execute(select(LabResult.id).where(LabResult.person_id.is_(None))).scalar_one()
    return district


def _follow_up_rows(engine) -> None:
    now = datetime.now(UTC)
    day = date.fromisoformat(RUN_DAY)
    with engine.begin() as conn:
        run_id = conn.execute(insert(NoticeRun).values(on_date=day, started_at=now, policy_sha256="0" * 64,
                                                       state="verified").returning(NoticeRun.id)).scalar_one()
        for subject, state, reason in (("s-2", HELD, "s-2 is marked deny: held for staff"),
                                       ("s-4", UNDELIVERABLE, "no authorized address for s-4")):
            notice_id = conn.execute(insert(Notice).values(
                run_id=run_id, on_date=day, kind="test-overdue", subject_id=subject,
                once_key=f"test-follow-up:{subject}").returning(Notice.id)).scalar_one()
            conn.execute(insert(OutboxMessage).values(
                notice_id=notice_id, run_id=run_id, on_date=day, kind="test-overdue", subject_id=subject,
                language="en", message_id=f"<follow-up-{subject}@test>", state=state, reason=reason))


def csrf_of(page_text: str) -> str:
    return page_text.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def sign_in(client, key_or_email: str, password: str = PASSWORD, code: str = ""):
    email = STAFF[key_or_email][0] if key_or_email in STAFF else key_or_email
    page = client.get("/staff/login")
    return client.post("/staff/login", data={"email": email, "password": password, "code": code,
                                             "csrf": csrf_of(page.text)}, follow_redirects=False)
