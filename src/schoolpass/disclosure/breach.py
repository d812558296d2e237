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

from sqlalchemy import Connection, Date, bindparam

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
    """(seq, on_date, subject_id, address) of every entry in the window, streamed."""
    return conn.execution_options(stream_results=True, yield_per=50000).execute(
        typed("SELECT seq, on_date, subject_id, address FROM ledger_entries "
              "WHERE on_date >= :first AND on_date <= :last", first=Date, last=Date).columns(on_date=Date),
        {"first": first, "last": last})


def changing_subjects(conn: Connection, first: date, last: date) -> set[str]:
    """Subjects whose authorization may change inside (first, last], as the roster is known now.

    A version of their own record, their birth date, or a linked contact's record that starts
    or ends inside the window, or an 18th birthday inside it. Everyone else is authorized on
    every day of the window exactly as on its last day (an over-approximation is harmless:
    those subjects are checked day by day).
    """
    inside = ("(({a}.valid_from > :first AND {a}.valid_from <= :last) OR ({a}.valid_to > :first AND {a}.valid_to <= :last)"
              " OR ({a}.active_from > :first AND {a}.active_from <= :last)"
              " OR ({a}.active_until >= :first AND {a}.active_until < :last))")
    birth_inside = "((b.valid_from > :first AND b.valid_from <= :last) OR (b.valid_to > :first AND b.valid_to <= :last))"
    sql = f"""
        SELECT p.sourced_id FROM person_versions p WHERE p.rec_to IS NULL AND {inside.format(a='p')}
        UNION SELECT b.sourced_id FROM birth_date_versions b WHERE b.rec_to IS NULL AND {birth_inside}
        UNION SELECT b.sourced_id FROM birth_date_versions b
              WHERE b.rec_to IS NULL AND b.birth_date > :born_after AND b.birth_date <= :born_by
        UNION SELECT pa.person_sourced_id FROM person_versions c JOIN person_agents pa ON pa.agent_sourced_id = c.sourced_id
              WHERE c.rec_to IS NULL AND c.kind = 'contact' AND {inside.format(a='c')}
        UNION SELECT pa.agent_sourced_id FROM person_versions c JOIN person_agents pa
              ON pa.person_sourced_id = c.sourced_id AND pa.payload_hash = c.payload_hash
              WHERE c.rec_to IS NULL AND c.kind = 'contact' AND {inside.format(a='c')}"""
    params = {"first": first, "last": last, "born_after": born_by_for_age(first, ADULT_AGE),
              "born_by": born_by_for_age(last, ADULT_AGE)}
    return set(conn.execute(typed(sql, first=Date, last=Date, born_after=Date, born_by=Date), params).scalars())


def breach_scope(conn: Connection, first: date, last: date) -> BreachScope:
    scope = BreachScope(first, last)
    changing = changing_subjects(conn, first, last)
    steady: set[str] = set()
    moving: dict[date, set[str]] = defaultdict(set)
    entries = []
    for seq, day, subject, address in _entries(conn, first, last):
        entries.append((seq, day, subject, address))
        if subject in changing:
            moving[day].add(subject)
        else:
            steady.add(subject)
    scope.examined = len(entries)
    # One pass for everyone whose authorization cannot change in the window; day by day for the rest.
    allowed_steady = authorized_pairs(conn, last, steady)
    allowed_moving = {day: authorized_pairs(conn, day, subjects) for day, subjects in moving.items()}
    suspects = [e for e in entries
                if (e[2], e[3].lower()) not in (allowed_moving[e[1]] if e[2] in changing else allowed_steady)]
    del entries
    if suspects:
        columns = ", ".join((*FIELDS, "hash"))
        statement = typed(f"SELECT {columns} FROM ledger_entries WHERE seq IN :seqs").bindparams(
            bindparam("seqs", expanding=True)).columns(on_date=Date)
        names = (*FIELDS, "hash")
        for start in range(0, len(suspects), 5000):
            chunk = [e[0] for e in suspects[start:start + 5000]]
            for row in conn.execute(statement, {"seqs": chunk}):
                entry = dict(zip(names, row))
                entry["reason"] = why_unauthorized(conn, entry["on_date"], entry["subject_id"], entry["address"])
                entry["on_date"] = entry["on_date"].isoformat()
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
