"""Statuses from the database: one person's, or everyone's on a day (set-based), and the day's report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import groupby
from operator import itemgetter

from sqlalchemy import Connection, Date
from sqlalchemy.exc import DBAPIError

from schoolpass.errors import NotFound, SchoolpassError
from schoolpass.policy.model import Policy
from schoolpass.policy.status import (Facts, LatestResult, Outcome, ResultForStatus, Status, decide, facts_from,
                                      outcome)
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
    """The status of every active student and staff member on a day, from three set-based queries.

    The facts come from SQL as the driver gives them (SQLite: days as text); people with the same
    facts on the same day share one `outcome` (a 500k-student district has a few hundred distinct
    facts), so the per-person work is a lookup and a Status.
    """
    positives: dict[str, tuple] = {}  # person -> collection days of their positives, ascending
    # (This first query also begins the connection's transaction: the driver-level reads below share it.)
    for person_id, days in groupby(conn.execute(_on(
            "SELECT person_id, collected_on FROM lab_results WHERE person_id IS NOT NULL AND result = 'positive' "
            "AND collected_on <= :on ORDER BY person_id, collected_on"), {"on": on}), key=itemgetter(0)):
        positives[person_id] = tuple(day for _, day in days)
    # The results of each person's last day, in one pass over an index, each with the person's last
    # negative day: its own day for a negative, else looked up (by index; few people are not negative).
    # All results of a day carry the same last negative day. Of several results on the last day the
    # latest (collected_at, id) is the latest result.
    latest: dict[str, tuple] = {}  # person -> the row of their latest result
    for row in _driver_rows(conn, """
        SELECT l.person_id,
               CASE WHEN r.result = 'negative' THEN r.collected_on
                    ELSE (SELECT max(n.collected_on) FROM lab_results n
                          WHERE n.person_id = l.person_id AND n.collected_on <= :on AND n.result = 'negative') END,
               r.result, r.collected_on, r.test_code, r.collected_at, r.id
        FROM (SELECT person_id, max(collected_on) AS last_day
              FROM lab_results WHERE person_id IS NOT NULL AND collected_on <= :on GROUP BY person_id) l
        JOIN lab_results r ON r.person_id = l.person_id AND r.collected_on = l.last_day""", on):
        seen = latest.setdefault(row[0], row)
        if seen is not row and seen[5:] < row[5:]:  # (collected_at, id)
            latest[row[0]] = row
    # Each person's facts as a key: (last_negative, result, collected_on, test_code), and with
    # positives ((last_negative, result, collected_on, test_code), positive days); none: no results.
    facts_of: dict[str, tuple] = {person_id: row[1:5] for person_id, row in latest.items()}
    del latest
    for person_id, days in positives.items():
        facts_of[person_id] = (facts_of.get(person_id), days)
    day = _Days()
    decided: dict[tuple | None, Outcome] = {}
    for (person_id,) in _driver_rows(conn, (
            f"SELECT p.sourced_id FROM person_versions p WHERE {in_force('p', None)} AND {active('p')} "
            "AND p.kind IN ('student', 'staff') ORDER BY p.sourced_id"), on):
        facts = facts_of.get(person_id)
        known = decided.get(facts)
        if known is None:
            known = decided[facts] = outcome(on, _facts(facts, day), policy, explain)
        yield Status(person_id, on, *known)


def _driver_rows(conn: Connection, sql: str, on: date, batch: int = 10_000) -> Iterator[tuple]:
    """The rows of `sql` (one :on parameter) as the driver's tuples, fetched in batches.

    Everyone's status reads about a million rows at 500k students, where a SQLAlchemy Row per row
    costs more than the work done with it. Runs in the connection's transaction, which the caller
    must have begun (any `conn.execute` does); driver errors surface as SQLAlchemy's.
    """
    dbapi_error = conn.dialect.loaded_dbapi.Error
    if conn.dialect.name == "sqlite":
        params: dict = {"on": on.isoformat()}  # as the Date type stores it
    else:
        sql, params = sql.replace(":on", "%(on)s"), {"on": on}
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(batch):
            yield from rows
    except dbapi_error as failure:
        raise DBAPIError.instance(sql, params, failure, dbapi_error) from failure
    finally:
        cursor.close()


def _facts(facts: tuple | None, day: _Days) -> Facts:
    """A key of `everyone`'s facts (raw values from its queries) as `Facts`."""
    latest, positive_days = facts if facts is not None and len(facts) == 2 else (facts, ())
    decided = Facts([day(d) for d in positive_days])
    if latest is not None:
        last_negative, result, collected_on, test_code = latest
        decided.latest_negative = day(last_negative)
        decided.latest = LatestResult(result, day(collected_on), test_code)
    return decided


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
