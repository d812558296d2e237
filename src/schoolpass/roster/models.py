"""The roster's tables. Every roster fact is bitemporal.

Valid time: a version holds on the days [valid_from, valid_to) (valid_to NULL = for ever).
Record time: a version was recorded by import `rec_from` and superseded by import
`rec_to` (NULL = still what we know now). Nothing is ever updated in place except
`rec_to`, so the roster as known after any past import stays queryable.

A person's links (agentSourcedIds) and schools (orgSourcedIds) belong to the record
they came from; they are stored once per (person, payload_hash), so a version split
by a later correction shares them with its remainders.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from schoolpass.storage.base import Base
from schoolpass.storage.types import UtcDateTime

SOURCED_ID = String(255)
HASH = String(32)


class RosterImport(Base):
    """One roster import: its business date (`as_of`) and when it was recorded."""

    __tablename__ = "roster_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    source_name: Mapped[str] = mapped_column(String(255))
    source_sha256: Mapped[str] = mapped_column(String(64))
    oneroster_version: Mapped[str] = mapped_column(String(8))
    summary: Mapped[str] = mapped_column(Text)


class RosterImportFile(Base):
    """Which entities an import carried, and whether as a bulk snapshot or a delta."""

    __tablename__ = "roster_import_files"

    import_id: Mapped[int] = mapped_column(ForeignKey("roster_imports.id"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(16), primary_key=True)
    mode: Mapped[str] = mapped_column(String(8))


class DeltaAssertion(Base):
    """A delta file named this record from `as_of` on: a later backdated snapshot stops there."""

    __tablename__ = "roster_delta_assertions"

    entity: Mapped[str] = mapped_column(String(16), primary_key=True)
    sourced_id: Mapped[str] = mapped_column(SOURCED_ID, primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("roster_imports.id"))


class _Versioned:
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sourced_id: Mapped[str] = mapped_column(SOURCED_ID)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    rec_from: Mapped[int] = mapped_column(ForeignKey("roster_imports.id"))
    rec_to: Mapped[int | None] = mapped_column(ForeignKey("roster_imports.id"))
    payload_hash: Mapped[str] = mapped_column(HASH)


class OrgVersion(_Versioned, Base):
    __tablename__ = "org_versions"
    __table_args__ = (Index(None, "sourced_id", "valid_from"),)

    name: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(64))
    identifier: Mapped[str | None] = mapped_column(String(255))
    parent_sourced_id: Mapped[str | None] = mapped_column(SOURCED_ID)


class PersonVersion(_Versioned, Base):
    """A user record: students, staff, and contacts (parents, guardians, relatives)."""

    __tablename__ = "person_versions"
    __table_args__ = (
        Index(None, "sourced_id", "valid_from"),
        # Covers matching lab results by id (the lab's patient id against identifier).
        Index("ix_person_versions_id_match", "identifier", "sourced_id", "kind", "rec_to", "valid_to", "given_key",
              "family_key"),
        # Covers the name + birth date match (no table lookups for common names).
        Index("ix_person_versions_name_match", "family_key", "given_key", "sourced_id", "kind", "rec_to", "valid_to"),
        # Who is behind an address (the family portal's sign-in and pages), compared case-insensitively.
        Index("ix_person_versions_email_key", func.lower(text("email"))),
    )

    # student | staff | contact | ext
    kind: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(64))
    # parent | guardian | relative when the person is some student's contact
    contact_role: Mapped[str | None] = mapped_column(String(16))
    given_name: Mapped[str] = mapped_column(Text)
    family_name: Mapped[str] = mapped_column(Text)
    identifier: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    # allow | deny (metadata.healthNotices)
    health_notices: Mapped[str] = mapped_column(String(8))
    language: Mapped[str | None] = mapped_column(String(35))
    # OneRoster 1.2 role beginDate/endDate: the record is active only inside them.
    active_from: Mapped[date | None] = mapped_column(Date)
    active_until: Mapped[date | None] = mapped_column(Date)
    # Names folded for matching lab results (case and accents): see roster.names.fold_name.
    given_key: Mapped[str] = mapped_column(Text, server_default="")
    family_key: Mapped[str] = mapped_column(Text, server_default="")


class PersonSchool(Base):
    __tablename__ = "person_schools"
    # Nothing but its key: on SQLite the table is the key's B-tree (no second copy in an index).
    __table_args__ = (Index(None, "org_sourced_id"), {"sqlite_with_rowid": False})

    person_sourced_id: Mapped[str] = mapped_column(SOURCED_ID, primary_key=True)
    payload_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    org_sourced_id: Mapped[str] = mapped_column(SOURCED_ID, primary_key=True)


class PersonAgent(Base):
    """`agentSourcedIds` of one person record: a student's contacts or a contact's students."""

    __tablename__ = "person_agents"
    __table_args__ = (Index(None, "agent_sourced_id"), {"sqlite_with_rowid": False})

    person_sourced_id: Mapped[str] = mapped_column(SOURCED_ID, primary_key=True)
    payload_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    agent_sourced_id: Mapped[str] = mapped_column(SOURCED_ID, primary_key=True)


class BirthDateVersion(_Versioned, Base):
    """demographics.csv: the birth date, the only demographic schoolpass keeps."""

    __tablename__ = "birth_date_versions"
    # Covering for "the birth date in force on a day" (the rule, matching results by name and birth date):
    # every lookup reads the index alone, never the table.
    __table_args__ = (Index("ix_birth_date_versions_in_force", "sourced_id", "rec_to", "valid_from", "valid_to",
                            "birth_date"),)

    birth_date: Mapped[date | None] = mapped_column(Date)
