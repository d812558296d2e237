"""The disclosure guard: the last check on every message, in the send path, from the bytes out.

Just before a batch of messages goes out, the guard reads each rendered message back
(headers and link token), re-derives from the database who may receive notices about
the subject the message really discloses (the roster as known at that moment, for the
notice's run date), and refuses the message unless:

- it has exactly one `To` header holding exactly one address, and no Cc, Bcc or Resent-*;
- that address is the one the envelope will carry (the outbox row's address);
- it carries exactly one link token, issued for this very message;
- the token's subject is the subject the notice is about, and the address is authorized
  for that subject on the notice's run date;
- the subject line names that subject (given name and family initial), not someone else.

No setting turns it off. Its verdict names only ids and reasons, never personal values.
"""

from __future__ import annotations

import email.utils
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from email.header import decode_header, make_header

from sqlalchemy import Connection, Date, bindparam, text

from schoolpass.notices.content import display_name
from schoolpass.notices.tokens import find_tokens, token_hash
from schoolpass.roster.authorization import authorized_pairs, in_force

_RECIPIENT_HEADERS = ("cc", "bcc", "resent-to", "resent-cc", "resent-bcc")


@dataclass(frozen=True)
class Outgoing:
    """A rendered message and the outbox row it was rendered for."""

    row_id: int
    on_date: date
    subject_id: str  # whom the notice is about (the plan)
    address: str  # the envelope recipient
    raw: bytes


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str | None  # why it was refused (ids and facts only)
    disclosed_subject: str | None  # whom the message's link token discloses
    to: str | None  # the To address read back from the message


@dataclass(frozen=True)
class ReadBack:
    to: tuple[str, ...]  # every address in every To header
    to_headers: int
    other_recipients: tuple[str, ...]  # names of Cc/Bcc/Resent-* headers present
    subject: str
    tokens: frozenset[str]


def read_back(raw: bytes) -> ReadBack:
    """What a rendered message says about where it goes and whom it discloses."""
    end = raw.find(b"\r\n\r\n")
    head = raw if end < 0 else raw[:end]
    fields: list[tuple[str, str]] = []
    for line in head.decode("utf-8", "replace").split("\r\n"):
        if line[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + " " + line.strip())
        elif ":" in line:
            name, value = line.split(":", 1)
            fields.append((name.strip().lower(), value.strip()))
    to_values = [value for name, value in fields if name == "to"]
    to = tuple(address for _, address in email.utils.getaddresses(to_values) if address)
    others = tuple(sorted({name for name, _ in fields if name in _RECIPIENT_HEADERS}))
    subjects = [value for name, value in fields if name == "subject"]
    subject = str(make_header(decode_header(subjects[0]))) if len(subjects) == 1 else ""
    return ReadBack(to, len(to_values), others, subject, frozenset(find_tokens(raw)))


class Guard:
    """Checks a batch of rendered messages against the database, independently of the plan."""

    def check(self, conn: Connection, batch: Sequence[Outgoing]) -> list[Verdict]:
        read = [read_back(item.raw) for item in batch]
        token_subjects = self._token_subjects(conn, [t for r in read for t in r.tokens])
        disclosed: list[str | None] = []
        for r in read:
            found = [token_subjects.get(token_hash(t)) for t in r.tokens]
            disclosed.append(found[0][0] if len(found) == 1 and found[0] else None)
        by_day: dict[date, set[str]] = defaultdict(set)
        for item, subject in zip(batch, disclosed):
            if subject:
                by_day[item.on_date].add(subject)
        authorized: set[tuple[date, str, str]] = set()
        names: dict[tuple[date, str], str] = {}
        for day, subjects in by_day.items():
            authorized.update((day, subject, address) for subject, address in authorized_pairs(conn, day, subjects))
            names.update({(day, s): n for s, n in self._display_names(conn, day, subjects).items()})
        verdicts = []
        for item, r, subject in zip(batch, read, disclosed):
            verdicts.append(self._one(item, r, subject, token_subjects, authorized, names))
        return verdicts

    def _one(self, item: Outgoing, r: ReadBack, subject: str | None, token_subjects: dict,
             authorized: set, names: dict) -> Verdict:
        to = r.to[0] if len(r.to) == 1 else None

        def refuse(reason: str) -> Verdict:
            return Verdict(False, reason, subject, to)

        if r.to_headers != 1 or len(r.to) != 1:
            return refuse(f"the message has {r.to_headers} To header(s) with {len(r.to)} address(es); exactly one")
        if r.other_recipients:
            return refuse(f"the message has {', '.join(r.other_recipients)} header(s)")
        if to.lower() != item.address.lower():
            return refuse("the To address is not the envelope recipient")
        if len(r.tokens) != 1:
            return refuse(f"the message carries {len(r.tokens)} link tokens; exactly one")
        issued = token_subjects.get(token_hash(next(iter(r.tokens))))
        if issued is None:
            return refuse("the message's link token was never issued")
        if issued[1] != item.row_id:
            return refuse(f"the message's link token was issued for outbox row {issued[1]}")
        if subject != item.subject_id:
            return refuse(f"the message discloses {subject}, its notice is about {item.subject_id}")
        if (item.on_date, subject, to.lower()) not in authorized:
            return refuse(f"the address is not authorized for {subject} on {item.on_date}")
        name = names.get((item.on_date, subject))
        if not name or name not in r.subject:
            return refuse(f"the subject line does not name {subject}")
        return Verdict(True, None, subject, to)

    @staticmethod
    def _token_subjects(conn: Connection, tokens: list[str]) -> dict[str, tuple[str, int]]:
        """token hash -> (subject it discloses, outbox row it was issued for)."""
        if not tokens:
            return {}
        statement = text("SELECT token_hash, subject_id, message_row FROM link_tokens WHERE token_hash IN :hashes"
                         ).bindparams(bindparam("hashes", expanding=True))
        return {h: (s, m) for h, s, m in conn.execute(statement, {"hashes": [token_hash(t) for t in tokens]})}

    @staticmethod
    def _display_names(conn: Connection, on: date, subjects: set[str]) -> dict[str, str]:
        statement = text(f"""
            SELECT p.sourced_id, p.given_name, p.family_name FROM person_versions p
            WHERE {in_force('p', None)} AND p.sourced_id IN :ids""").bindparams(
            bindparam("on", type_=Date), bindparam("ids", expanding=True))
        return {sid: display_name(given or "", family or "")
                for sid, given, family in conn.execute(statement, {"on": on, "ids": sorted(subjects)})}
