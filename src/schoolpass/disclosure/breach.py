"""Breach scope: which disclosures in a window the roster, as known now, did not authorize.

Every ledger entry whose `on_date` is in [from, to] is replayed against the one authorization
rule (`roster.authorization`), evaluated for the entry's own run date with the roster as
known now: a custody correction recorded later but backdated to before a send makes that
send unauthorized. The entry's `subject_id` is whom the message really disclosed (its link
token's subject), so a rendering bug cannot hide here either.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Connection, Date, bindparam, text

from schoolpass.disclosure.ledger import FIELDS
from schoolpass.roster.authorization import ADULT_AGE, active, authorized_pairs, born_by_for_age, in_force
from schoolpass.storage.sql import typed

# HIPAA breach notification (45 CFR 164.404-408): 500 or more people -> HHS within 60 days;
# more than 500 residents of a State -> prominent media outlets too.
HHS_THRESHOLD = 500


@dataclass
class BreachScope:
    first: date
    last: date
    examined: int = 0
    unauthorized: list[dict] = field(default_factory=list)

    @property
    def affected_subjects(self) -> list[str]:
        return sorted({e["subject_id"] for e in self.unauthorized})

    @property
    def wrong_recipients(self) -> list[str]:
        return sorted({e["address"].lower() for e in self.unauthorized})

    def as_dict(self) -> dict:
        affected = len(self.affected_subjects)
        return {
            "from": self.first.isoformat(), "to": self.last.isoformat(), "examined": self.examined,
            "unauthorized": self.unauthorized, "affected_subjects": self.affected_subjects,
            "wrong_recipients": self.wrong_recipients,
            "counts": {"unauthorized": len(self.unauthorized), "affected_subjects": affected,
                       "wrong_recipients": len(self.wrong_recipients)},
            "hipaa_thresholds": {"affected": affected, "hhs_notice_within_60_days": affected >= HHS_THRESHOLD,
                                 "media_notice_if_one_state": affected > HHS_THRESHOLD},
        }


def _entries(conn: Connection, first: date, last: date):
    columns = ", ".join((*FIELDS, "hash"))
    statement = text(f"SELECT {columns} FROM ledger_entries WHERE on_date >= :first AND on_date <= :last "
                     "ORDER BY seq").bindparams(bindparam("first", type_=Date), bindparam("last", type_=Date))
    return conn.execution_options(stream_results=True, yield_per=20000).execute(
        statement, {"first": first, "last": last})


def breach_scope(conn: Connection, first: date, last: date) -> BreachScope:
    scope = BreachScope(first, last)
    by_day: dict[date, list[tuple]] = defaultdict(list)
    for row in _entries(conn, first, last):
        day = row.on_date if isinstance(row.on_date, date) else date.fromisoformat(row.on_date)
        by_day[day].append(tuple(row))
        scope.examined += 1
    names = (*FIELDS, "hash")
    for day in sorted(by_day):
        rows = by_day.pop(day)
        subject_at = names.index("subject_id")
        address_at = names.index("address")
        allowed = authorized_pairs(conn, day, {r[subject_at] for r in rows})
        for r in rows:
            if (r[subject_at], r[address_at].lower()) not in allowed:
                entry = dict(zip(names, r))
                entry["on_date"] = day.isoformat()
                entry["reason"] = why_unauthorized(conn, day, entry["subject_id"], entry["address"])
                scope.unauthorized.append(entry)
    scope.unauthorized.sort(key=lambda e: e["seq"])
    return scope


def why_unauthorized(conn: Connection, on: date, subject_id: str, address: str) -> str:
    """A plain reason, from the roster as known now for that day (ids only, never personal values)."""
    params = {"on": on, "s": subject_id, "a": address.lower()}
    subject = conn.execute(typed(f"""
        SELECT p.kind, p.health_notices, lower(coalesce(p.email, '')) AS email,
               ({active('p')}) AS is_active, b.birth_date
        FROM person_versions p
        LEFT JOIN birth_date_versions b ON b.sourced_id = p.sourced_id AND {in_force('b', None)}
        WHERE p.sourced_id = :s AND {in_force('p', None)}""", on=Date), params).first()
    if subject is None or not subject.is_active or subject.kind not in ("student", "staff"):
        return f"{subject_id} had no active student or staff record on {on}"
    if subject.health_notices == "deny":
        return f"{subject_id} is marked deny: no notice about them may go to anyone"
    contact = conn.execute(typed(f"""
        SELECT c.sourced_id, c.contact_role, c.health_notices, ({active('c')}) AS is_active,
               EXISTS (SELECT 1 FROM person_agents pa JOIN person_versions s
                         ON s.sourced_id = pa.person_sourced_id AND s.payload_hash = pa.payload_hash
                       WHERE pa.person_sourced_id = :s AND pa.agent_sourced_id = c.sourced_id
                         AND {in_force('s', None)})
               OR EXISTS (SELECT 1 FROM person_agents pa
                       WHERE pa.person_sourced_id = c.sourced_id AND pa.payload_hash = c.payload_hash
                         AND pa.agent_sourced_id = :s) AS linked
        FROM person_versions c
        WHERE lower(c.email) = :a AND c.sourced_id <> :s AND {in_force('c', None)}
        ORDER BY c.sourced_id""", on=Date), params).all()
    linked = [c for c in contact if c.linked]
    if any(c.health_notices == "deny" for c in linked):
        return f"the address belongs to a contact denied for {subject_id}"
    is_minor = subject.kind == "student" and (subject.birth_date is None or
                                               str(subject.birth_date) > str(born_by_for_age(on, ADULT_AGE)))
    if subject.email == address.lower():
        return f"sent to {subject_id} themself, who was under 18 on {on}" if is_minor else \
            f"{subject_id}'s own address was not usable on {on}"
    if not is_minor and linked:
        return f"{subject_id} was 18 or over (or staff) on {on}: notices go to them, not to contacts"
    if linked:
        roles = sorted({c.contact_role or "contact" for c in linked})
        if any(not c.is_active for c in linked):
            return f"the address belongs to a linked contact whose record was not active on {on}"
        return f"the address belongs to a linked {'/'.join(roles)}, who receives no notices"
    return f"the address belongs to no contact linked to {subject_id} on {on}"
