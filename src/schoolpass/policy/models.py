"""Stored program policies: the newest one stored is in force (older ones stay, for the record)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from schoolpass.storage.base import Base
from schoolpass.storage.types import UtcDateTime


class StoredPolicy(Base):
    __tablename__ = "program_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime())
    source_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
