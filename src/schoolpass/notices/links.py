"""Result links: what a link shows, the birth-date proof, locking, expiry and staff re-issue.

A link (`/r/TOKEN`) works for LINK_DAYS from the moment its message was sent (wall-clock
time), then answers 410. Before the proof it shows only the subject's given name and family
initial. After 10 wrong birth dates it is locked (423) and shows nothing more. A right birth
date shows the notice's details and is written to the access log. Tokens are looked up by
their SHA-256 only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, Date, bindparam, select, text, update

from schoolpass.disclosure.models import AccessLogEntry
from schoolpass.notices.content import display_name
from schoolpass.notices.models import PLANNED, LinkToken, OutboxMessage
from schoolpass.notices.sender import LINK_DAYS
from schoolpass.notices.tokens import token_hash
from schoolpass.policy.model import Policy
from schoolpass.policy.statuses import status_of
from schoolpass.roster.authorization import in_force
from schoolpass.storage.types import UtcDateTime

MAX_WRONG_BIRTH_DATES = 10
OK, UNKNOWN, EXPIRED, LOCKED, NO_BIRTH_DATE = "ok", "unknown", "expired", "locked", "no-birth-date"


@dataclass(frozen=True)
class Link:
    outcome: str  # ok | unknown | expired | locked | no-birth-date
    token_hash: str
    message_row: int | None = None
    subject_id: str | None = None
    kind: str | None = None
    language: str = "en"
    name: str = ""  # given name and family initial only
    result_id: int | None = None
    by_date: date | None = None
    on_date: date | None = None  # the notice's run date: its details are as of that day
    failed_checks: int = 0


_FIND = text("""
    SELECT t.message_row, t.subject_id, t.expires_at, t.revoked_at, t.failed_checks, o.sent_at, o.state,
           o.kind, o.language, o.on_date, n.result_id, n.by_date
    FROM link_tokens t JOIN outbox o ON o.id = t.message_row JOIN notices n ON n.id = o.notice_id
    WHERE t.token_hash = :h""").columns(sent_at=UtcDateTime(), expires_at=UtcDateTime(), revoked_at=UtcDateTime(),
                                        by_date=Date, on_date=Date)


def open_link(conn: Connection, token: str, now: datetime, today: date) -> Link:
    """The state of a link, and what may be shown before the birth-date proof."""
    digest = token_hash(token) if token.isascii() and len(token) <= 64 else ""
    row = conn.execute(_FIND, {"h": digest}).first() if digest else None
    if row is None or (row.sent_at is None and row.revoked_at is None):
        return Link(UNKNOWN, digest)
    base = dict(token_hash=digest, message_row=row.message_row, subject_id=row.subject_id, kind=row.kind,
                language=row.language, result_id=row.result_id, by_date=row.by_date, on_date=row.on_date,
                failed_checks=row.failed_checks)
    if row.revoked_at is not None or now >= (row.expires_at or row.sent_at + timedelta(days=LINK_DAYS)):
        return Link(EXPIRED, **base)
    if row.failed_checks >= MAX_WRONG_BIRTH_DATES:
        return Link(LOCKED, **base)
    given, family, birth = _subject(conn, row.subject_id, today)
    return Link(OK if birth is not None else NO_BIRTH_DATE, name=display_name(given, family), **base)


def _subject(conn: Connection, subject_id: str, today: date) -> tuple[str, str, date | None]:
    statement = text(f"""
        SELECT p.given_name, p.family_name, b.birth_date FROM person_versions p
        LEFT JOIN birth_date_versions b ON b.sourced_id = p.sourced_id AND {in_force('b', None)}
        WHERE p.sourced_id = :s AND p.rec_to IS NULL ORDER BY p.valid_from DESC LIMIT 1""").bindparams(
        bindparam("on", type_=Date)).columns(birth_date=Date)
    row = conn.execute(statement, {"s": subject_id, "on": today}).first()
    return (row.given_name or "", row.family_name or "", row.birth_date) if row else ("", "", None)


@dataclass(frozen=True)
class Details:
    """What a link shows after the proof: the notice, the person's status today, the result it announced."""

    link: Link
    status: dict
    result: dict | None


@dataclass(frozen=True)
class Proof:
    link: Link  # its state after this attempt (locked after the 10th wrong date)
    details: Details | None
    tries_left: int


def prove_birth_date(conn: Connection, token: str, birth_date: str, now: datetime, today: date,
                     policy: Policy) -> Proof:
    """Check a birth date (YYYY-MM-DD) for a link; count wrong ones; on success log the view and give details."""
    link = open_link(conn, token, now, today)
    if link.outcome != OK:
        return Proof(link, None, 0)
    _, _, expected = _subject(conn, link.subject_id, today)
    try:
        given = date.fromisoformat(birth_date.strip()) if len(birth_date.strip()) == 10 else None
    except ValueError:
        given = None
    if given is None or given != expected:
        failed = conn.execute(update(LinkToken).where(LinkToken.token_hash == link.token_hash)
                              .values(failed_checks=LinkToken.failed_checks + 1)
                              .returning(LinkToken.failed_checks)).scalar_one()
        left = max(MAX_WRONG_BIRTH_DATES - failed, 0)
        state = replace(link, outcome=LOCKED, failed_checks=failed) if left == 0 else link
        return Proof(state, None, left)
    # The notice's details: the status on the notice's run date (the page says which day that is).
    status = status_of(conn, link.subject_id, link.on_date or today, policy).as_dict()
    result = None
    if link.result_id is not None:
        r = conn.execute(text("SELECT result, collected_on, test_code FROM lab_results WHERE id = :i AND person_id = :s")
                         .columns(collected_on=Date), {"i": link.result_id, "s": link.subject_id}).first()
        if r is not None:  # a result unmatched since the notice shows nothing
            result = {"result": r.result, "collected_on": r.collected_on.isoformat(), "test_code": r.test_code}
    conn.execute(AccessLogEntry.__table__.insert().values(
        at=now, actor="result-link", action="result-link-view", subject_id=link.subject_id,
        detail=f"outbox {link.message_row}; {link.kind}"))
    return Proof(link, Details(link, status, result), MAX_WRONG_BIRTH_DATES - link.failed_checks)


def reissue(conn: Connection, message_row: int, by: str, mail_domain: str) -> str:
    """Staff re-issue a link: the old tokens stop working and the message goes out again (re-verified
    by the guard at send time, under a new Message-ID). Returns the new Message-ID."""
    import uuid

    row = conn.execute(select(OutboxMessage.id, OutboxMessage.address).where(OutboxMessage.id == message_row)).first()
    if row is None or row.address is None:
        from schoolpass.errors import NotFound

        raise NotFound(f"outbox row {message_row} has no message to re-issue")
    conn.execute(update(LinkToken).where(LinkToken.message_row == message_row, LinkToken.revoked_at.is_(None))
                 .values(revoked_at=datetime.now(UTC)))
    message_id = f"<{uuid.uuid4().hex}@{mail_domain}>"
    conn.execute(update(OutboxMessage).where(OutboxMessage.id == message_row).values(
        state=PLANNED, message_id=message_id, attempts=0, next_attempt_at=None, claimed_by=None,
        claimed_until=None, sent_at=None, reason=f"link re-issued by {by}"[:255]))
    return message_id
