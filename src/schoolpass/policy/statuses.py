"""Statuses from the database: one person's, or everyone's on a day (set-based), and the day's report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Connection, Date, String

from schoolpass.errors import NotFound, SchoolpassError
from schoolpass.policy.model import Policy
from schoolpass.policy.status import Facts, LatestResult, ResultForStatus, Status, decide, facts_from
from schoolpass.results.models import LabResult
from schoolpass.roster.authorization import active, in_force
from schoolpass.roster.people import kind_of
from schoolpass.storage.sql import typed

STATUSES = ("cleared", "test-due", "isolating", "exempt")


def _on(sql: str, **types):
    """SQL with a typed :on parameter; `types` declare result columns (SQLite returns dates as text)."""
    statement = typed(sql, on=Date)
    return statement.columns(**types) if types else statement


class _Days:
    """Days as date objects: SQLite returns them as text, and a district has only a few hundred distinct ones."""

    def __init__(self) -> None:
        self.seen: dict[str, date] = {}

    def __call__(self, value):
        if value is None or isinstance(value, date):
            return value
        found = self.seen.get(value)
        if found is None:
            found = self.seen[value] = date.fromisoformat(value)
        return found


def status_of(conn: Connection, person_id: str, on: date, policy: Policy) -> Status:
    """One student's or staff member's status on a day, from their results known now."""
    kind = kind_of(conn, person_id)
    if kind is None:
        raise NotFound(f"no person with sourcedId {person_id} in the roster")
    if kind not in ("student", "staff"):
        raise SchoolpassError(f"{person_id} is not a student or staff member; the program has no status for them")
    rows = conn.execute(
        LabResult.__table__.select().where(LabResult.person_id == person_id, LabResult.collected_on <= on)
    ).all()
    results = [ResultForStatus(r.id, r.result, r.collected_at, r.collected_on, r.test_code) for r in rows]
    return decide(person_id, on, facts_from(results, on), policy)


def everyone(conn: Connection, on: date, policy: Policy, explain: bool = False) -> Iterator[Status]:
    """The status of every active student and staff member on a day, from three set-based queries."""
    params = {"on": on}
    # Each person's last negative day and the results of their last day, in one pass over an index.
    negatives: dict[str, date | None] = {}
    latest: dict[str, LatestResult] = {}
    rows = conn.execute(_on("""
        SELECT l.person_id, l.last_negative, r.result, r.collected_on, r.test_code
        FROM (SELECT person_id, max(collected_on) AS last_day,
                     max(CASE WHEN result = 'negative' THEN collected_on END) AS last_negative
              FROM lab_results WHERE person_id IS NOT NULL AND collected_on <= :on GROUP BY person_id) l
        JOIN lab_results r ON r.person_id = l.person_id AND r.collected_on = l.last_day
        ORDER BY r.person_id, r.collected_at, r.id""",  # the last row of a person is their latest result
            ), params).all()
    day = _Days()
    for person_id, last_negative, result, collected_on, test_code in rows:
        negatives[person_id] = day(last_negative)
        latest[person_id] = LatestResult(result, day(collected_on), test_code)
    del rows
    positives: dict[str, list[date]] = {}
    for person_id, day in conn.execute(_on(
            "SELECT person_id, collected_on FROM lab_results WHERE person_id IS NOT NULL AND result = 'positive' "
            "AND collected_on <= :on ORDER BY person_id, collected_on", person_id=String, collected_on=Date), params):
        positives.setdefault(person_id, []).append(day)
    subjects = conn.execute(_on(
        f"SELECT p.sourced_id FROM person_versions p WHERE {in_force('p', None)} AND {active('p')} "
        "AND p.kind IN ('student', 'staff') ORDER BY p.sourced_id"), params).scalars()
    for person_id in subjects:
        facts = Facts(positives.get(person_id, []), negatives.get(person_id), latest.get(person_id))
        yield decide(person_id, on, facts, policy, explain=explain)


@dataclass
class DayReport:
    on: date
    by_status: Counter = field(default_factory=Counter)
    by_school: dict[str, Counter] = field(default_factory=dict)  # school sourcedId -> status counts
    school_names: dict[str, str] = field(default_factory=dict)
    changed: list[tuple[str, str, str]] = field(default_factory=list)  # (person, yesterday, today)

    def as_dict(self) -> dict:
        return {
            "on": self.on.isoformat(),
            "by_status": {s: self.by_status.get(s, 0) for s in STATUSES},
            "by_school": [{"id": sid, "name": self.school_names.get(sid, ""),
                           **{s: counts.get(s, 0) for s in STATUSES}} for sid, counts in sorted(self.by_school.items())],
            "changed_since_yesterday": [{"id": p, "was": a, "now": b} for p, a, b in self.changed],
        }


def day_report(conn: Connection, on: date, policy: Policy) -> DayReport:
    """Counts by status and school on a day, and who changed status since the day before."""
    report = DayReport(on)
    today = {s.id: s.status for s in everyone(conn, on, policy)}
    yesterday = {s.id: s.status for s in everyone(conn, on - timedelta(days=1), policy)}
    schools: dict[str, list[str]] = {}
    for person_id, school_id, name in conn.execute(_on(f"""
            SELECT p.sourced_id, o.sourced_id, o.name FROM person_versions p
            JOIN person_schools ps ON ps.person_sourced_id = p.sourced_id AND ps.payload_hash = p.payload_hash
            JOIN org_versions o ON o.sourced_id = ps.org_sourced_id AND {in_force('o', None)}
            WHERE {in_force('p', None)} AND p.kind IN ('student', 'staff')"""), {"on": on}):
        schools.setdefault(person_id, []).append(school_id)
        report.school_names[school_id] = name
    for person_id, status in today.items():
        report.by_status[status] += 1
        for school_id in schools.get(person_id, []):
            report.by_school.setdefault(school_id, Counter())[status] += 1
        before = yesterday.get(person_id)
        if before is not None and before != status:
            report.changed.append((person_id, before, status))
    return report
