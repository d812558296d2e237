"""The notice tables: runs, notices (once-only keys), the outbox, link tokens.

A notice is one thing to tell about one subject (a new result, a test due); it has one
outbox row per distinct authorized address, or one row without an address when it
cannot be delivered (held for staff, or no authorized address). Outbox states:

    planned -> sending -> sent | failed          (planned again after a temporary failure)
    planned -> blocked                           (the guard refused it)
    held | undeliverable                         (never had an address)
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from schoolpass.storage.base import Base
from schoolpass.storage.types import UtcDateTime

PLANNED, SENDING, SENT, FAILED = "planned", "sending", "sent", "failed"
BLOCKED, HELD, UNDELIVERABLE = "blocked", "held", "undeliverable"
FINAL_STATES = (SENT, FAILED, BLOCKED, HELD, UNDELIVERABLE)


class NoticeRun(Base):
    """One `daily` run: its business date and what came of it."""

    __tablename__ = "notice_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    on_date: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    policy_sha256: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # planned | stopped (by the run check) | verified
    summary: Mapped[str] = mapped_column(Text, default="{}")


class Notice(Base):
    """One thing to tell about one subject. `once_key` makes each notice happen once, ever."""

    __tablename__ = "notices"
    __table_args__ = (Index(None, "subject_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("notice_runs.id"), index=True)
    on_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(24))
    subject_id: Mapped[str] = mapped_column(String(255))
    once_key: Mapped[str] = mapped_column(String(320), unique=True)
    result_id: Mapped[int | None] = mapped_column(Integer)  # result-available: the result it announces
    by_date: Mapped[date | None] = mapped_column(Date)  # reminders: be tested by (None: as soon as possible)


class OutboxMessage(Base):
    """One message to one address about one subject, from plan to final state."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("notice_id", "address_key"),
        # A claim walks the due messages in id order and stops after a batch (see migration 0012).
        Index("ix_outbox_state_id", "state", "id", "next_attempt_at"),
        Index(None, "run_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"))
    run_id: Mapped[int] = mapped_column(ForeignKey("notice_runs.id"))
    on_date: Mapped[date] = mapped_column(Date)  # the run date the message is verified for
    kind: Mapped[str] = mapped_column(String(24))
    subject_id: Mapped[str] = mapped_column(String(255))  # whom the plan meant
    recipient_id: Mapped[str | None] = mapped_column(String(255))  # lowest contact id behind the address
    address: Mapped[str | None] = mapped_column(String(320))
    address_key: Mapped[str | None] = mapped_column(String(320))  # lower-cased, for comparisons
    language: Mapped[str] = mapped_column(String(8))
    message_id: Mapped[str] = mapped_column(String(255), unique=True)  # with angle brackets
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(255))  # why held, undeliverable, blocked or failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    content_sha256: Mapped[str | None] = mapped_column(String(64))


class LinkToken(Base):
    """A message's link token, stored only as its SHA-256. Usable 10 days from its message's send."""

    __tablename__ = "link_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_row: Mapped[int] = mapped_column(ForeignKey("outbox.id"), index=True)
    subject_id: Mapped[str] = mapped_column(String(255))  # whom the link discloses
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # NULL: the link works LINK_DAYS from its message's outbox.sent_at; set only to cut a link short.
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    failed_checks: Mapped[int] = mapped_column(Integer, default=0)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class SendLock(Base):
    """One row that serializes claims when sending limits apply (and all claims on SQLite)."""

    __tablename__ = "send_lock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    claims: Mapped[int] = mapped_column(Integer, default=0)
