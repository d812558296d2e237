"""Who may receive notices about a person on a day. The only place this is decided.

The rule (CONTRACT section 4, Notices), for subject X on day D:
- X must have an active record on D (not ended, inside its 1.2 role dates) and be a
  student or staff member; a subject marked `metadata.healthNotices=deny` gets nobody.
- Staff, and students aged 18 or over on D: X themself.
- Younger students (and students with no birth date): each `parent` or `guardian`
  linked to X on D (either record lists the other in agentSourcedIds) whose record is
  active and not marked `deny`. `relative` contacts never receive notices.
- An address that belongs to a contact denied for X (a linked contact marked `deny`)
  is never used for X, even when an allowed recipient shares it (compared
  case-insensitively).

Everything is evaluated on the roster as known now, or as it was known after a
given import (`known_after`), so breach analysis can ask both questions.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple
from datetime import date, datetime

from sqlalchemy import Connection, Date, Integer, String, bindparam, func, select, text

from schoolpass.roster.language import message_language
from schoolpass.roster.models import RosterImport
from schoolpass.storage.bulk import insert_rows

ADULT_AGE = 18


@dataclass(frozen=True)
class Recipient:
    subject_id: str
    recipient_id: str
    relation: str  # self | parent | guardian
    name: str
    address: str | None
    language: str  # the language notices to this recipient are written in

    def as_dict(self) -> dict[str, str | None]:
        return {"id": self.recipient_id, "name": self.name, "address": self.address,
                "language": self.language, "relation": self.relation}


def born_by_for_age(on: date, years: int) -> date:
    """The latest birth date of someone at least `years` old on `on` (Feb 29 → Feb 28)."""
    try:
        return on.replace(year=on.year - years)
    except ValueError:
        return on.replace(year=on.year - years, day=28)


def in_force(alias: str, known_after: int | None) -> str:
    """SQL: the version of `alias`'s record that holds on :on, as known now or after import :k."""
    record = (f"{alias}.rec_to IS NULL" if known_after is None
              else f"{alias}.rec_from <= :k AND ({alias}.rec_to IS NULL OR {alias}.rec_to > :k)")
    return f"{record} AND {alias}.valid_from <= :on AND ({alias}.valid_to IS NULL OR {alias}.valid_to > :on)"


def active(alias: str) -> str:
    return (f"({alias}.active_from IS NULL OR {alias}.active_from <= :on) "
            f"AND ({alias}.active_until IS NULL OR {alias}.active_until >= :on)")


def _recipients_sql(known_after: int | None, filtered: bool | str | tuple[bool, bool], postgres: bool = False,
                    ordered: bool = True) -> str:
    # CROSS JOIN fixes SQLite's join order (subject -> links -> contact, by index); PostgreSQL
    # treats it as a plain join and plans freely. PostgreSQL cannot estimate rows through a
    # materialized CTE (it guesses one, and nested-loops a million), so there they are inlined.
    # filtered: an id list (True), the auth_subjects table ("table"), a range of ids ((has lo, has hi)), or all.
    if isinstance(filtered, tuple):
        only = ("AND p.sourced_id >= :lo " if filtered[0] else "") + ("AND p.sourced_id < :hi" if filtered[1] else "")
    else:
        only = ("AND p.sourced_id IN (SELECT sourced_id FROM auth_subjects)" if filtered == "table"
                else "AND p.sourced_id IN :subject_ids" if filtered else "")
    inline = " NOT MATERIALIZED" if postgres else ""
    return f"""
WITH subjects AS{inline} (
    SELECT p.sourced_id, p.payload_hash, p.kind, p.health_notices, p.email,
           p.given_name, p.family_name, p.language, b.birth_date
    FROM person_versions p
    LEFT JOIN birth_date_versions b ON b.sourced_id = p.sourced_id AND {in_force('b', known_after)}
    WHERE {in_force('p', known_after)} AND {active('p')} AND p.kind IN ('student', 'staff') {only}
),
pairs AS{inline} (
    SELECT s.sourced_id AS subject_id, pa.agent_sourced_id AS contact_id,
           s.health_notices AS subject_notices, s.birth_date AS subject_birth_date
    FROM subjects s
    CROSS JOIN person_agents pa
    WHERE s.kind = 'student' AND pa.person_sourced_id = s.sourced_id AND pa.payload_hash = s.payload_hash
    UNION
    SELECT s.sourced_id, c.sourced_id, s.health_notices, s.birth_date
    FROM subjects s
    CROSS JOIN person_agents pa
    CROSS JOIN person_versions c
    WHERE s.kind = 'student' AND pa.agent_sourced_id = s.sourced_id
      AND c.sourced_id = pa.person_sourced_id AND c.payload_hash = pa.payload_hash
      AND {in_force('c', known_after)}
),
contacts AS{inline} (
    SELECT pairs.subject_id, pairs.subject_notices, pairs.subject_birth_date,
           c.sourced_id, c.contact_role, c.health_notices, c.email,
           c.given_name, c.family_name, c.language, c.active_from, c.active_until
    FROM pairs
    CROSS JOIN person_versions c
    WHERE c.sourced_id = pairs.contact_id AND {in_force('c', known_after)}
),
denied AS{inline} (
    SELECT subject_id, lower(email) AS address FROM contacts
    WHERE health_notices = 'deny' AND email IS NOT NULL
),
candidates AS{inline} (
    SELECT s.sourced_id AS subject_id, s.sourced_id AS recipient_id, 'self' AS relation,
           s.given_name, s.family_name, s.email, s.language
    FROM subjects s
    WHERE s.health_notices = 'allow'
      AND (s.kind = 'staff' OR (s.birth_date IS NOT NULL AND s.birth_date <= :adult_born_by))
    UNION ALL
    SELECT c.subject_id, c.sourced_id, c.contact_role, c.given_name, c.family_name, c.email, c.language
    FROM contacts c  -- each row carries its subject's notices flag and birth date (from subjects, by pairs)
    WHERE c.subject_notices = 'allow'
      AND (c.subject_birth_date IS NULL OR c.subject_birth_date > :adult_born_by)
      AND c.contact_role IN ('parent', 'guardian') AND c.health_notices = 'allow' AND {active('c')}
)
SELECT cand.subject_id, cand.recipient_id, cand.relation, cand.given_name, cand.family_name,
       cand.email, cand.language
FROM candidates cand
WHERE NOT EXISTS (
    SELECT 1 FROM denied d WHERE d.subject_id = cand.subject_id AND d.address = lower(cand.email)
)
""" + ("ORDER BY cand.subject_id, cand.recipient_id\n" if ordered else "")


# Beyond this many subjects, their ids go to a temporary table rather than into the statement.
_ID_TABLE_FROM = 2000


def _recipient_rows(conn: Connection, on: date, ids: list[str] | None, known_after: int | None):
    """The rule's rows (subject_id, recipient_id, relation, given_name, family_name, email, language).

    Many ids go through a temporary table: read the rows to the end before the next call on this connection.
    """
    filtered: bool | str = ids is not None
    if ids is not None and len(ids) >= _ID_TABLE_FROM:
        conn.exec_driver_sql("CREATE TEMPORARY TABLE IF NOT EXISTS auth_subjects (sourced_id VARCHAR(255) PRIMARY KEY)")
        conn.exec_driver_sql("DELETE FROM auth_subjects")
        insert_rows(conn, "auth_subjects", ["sourced_id"], ((i,) for i in ids))
        filtered = "table"
    statement = text(_recipients_sql(known_after, filtered, conn.dialect.name == "postgresql")).bindparams(
        bindparam("on", type_=Date), bindparam("adult_born_by", type_=Date)
    )
    params: dict[str, object] = {"on": on, "adult_born_by": born_by_for_age(on, ADULT_AGE)}
    if filtered is True:
        statement = statement.bindparams(bindparam("subject_ids", expanding=True))
        params["subject_ids"] = ids
    if known_after is not None:
        statement = statement.bindparams(bindparam("k", type_=Integer))
        params["k"] = known_after
    return conn.execute(statement, params)


def authorized_recipients(
    conn: Connection,
    on: date,
    subject_ids: Iterable[str] | None = None,
    known_after: int | None = None,
) -> Iterator[Recipient]:
    """Everyone who may receive notices about each subject on `on` (all subjects when None).

    `known_after`: evaluate the roster as it was known right after that import
    (None: as known now).
    """
    ids = None if subject_ids is None else sorted(set(subject_ids))
    if ids is not None and not ids:
        return
    for row in _recipient_rows(conn, on, ids, known_after):
        yield Recipient(
            subject_id=row.subject_id,
            recipient_id=row.recipient_id,
            relation=row.relation,
            name=f"{row.given_name} {row.family_name}".strip(),
            address=row.email,
            language=message_language(row.language),
        )


def import_known_at(conn: Connection, moment: datetime) -> int:
    """The last roster import recorded at or before `moment` (0: nothing was known yet)."""
    found = conn.execute(select(func.max(RosterImport.id)).where(RosterImport.recorded_at <= moment)).scalar()
    return found or 0


class Addressee(NamedTuple):
    """One distinct address a notice about a subject goes to (CONTRACT section 4)."""

    recipient_id: str  # the lowest contact id behind the address
    address: str
    address_key: str  # lower-cased: addresses are compared case-insensitively
    language: str  # that contact's


def notice_addresses(
    conn: Connection, on: date, subject_ids: Iterable[str] | None = None, known_after: int | None = None
) -> dict[str, list[Addressee]]:
    """The distinct addresses that may receive a notice about each subject on `on`.

    Built only from `authorized_recipients`: recipients without an address are dropped, and
    recipients sharing an address (in any letter case) become one addressee, the lowest
    contact id's. Subjects with no authorized address are absent from the result.
    """
    wanted = None if subject_ids is None else set(subject_ids)
    if wanted is not None and not wanted:
        return {}
    lookup = None if wanted is None else sorted(wanted)
    chosen: dict[str, list[Addressee]] = {}
    languages: dict[str | None, str] = {}
    current, seen, found = None, set(), []
    # The rule's rows as `authorized_recipients` yields them, without a Recipient each (a district's day).
    # They come ordered by subject, then recipient id: the first row with an address is its lowest contact.
    for subject, recipient, _relation, _given, _family, address, language in _recipient_rows(
            conn, on, lookup, known_after):
        if not address:
            continue
        if subject != current:
            current, seen, found = subject, set(), []
            chosen[subject] = found
        key = address.lower()
        if key in seen:
            continue
        seen.add(key)
        spoken = languages.get(language)
        if spoken is None:
            spoken = languages[language] = message_language(language)
        found.append(Addressee(recipient, address, key, spoken))
    for found in chosen.values():
        if len(found) > 1:
            found.sort(key=lambda a: a.address_key)
    return chosen


def subjects_held(conn: Connection, on: date, subject_ids: Iterable[str] | None = None) -> set[str]:
    """Subjects marked `metadata.healthNotices=deny` on `on`: every notice about them is held for staff."""
    wanted = None if subject_ids is None else set(subject_ids)
    statement = text(f"""
        SELECT p.sourced_id FROM person_versions p
        WHERE {in_force('p', None)} AND p.kind IN ('student', 'staff') AND p.health_notices = 'deny'
    """).bindparams(bindparam("on", type_=Date))
    found = set(conn.execute(statement, {"on": on}).scalars())
    return found if wanted is None else found & wanted


def authorized_pairs_table(
    conn: Connection, table: str, on: date, lo: str | None = None, hi: str | None = None,
    known_after: int | None = None,
) -> None:
    """Write `authorized_pairs` for the subjects with lo <= id < hi (None: unbounded) into a new temporary table.

    The table `table` (subject_id, address_key), keyed on both, lives on this connection only;
    the rows never leave the database, so a whole district's pairs can be joined against in SQL
    (breach scope joins a month of ledger entries to them).
    """
    rule = _recipients_sql(known_after, (lo is not None, hi is not None), conn.dialect.name == "postgresql",
                           ordered=False)
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    if conn.dialect.name == "sqlite":
        # Kept in SQLite's temp database, whose cache the engine enlarges (storage/engine.py).
        conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {table} (subject_id TEXT, address_key TEXT, "
                             "PRIMARY KEY (subject_id, address_key)) WITHOUT ROWID")
        fill, keep_first = "INSERT OR IGNORE INTO", ""
    else:
        conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {table} (subject_id TEXT, address_key TEXT, "
                             "PRIMARY KEY (subject_id, address_key))")
        fill, keep_first = "INSERT INTO", " ON CONFLICT DO NOTHING"
    statement = text(f"{fill} {table} (subject_id, address_key) SELECT r.subject_id, lower(r.email) "
                     f"FROM ({rule}) r WHERE r.email IS NOT NULL{keep_first}").bindparams(
        bindparam("on", type_=Date), bindparam("adult_born_by", type_=Date))
    params: dict[str, object] = {"on": on, "adult_born_by": born_by_for_age(on, ADULT_AGE)}
    for name, bound in (("lo", lo), ("hi", hi)):
        if bound is not None:
            statement = statement.bindparams(bindparam(name, type_=String))
            params[name] = bound
    if known_after is not None:
        statement = statement.bindparams(bindparam("k", type_=Integer))
        params["k"] = known_after
    conn.execute(statement, params)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {table}")


def authorized_pairs(
    conn: Connection, on: date, subject_ids: Iterable[str] | None = None, known_after: int | None = None
) -> set[tuple[str, str]]:
    """(subject, lower-cased address) for every address that may receive notices about each subject on `on`.

    The same rows as `authorized_recipients`, without building a Recipient for each (breach scope
    asks this of a whole district).
    """
    wanted = None if subject_ids is None else set(subject_ids)
    if wanted is not None and not wanted:
        return set()
    found = set()
    for row in _recipient_rows(conn, on, None if wanted is None else sorted(wanted), known_after):
        if row[5]:
            found.add((row[0], row[5].lower()))
    return found
