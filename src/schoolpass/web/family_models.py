"""Family portal tables: one-time sign-in links, server-side sessions, daily symptom attestations.

Only SHA-256 hashes of link and cookie tokens are stored. `address_key` is the lower-cased
roster address the family signed in with; what it may see is decided again on every request.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from schoolpass.storage.base import Base
from schoolpass.storage.types import UtcDateTime


class FamilySignInLink(Base):
    """A one-time sign-in link (single use, 15 minutes). `token_hash`: SHA-256 (hex) of the link's token."""

    __tablename__ = "family_sign_in_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    address_key: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class FamilySession(Base):
    """A signed-in family browser. `id` is the SHA-256 (hex) of the token in the `sp_family` cookie."""

    __tablename__ = "family_sessions"
    __table_args__ = (Index(None, "address_key"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    address_key: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Attestation(Base):
    """A day's symptom attestation for one person (the latest answer of the day wins)."""

    __tablename__ = "attestations"
    __table_args__ = (UniqueConstraint("subject_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(255))
    day: Mapped[date] = mapped_column(Date)
    address_key: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    answers: Mapped[str] = mapped_column(Text)  # JSON: {"fever": bool, "cough": bool, "contact": bool}
