"""Breach scope: which disclosures in a window the roster, as known now, did not authorize.

Every ledger entry whose `on_date` is in [from, to] is replayed against the one authorization
rule (`roster.authorization`), evaluated for the entry's own run date with the roster as
known now: a custody correction recorded later but backdated to before a send makes that
send unauthorized. The entry's `subject_id` is whom the message really disclosed (its link
token's subject), so a rendering bug cannot hide here either.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Connection, Date, bindparam, text

from schoolpass.disclosure.ledger import FIELDS
from schoolpass.disclosure.models import SUBJECT_INDEX
from schoolpass.roster.authorization import (
    ADULT_AGE,
    active,
    authorized_pairs,
    authorized_pairs_table,
    born_by_for_age,
    in_force,
)
from schoolpass.processes import worker_connection, worker_context, worker_url, workers_can_see
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


# From this share of the ledger in the window, its entries are read by subject (see `_not_authorized_on`).
BY_SUBJECT_FROM = 0.25


def _window(conn: Connection, first: date, last: date) -> tuple[int, int, int, bool]:
    """(entries, first seq, last seq, read by subject?) of the window, from one pass over the on_date index (it
    holds seq), and the ledger's length from its head.

    Entries are appended in time order, so a window that is a small part of the ledger is read as one range
    of seq (a sequential scan) rather than through the on_date index (a random read per entry)."""
    count, lo, hi = conn.execute(typed("SELECT count(*), min(seq), max(seq) FROM ledger_entries "
                                       "WHERE on_date >= :first AND on_date <= :last", first=Date, last=Date),
                                 {"first": first, "last": last}).one()
    if not count:
        return 0, 0, 0, False
    length = conn.execute(text("SELECT seq FROM ledger_head WHERE id = 1")).scalar() or int(hi)
    return int(count), int(lo), int(hi), count >= BY_SUBJECT_FROM * length


def _bounds(conn: Connection, parts: int) -> list[tuple[str | None, str | None]]:
    """`parts` ranges of subject id [lo, hi) covering every string, about equal in students and staff."""
    if parts <= 1:
        return [(None, None)]
    count = conn.execute(text("SELECT count(*) FROM person_versions WHERE rec_to IS NULL "
                              "AND kind IN ('student', 'staff')")).scalar_one()
    cuts: list[str | None] = [None]
    for i in range(1, parts):
        cut = conn.execute(text("SELECT sourced_id FROM person_versions WHERE rec_to IS NULL AND kind IN "
                                "('student', 'staff') ORDER BY sourced_id LIMIT 1 OFFSET :n"),
                           {"n": count * i // parts}).scalar()
        if cut is not None and cut != cuts[-1]:
            cuts.append(cut)
    cuts.append(None)
    return list(zip(cuts, cuts[1:]))


def _not_authorized_on(conn: Connection, day: date, first: date, last: date, seqs: tuple[int, int],
                       lo: str | None, hi: str | None, by_subject: bool = False) -> list[tuple]:
    """(seq, on_date, subject_id, address) of the window's entries about subjects in [lo, hi) whose address
    was not authorized for them on `day`.

    The rule's pairs for `day` go to a temporary table and the entries are joined to them in SQL: a
    month's millions of entries never come out of the database, only those that fail. The entries are
    read as one range of seq (a window that is a small part of the ledger), or, `by_subject`, from the
    covering subject index over [lo, hi) only, in the pairs' own order (a window holding much of it).
    """
    authorized_pairs_table(conn, "breach_allowed", day, lo, hi)
    in_range = ("AND e.subject_id >= :lo " if lo is not None else "") + ("AND e.subject_id < :hi" if hi is not None
                                                                          else "")
    postgres = conn.dialect.name == "postgresql"
    if by_subject:
        source = "ledger_entries e" if postgres else f"ledger_entries e INDEXED BY {SUBJECT_INDEX}"
        where = f"e.on_date >= :first AND e.on_date <= :last {in_range}"
    else:
        # SQLite: `+` keeps it from reading the range through the on_date index rather than as a scan of seq.
        on = "e.on_date" if postgres else "+e.on_date"
        source = "ledger_entries e"
        where = f"e.seq >= :lo_seq AND e.seq <= :hi_seq AND {on} >= :first AND {on} <= :last {in_range}"
    statement = typed(f"""
        SELECT e.seq, e.on_date, e.subject_id, e.address FROM {source}
        WHERE {where}
          AND NOT EXISTS (SELECT 1 FROM breach_allowed a
                          WHERE a.subject_id = e.subject_id AND a.address_key = lower(e.address))""",
                      first=Date, last=Date).columns(on_date=Date)
    params = {"first": first, "last": last} | ({} if by_subject else {"lo_seq": seqs[0], "hi_seq": seqs[1]})
    params.update({name: bound for name, bound in (("lo", lo), ("hi", hi)) if bound is not None})
    found = [tuple(row) for row in conn.execute(statement, params)]
    conn.exec_driver_sql("DROP TABLE breach_allowed")
    return found


def _bounds_in_process(url: str, parts: int) -> list[tuple[str | None, str | None]]:
    with worker_connection(url) as conn:
        return _bounds(conn, parts)


def _part(url: str, first: date, last: date, seqs: tuple[int, int], lo: str | None, hi: str | None,
          by_subject: bool) -> list[tuple]:
    """`_not_authorized_on` for the window's last day, in a worker process with a connection of its own."""
    with worker_connection(url) as conn:
        return _not_authorized_on(conn, last, first, last, seqs, lo, hi, by_subject)


def _entries_about(conn: Connection, subjects: list[str], first: date, last: date) -> list[tuple]:
    """(seq, on_date, subject_id, address) of the window's entries about these subjects (by the subject index)."""
    # SQLite: `+` keeps it on the subject index (through on_date it would read the whole window per batch).
    on = "on_date" if conn.dialect.name == "postgresql" else "+on_date"
    statement = typed(f"SELECT seq, on_date, subject_id, address FROM ledger_entries WHERE subject_id IN :ids "
                      f"AND {on} >= :first AND {on} <= :last", first=Date, last=Date).bindparams(
        bindparam("ids", expanding=True)).columns(on_date=Date)
    found = []
    for start in range(0, len(subjects), 2000):
        found.extend(tuple(row) for row in conn.execute(statement, {"ids": subjects[start:start + 2000],
                                                                     "first": first, "last": last}))
    return found


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
    # Each table is read once: the versions that start or end inside the window (few), then their links.
    sql = f"""
        WITH moved AS MATERIALIZED (
            SELECT p.sourced_id, p.kind, p.payload_hash FROM person_versions p
            WHERE p.rec_to IS NULL AND {inside.format(a='p')})
        SELECT sourced_id FROM moved
        UNION SELECT b.sourced_id FROM birth_date_versions b
              WHERE b.rec_to IS NULL AND ({birth_inside} OR (b.birth_date > :born_after AND b.birth_date <= :born_by))
        UNION SELECT pa.person_sourced_id FROM moved c JOIN person_agents pa ON pa.agent_sourced_id = c.sourced_id
              WHERE c.kind = 'contact'
        UNION SELECT pa.agent_sourced_id FROM moved c JOIN person_agents pa
              ON pa.person_sourced_id = c.sourced_id AND pa.payload_hash = c.payload_hash
              WHERE c.kind = 'contact'"""
    params = {"first": first, "last": last, "born_after": born_by_for_age(first, ADULT_AGE),
              "born_by": born_by_for_age(last, ADULT_AGE)}
    return set(conn.execute(typed(sql, first=Date, last=Date, born_after=Date, born_by=Date), params).scalars())


def breach_scope(conn: Connection, first: date, last: date, parts: int = 2) -> BreachScope:
    """Replay every disclosure sent for a run date in [first, last] against the rule as known now.

    Everyone whose roster facts do not change inside the window is authorized on every day of it exactly
    as on its last day: their entries are checked against the rule for the last day, in SQL, with the
    subjects split by id into `parts` replayed in parallel by worker processes with connections of their own;
    call it outside a transaction holding writes the others must see. The few
    subjects whose facts do change are checked day by day.
    """
    scope = BreachScope(first, last)
    if not workers_can_see(conn):
        parts = 1
    url = worker_url(conn)
    with ProcessPoolExecutor(max(parts, 1), mp_context=worker_context()) as pool:
        # The subjects' split is worked out in a worker while this process finds the window.
        splitting = pool.submit(_bounds_in_process, url, parts) if parts > 1 else None
        scope.examined, lo_seq, hi_seq, by_subject = _window(conn, first, last)
        if not scope.examined:
            return scope
        seqs = (lo_seq, hi_seq)
        bounds = splitting.result() if splitting is not None else [(None, None)]
        running = ([pool.submit(_part, url, first, last, seqs, lo, hi, by_subject) for lo, hi in bounds]
                   if len(bounds) > 1 else [])
        # Meanwhile, on this connection: the subjects whose facts change inside the window, day by day.
        changing = changing_subjects(conn, first, last)
        about_changing = _entries_about(conn, sorted(changing), first, last)
        by_day: dict[date, set[str]] = defaultdict(set)
        for _seq, day, subject, _address in about_changing:
            by_day[_as_day(day)].add(subject)
        allowed_on = {day: authorized_pairs(conn, day, subjects) for day, subjects in by_day.items()}
        if running:
            failing = [row for done in running for row in done.result()]
        else:
            failing = _not_authorized_on(conn, last, first, last, seqs, None, None, by_subject)
    suspects = {seq for seq, _day, subject, _address in failing if subject not in changing}
    suspects.update(seq for seq, day, subject, address in about_changing
                    if (subject, address.lower()) not in allowed_on[_as_day(day)])
    if suspects:
        columns = ", ".join((*FIELDS, "hash"))
        statement = typed(f"SELECT {columns} FROM ledger_entries WHERE seq IN :seqs").bindparams(
            bindparam("seqs", expanding=True)).columns(on_date=Date)
        names = (*FIELDS, "hash")
        ordered = sorted(suspects)
        for start in range(0, len(ordered), 5000):
            for row in conn.execute(statement, {"seqs": ordered[start:start + 5000]}):
                entry = dict(zip(names, row))
                entry["reason"] = why_unauthorized(conn, entry["on_date"], entry["subject_id"], entry["address"])
                entry["on_date"] = entry["on_date"].isoformat()
                scope.unauthorized.append(entry)
    scope.unauthorized.sort(key=lambda e: e["seq"])
    return scope


def _as_day(value) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


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
    # The subject's linked contacts (either record lists the other) whose address this is.
    contact = conn.execute(typed(f"""
        SELECT c.sourced_id, c.contact_role, c.health_notices, ({active('c')}) AS is_active, 1 AS linked
        FROM person_versions c
        WHERE c.sourced_id IN (SELECT pa.agent_sourced_id FROM person_agents pa WHERE pa.person_sourced_id = :s
                               UNION SELECT pa.person_sourced_id FROM person_agents pa WHERE pa.agent_sourced_id = :s)
          AND {in_force('c', None)} AND c.sourced_id <> :s AND lower(c.email) = :a
          AND (EXISTS (SELECT 1 FROM person_agents pa JOIN person_versions s
                         ON s.sourced_id = pa.person_sourced_id AND s.payload_hash = pa.payload_hash
                       WHERE pa.person_sourced_id = :s AND pa.agent_sourced_id = c.sourced_id AND {in_force('s', None)})
               OR EXISTS (SELECT 1 FROM person_agents pa WHERE pa.person_sourced_id = c.sourced_id
                          AND pa.payload_hash = c.payload_hash AND pa.agent_sourced_id = :s))
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
