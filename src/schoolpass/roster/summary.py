"""A roster at a glance on one day: people by role and school, contacts, privacy flags, adults."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Connection, Date, text

from schoolpass.roster.authorization import ADULT_AGE, active, born_by_for_age, in_force
from schoolpass.storage.sql import typed


@dataclass
class RosterSummary:
    on: date
    by_role: dict[str, int] = field(default_factory=dict)
    by_school: list[tuple[str, str, int, int]] = field(default_factory=list)  # id, name, students, staff
    linked_contacts: int = 0
    denied_contacts: int = 0
    denied_subjects: int = 0
    students_18_plus: int = 0
    students_without_birth_date: int = 0
    imports: int = 0

    def as_dict(self) -> dict:
        return {
            "on": self.on.isoformat(),
            "by_role": self.by_role,
            "by_school": [{"id": i, "name": n, "students": s, "staff": t} for i, n, s, t in self.by_school],
            "linked_contacts": self.linked_contacts,
            "denied_contacts": self.denied_contacts,
            "denied_subjects": self.denied_subjects,
            "students_18_plus": self.students_18_plus,
            "students_without_birth_date": self.students_without_birth_date,
            "imports": self.imports,
        }


def _query(conn: Connection, sql: str, on: date, **params):
    return conn.execute(typed(sql, on=Date, adult_born_by=Date), {"on": on, **params})


def roster_summary(conn: Connection, on: date) -> RosterSummary:
    summary = RosterSummary(on=on)
    people = f"person_versions p WHERE {in_force('p', None)} AND {active('p')}"
    summary.by_role = {role: n for role, n in _query(
        conn, f"SELECT p.role, count(*) FROM {people} GROUP BY p.role ORDER BY p.role", on)}
    summary.by_school = [tuple(row) for row in _query(conn, f"""
        SELECT o.sourced_id, o.name,
               sum(CASE WHEN p.kind = 'student' THEN 1 ELSE 0 END),
               sum(CASE WHEN p.kind = 'staff' THEN 1 ELSE 0 END)
        FROM org_versions o
        JOIN person_schools ps ON ps.org_sourced_id = o.sourced_id
        JOIN person_versions p ON p.sourced_id = ps.person_sourced_id AND p.payload_hash = ps.payload_hash
        WHERE {in_force('o', None)} AND o.type = 'school' AND {in_force('p', None)} AND {active('p')}
        GROUP BY o.sourced_id, o.name ORDER BY o.name, o.sourced_id""", on)]
    summary.linked_contacts = _query(conn, f"""
        SELECT count(DISTINCT p.sourced_id) FROM {people} AND p.kind = 'contact'
        AND (EXISTS (SELECT 1 FROM person_agents pa WHERE pa.person_sourced_id = p.sourced_id
                     AND pa.payload_hash = p.payload_hash)
             OR EXISTS (SELECT 1 FROM person_agents pa WHERE pa.agent_sourced_id = p.sourced_id))""",
                                     on).scalar()
    summary.denied_contacts = _query(
        conn, f"SELECT count(*) FROM {people} AND p.contact_role IS NOT NULL AND p.health_notices = 'deny'", on
    ).scalar()
    summary.denied_subjects = _query(
        conn, f"SELECT count(*) FROM {people} AND p.kind IN ('student', 'staff') AND p.health_notices = 'deny'", on
    ).scalar()
    students = (f"{people} AND p.kind = 'student'")
    born_by = born_by_for_age(on, ADULT_AGE)
    summary.students_18_plus = _query(conn, f"""
        SELECT count(*) FROM {students} AND EXISTS (SELECT 1 FROM birth_date_versions b
        WHERE b.sourced_id = p.sourced_id AND {in_force('b', None)} AND b.birth_date <= :adult_born_by)""",
                                      on, adult_born_by=born_by).scalar()
    summary.students_without_birth_date = _query(conn, f"""
        SELECT count(*) FROM {students} AND NOT EXISTS (SELECT 1 FROM birth_date_versions b
        WHERE b.sourced_id = p.sourced_id AND {in_force('b', None)} AND b.birth_date IS NOT NULL)""", on).scalar()
    summary.imports = conn.execute(text("SELECT count(*) FROM roster_imports")).scalar()
    return summary
