"""The disclosure ledger: one hash-chained entry per message sent (CONTRACT section 4)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from schoolpass.storage.base import Base
from schoolpass.storage.types import UtcDateTime

GENESIS = "0" * 64
SUBJECT_INDEX = "ix_ledger_entries_subject"


class LedgerEntry(Base):
    """Fields exactly as `ledger export --json` shows them; `hash` covers all the others."""

    __tablename__ = "ledger_entries"
    # By subject, covering what breach scope compares (day, address): a window that holds much of the
    # ledger is read in subject order from this index alone, each part of the subjects its own range.
    __table_args__ = (Index(SUBJECT_INDEX, "subject_id", "on_date", "address"), Index(None, "on_date"),
                      Index(None, "sent_at"))

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sent_at: Mapped[str] = mapped_column(String(32))  # UTC ISO 8601, exactly as hashed
    on_date: Mapped[date] = mapped_column(Date)
    notice_id: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(24))
    subject_id: Mapped[str] = mapped_column(String(255))
    recipient_id: Mapped[str] = mapped_column(String(255))
    address: Mapped[str] = mapped_column(String(320))
    channel: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(120))
    content_sha256: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class LedgerHead(Base):
    """The chain's last seq and hash: appends lock this row, and verify checks the chain ends here."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class AccessLogEntry(Base):
    """A read of someone's health information that is not a message: a result link opened after the
    birth-date proof, or a staff view of a person (CONTRACT section 4: the access log, not the ledger)."""

    __tablename__ = "access_log"
    __table_args__ = (Index(None, "subject_id"), Index(None, "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(320))  # "result-link" or the staff account
    action: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(255))
    detail: Mapped[str] = mapped_column(String(255))  # ids only (outbox row, notice kind)
