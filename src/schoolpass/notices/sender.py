"""Draining the outbox: claim -> issue link tokens -> render -> guard -> SMTP -> record.

Crash safety: a message is claimed (state `sending`, with the claimer and a lease) in one
transaction, and marked `sent` with its ledger entry in another once the server has taken it:
by a recording thread while this one sends the next message's envelope and data, and always
committed before that data is ended, so the server never holds two messages that are not
recorded (the time that write takes is not spent waiting for the server). A sender killed in
between leaves its claimed rows in `sending`; the next sender takes them back (at once when the
claimer was a process on this machine that is gone, else when the lease runs out) and sends them.
So nothing is lost, and only the one message taken but not yet recorded at the crash can go out
twice (same Message-ID, one ledger entry).

Several senders may run at once: claims use `FOR UPDATE SKIP LOCKED` on PostgreSQL (and
SQLite's single writer), so no two senders hold the same row.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, Date, Engine, bindparam, func, or_, select, text, update

from schoolpass.disclosure import ledger
from schoolpass.disclosure.models import LedgerEntry
from schoolpass.notices.content import Letter, render
from schoolpass.notices.guard import Guard, Outgoing, Verdict
from schoolpass.notices.models import (BLOCKED, FAILED, PLANNED, SENDING, LinkToken, Notice, OutboxMessage,
                                       SendLock)
from schoolpass.notices.smtp import PERMANENT, SENT as DELIVERED, Delivery, Mailer
from schoolpass.notices.tokens import new_token, token_hash
from schoolpass.roster.authorization import in_force
from schoolpass.settings import Settings
from schoolpass.storage.instants import bulk_instant
from schoolpass.storage.sql import for_drivers

LINK_DAYS = 10
# Marking a message sent happens once per message, on the hot path, in the recording connection's
# transaction with its ledger entry: straight to the driver (see ledger.append). Links work for
# LINK_DAYS from the message's `sent_at` (the link page reads it from here).
_MARK_SENT = for_drivers(
    "UPDATE outbox SET state = 'sent', sent_at = :sent_at, attempts = attempts + 1, claimed_by = NULL, "
    "claimed_until = NULL, reason = NULL, content_sha256 = :sha WHERE id = :id AND state <> 'sent'")
BATCH = 50
# Within one run, wait for retries and other senders' claims that come due this soon; later ones
# are left for the next `send` or `daily`.
WAIT_LIMIT_SECONDS = 300.0


@dataclass(frozen=True)
class Claimed:
    id: int
    notice_id: int
    on_date: date
    kind: str
    subject_id: str
    recipient_id: str
    address: str
    language: str
    message_id: str
    attempts: int
    by_date: date | None


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    retried: int = 0  # temporary failures, retried later
    taken_over: int = 0  # claims of crashed senders taken back
    stopped: str | None = None  # why the run ended with messages waiting (cap, retry later)
    outbox: Counter = field(default_factory=Counter)  # every outbox row by state, at the end

    def merge(self, other: SendReport) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.blocked += other.blocked
        self.retried += other.retried
        self.taken_over += other.taken_over
        self.stopped = self.stopped or other.stopped

    @property
    def waiting(self) -> int:
        return self.outbox.get(PLANNED, 0) + self.outbox.get(SENDING, 0)

    def as_dict(self) -> dict:
        return {"sent": self.sent, "failed": self.failed, "blocked": self.blocked, "retried": self.retried,
                "taken_over": self.taken_over, "stopped": self.stopped, "outbox": dict(self.outbox)}


def sender_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")  # a zombie sends nothing
    except (OSError, IndexError):
        return False


def due_messages(now: datetime, room: int, postgres: bool):
    """The ids of the next `room` planned messages that are due, in id order (walked from the outbox's
    (state, id, next_attempt_at) index, never sorted: a claim costs the same with 390,000 planned)."""
    due = (select(OutboxMessage.id)
           .where(OutboxMessage.state == PLANNED,
                  or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now))
           .order_by(OutboxMessage.id).limit(room))
    return due.with_for_update(skip_locked=True) if postgres else due


def outbox_counts(conn: Connection) -> Counter:
    return Counter({state: n for state, n in conn.execute(
        select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state))})


class Sender:
    """One sender process's loop over the outbox."""

    def __init__(self, engine: Engine, settings: Settings, mailer: Mailer, *, guard: Guard | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), sleep: Callable[[float], None] = time.sleep,
                 batch: int = BATCH, on_progress: Callable[[int], None] | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.mailer = mailer
        self.guard = guard or Guard()
        self.clock = clock
        self.sleep = sleep
        self.batch = batch
        self.name = sender_name()
        self.on_progress = on_progress
        self.postgres = engine.dialect.name == "postgresql"
        self._conn: Connection | None = None  # the recording connection (used by one thread at a time)
        self._recording: ThreadPoolExecutor | None = None

    # -- the loop ---------------------------------------------------------------------------------
    def drain(self) -> SendReport:
        report = SendReport()
        try:
            while True:
                claimed, why_none = self._claim(report)
                if claimed:
                    self._send_batch(claimed, report)
                    continue
                wait = self._wait_for(why_none)
                if wait is None:
                    break
                if wait > WAIT_LIMIT_SECONDS:
                    report.stopped = report.stopped or (
                        "the daily cap is reached" if why_none == "cap" else "retries due later")
                    break
                self.sleep(min(max(wait, 0.02), 1.0))
        finally:
            self.mailer.close()
            if self._recording is not None:
                self._recording.shutdown(wait=True)
                self._recording = None
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        with self.engine.connect() as conn:
            report.outbox = outbox_counts(conn)
        return report

    # -- claiming ---------------------------------------------------------------------------------
    def _take_back(self, conn: Connection, now: datetime) -> int:
        """Return to `planned` the rows of senders that are gone (local and dead, or lease run out)."""
        taken = conn.execute(update(OutboxMessage).where(
            OutboxMessage.state == SENDING, OutboxMessage.claimed_until < now)
            .values(state=PLANNED, claimed_by=None, claimed_until=None)).rowcount
        host = socket.gethostname()
        for claimer in conn.execute(select(OutboxMessage.claimed_by).where(OutboxMessage.state == SENDING)
                                    .distinct()).scalars():
            parts = (claimer or "").split(":")
            if len(parts) == 3 and parts[0] == host and parts[1].isdigit() and int(parts[1]) != os.getpid() \
                    and _process_gone(int(parts[1])):
                taken += conn.execute(update(OutboxMessage).where(
                    OutboxMessage.state == SENDING, OutboxMessage.claimed_by == claimer)
                    .values(state=PLANNED, claimed_by=None, claimed_until=None)).rowcount
        return taken

    def _room(self, conn: Connection, now: datetime) -> tuple[int, str | None]:
        """How many messages the sending limits allow to claim now, across all senders."""
        room, limited_by = self.batch, None
        s = self.settings
        if s.send_rate is None and s.daily_cap is None:
            return room, None
        in_flight = conn.execute(select(func.count()).where(OutboxMessage.state == SENDING)).scalar_one()
        if s.send_rate is not None:
            recent = conn.execute(select(func.count()).where(
                LedgerEntry.sent_at >= ledger.instant_text(now - timedelta(seconds=60)))).scalar_one()
            if s.send_rate - recent - in_flight < room:
                room, limited_by = s.send_rate - recent - in_flight, "rate"
        if s.daily_cap is not None:
            local = now.astimezone(s.zone)
            day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
            today = conn.execute(select(func.count()).where(
                LedgerEntry.sent_at >= ledger.instant_text(day_start))).scalar_one()
            if s.daily_cap - today - in_flight < room:
                room, limited_by = s.daily_cap - today - in_flight, "cap"
        return max(room, 0), limited_by

    def _claim(self, report: SendReport) -> tuple[list[Claimed], str | None]:
        now = self.clock()
        limited = self.settings.send_rate is not None or self.settings.daily_cap is not None
        with self.engine.begin() as conn:
            if not self.postgres:
                # Take SQLite's write lock first, so the reads below cannot go stale.
                conn.execute(update(SendLock).where(SendLock.id == 1).values(claims=SendLock.claims + 1))
            elif limited:
                conn.execute(select(SendLock.id).where(SendLock.id == 1).with_for_update())
            report.taken_over += self._take_back(conn, now)
            room, limited_by = self._room(conn, now)
            if room <= 0:
                return [], limited_by
            due = due_messages(now, room, self.postgres)
            ids = conn.execute(
                update(OutboxMessage).where(OutboxMessage.id.in_(due.scalar_subquery()))
                .values(state=SENDING, claimed_by=self.name,
                        claimed_until=now + timedelta(seconds=self.settings.send_lease_seconds))
                .returning(OutboxMessage.id)).scalars().all()
            if not ids:
                return [], None
            rows = conn.execute(
                select(OutboxMessage.id, OutboxMessage.notice_id, OutboxMessage.on_date, OutboxMessage.kind,
                       OutboxMessage.subject_id, OutboxMessage.recipient_id, OutboxMessage.address,
                       OutboxMessage.language, OutboxMessage.message_id, OutboxMessage.attempts, Notice.by_date)
                .join(Notice, Notice.id == OutboxMessage.notice_id)
                .where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)).all()
        return [Claimed(*row) for row in rows], None

    def _wait_for(self, why_none: str | None) -> float | None:
        """Seconds until something may be claimable; None when there is nothing left to wait for."""
        now = self.clock()
        with self.engine.connect() as conn:
            if why_none == "cap":
                waiting = conn.execute(select(func.count()).where(OutboxMessage.state == PLANNED)).scalar_one()
                if waiting:
                    return float("inf")
            next_retry = conn.execute(select(func.min(func.coalesce(OutboxMessage.next_attempt_at, now)))
                                      .where(OutboxMessage.state == PLANNED)).scalar()
            lease_end = conn.execute(select(func.min(OutboxMessage.claimed_until))
                                     .where(OutboxMessage.state == SENDING)).scalar()
        if why_none == "rate":
            return 1.0
        times = [t for t in (next_retry, lease_end) if t is not None]
        if not times:
            return None
        if lease_end is not None and next_retry is None:
            # Others are sending; wait for them (their rows come back if they die).
            return min((lease_end - now).total_seconds(), 1.0) if (lease_end - now).total_seconds() > 0 else 0.0
        return max((min(times) - now).total_seconds(), 0.0)

    # -- one batch ----------------------------------------------------------------------------------
    def _issue_tokens(self, claimed: list[Claimed], now: datetime) -> dict[int, str]:
        tokens = {c.id: new_token() for c in claimed}
        with self.engine.begin() as conn:
            conn.execute(LinkToken.__table__.insert(), [
                {"token_hash": token_hash(tokens[c.id]), "message_row": c.id, "subject_id": c.subject_id,
                 "created_at": now, "expires_at": None, "failed_checks": 0, "revoked_at": None} for c in claimed])
        return tokens

    def _subjects(self, claimed: list[Claimed]) -> dict[tuple[date, str], tuple[str, str, bool]]:
        """(day, subject) -> (given name, family name, has a birth date) as the roster says on that day."""
        found: dict[tuple[date, str], tuple[str, str, bool]] = {}
        by_day: dict[date, set[str]] = {}
        for c in claimed:
            by_day.setdefault(c.on_date, set()).add(c.subject_id)
        statement = text(f"""
            SELECT p.sourced_id, p.given_name, p.family_name, b.birth_date IS NOT NULL AS has_birth_date
            FROM person_versions p
            LEFT JOIN birth_date_versions b ON b.sourced_id = p.sourced_id AND {in_force('b', None)}
            WHERE {in_force('p', None)} AND p.sourced_id IN :ids""").bindparams(
            bindparam("on", type_=Date), bindparam("ids", expanding=True))
        with self.engine.connect() as conn:
            for day, ids in by_day.items():
                for sid, given, family, has_birth_date in conn.execute(statement, {"on": day, "ids": sorted(ids)}):
                    found[(day, sid)] = (given or "", family or "", bool(has_birth_date))
        return found

    def _render(self, c: Claimed, token: str, subject: tuple[str, str, bool] | None, now: datetime) -> bytes:
        given, family, has_link = subject if subject else ("", "", False)
        letter = Letter(kind=c.kind, language=c.language, given_name=given, family_name=family, token=token,
                        has_link=has_link, by_date=c.by_date)
        return render(letter, base_url=self.settings.base_url, message_id=c.message_id,
                      sender=self.settings.mail_from, to=c.address, reply_to=self.settings.reply_to, sent_date=now)

    def _send_batch(self, claimed: list[Claimed], report: SendReport) -> None:
        now = self.clock()
        tokens = self._issue_tokens(claimed, now)
        subjects = self._subjects(claimed)
        outgoing = [Outgoing(c.id, c.on_date, c.subject_id, c.address,
                             self._render(c, tokens[c.id], subjects.get((c.on_date, c.subject_id)), now))
                    for c in claimed]
        with self.engine.connect() as conn:
            verdicts = self.guard.check(conn, outgoing)
        renewed_at, still_mine = time.monotonic(), {c.id for c in claimed}
        # The message the server last took is recorded by the recording thread while this one sends the
        # next message's envelope and data; the record is committed before that data is ended.
        recording: Future | None = None

        def settled() -> None:
            nonlocal recording
            if recording is not None:
                done, recording = recording, None
                done.result()  # the record is committed (or its error is raised here)

        try:
            for n, (c, item, verdict) in enumerate(zip(claimed, outgoing, verdicts)):
                if time.monotonic() - renewed_at > self.settings.send_lease_seconds * 0.2:
                    # A slow server: keep the claim alive; rows another sender took over meanwhile are theirs now.
                    settled()
                    still_mine = self._renew([x.id for x in claimed[n:]])
                    renewed_at = time.monotonic()
                if c.id not in still_mine:
                    continue
                if not verdict.ok:
                    settled()
                    self._finish(c, BLOCKED, f"guard: {verdict.reason}")
                    report.blocked += 1
                    continue
                # All of this message but the end of its data (meanwhile the last one's record is written);
                # then that record must be committed before the server may take this one (at most one
                # message is ever taken and not yet recorded: the one a crash may resend); then the end of
                # the data, and the server's answer.
                refused = self.mailer.begin(self.settings.mail_from, item.address, item.raw)
                settled()
                delivery = refused or self.mailer.finish()
                if delivery.outcome == DELIVERED:
                    recording = self._recorder_thread().submit(self._record_sent, c, item, verdict)
                    report.sent += 1
                elif delivery.outcome == PERMANENT:
                    self._finish(c, FAILED, f"refused by the server ({delivery.code}, {delivery.what})")
                    report.failed += 1
                else:
                    if self._retry_later(c, delivery):
                        report.retried += 1
                    else:
                        report.failed += 1
                if self.on_progress:
                    self.on_progress(1)
        finally:
            settled()

    def _recorder_thread(self) -> ThreadPoolExecutor:
        if self._recording is None:
            self._recording = ThreadPoolExecutor(max_workers=1, thread_name_prefix="schoolpass-record")
        return self._recording

    def _renew(self, ids: list[int]) -> set[int]:
        until = self.clock() + timedelta(seconds=self.settings.send_lease_seconds)
        with self.engine.begin() as conn:
            return set(conn.execute(
                update(OutboxMessage).where(OutboxMessage.id.in_(ids), OutboxMessage.state == SENDING,
                                            OutboxMessage.claimed_by == self.name)
                .values(claimed_until=until).returning(OutboxMessage.id)).scalars())

    # -- recording outcomes -----------------------------------------------------------------------------
    def _record_sent(self, c: Claimed, item: Outgoing, verdict: Verdict) -> None:
        sent_at = self.clock()
        digest = hashlib.sha256(item.raw).hexdigest()
        with self._recorder() as conn:
            dialect = conn.dialect.name
            cursor = conn.connection.driver_connection.cursor()
            try:
                cursor.execute(_MARK_SENT[dialect], {"id": c.id, "sent_at": bulk_instant(sent_at, dialect),
                                                     "sha": digest})
                marked = cursor.rowcount
            finally:
                cursor.close()
            if not marked:
                return  # another sender already recorded this message: one ledger entry per message
            # The ledger names whom the message discloses (its token's subject) and where it went (its To).
            ledger.append(conn, sent_at=sent_at, on_date=c.on_date, notice_id=c.notice_id, message_id=c.message_id,
                          kind=c.kind, subject_id=verdict.disclosed_subject, recipient_id=c.recipient_id,
                          address=verdict.to, content_sha256=digest)

    @contextmanager
    def _recorder(self) -> Iterator[Connection]:
        """One connection kept for the per-message writes (a pool checkout per message costs as much as the write)."""
        if self._conn is None:
            self._conn = self.engine.connect()
        with self._conn.begin():
            yield self._conn

    def _finish(self, c: Claimed, state: str, reason: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(OutboxMessage).where(OutboxMessage.id == c.id, OutboxMessage.state == SENDING,
                                                     OutboxMessage.claimed_by == self.name).values(
                state=state, reason=reason[:255], attempts=OutboxMessage.attempts + (0 if state == BLOCKED else 1),
                claimed_by=None, claimed_until=None))

    def _retry_later(self, c: Claimed, delivery: Delivery) -> bool:
        """Schedule a retry with exponential backoff; False when the attempts are used up (failed)."""
        attempts = c.attempts + 1
        last = f"{delivery.code or 'no answer'}, {delivery.what}"
        if attempts >= self.settings.retry_attempts:
            self._finish(c, FAILED, f"gave up after {attempts} attempts (last: {last})")
            return False
        delay = self.settings.retry_base_seconds * (2 ** (attempts - 1))
        with self.engine.begin() as conn:
            conn.execute(update(OutboxMessage).where(OutboxMessage.id == c.id, OutboxMessage.state == SENDING,
                                                     OutboxMessage.claimed_by == self.name).values(
                state=PLANNED, attempts=attempts, next_attempt_at=self.clock() + timedelta(seconds=delay),
                reason=f"retrying (last: {last})"[:255], claimed_by=None, claimed_until=None))
        return True
