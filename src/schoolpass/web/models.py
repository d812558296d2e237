"""Staff console tables: accounts, the schools a school-level account covers, server-side sessions.

Sessions live in the database (only the SHA-256 of the cookie's token is stored) so that a
sign-out, `staff disable` or a role change takes effect on the very next request.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from schoolpass.storage.base import Base
from schoolpass.storage.types import UtcDateTime


class StaffAccount(Base):
    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # lower-cased
    role: Mapped[str] = mapped_column(String(24))  # district-admin | school-admin | nurse | auditor | viewer
    password_hash: Mapped[str] = mapped_column(Text)  # Argon2id, PHC string
    totp_secret: Mapped[str | None] = mapped_column(String(64))  # base32; NULL: no second factor
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class StaffAccountSchool(Base):
    """A school (org sourcedId) a school-admin or nurse account covers."""

    __tablename__ = "staff_account_schools"

    account_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"), primary_key=True)
    org_sourced_id: Mapped[str] = mapped_column(String(255), primary_key=True)


class StaffSession(Base):
    """A signed-in browser. `id` is the SHA-256 (hex) of the token in the `sp_staff` cookie."""

    __tablename__ = "staff_sessions"
    __table_args__ = (Index(None, "account_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())  # absolute limit
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
