"""Lab results and how each came to be attached to a person (or not)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from schoolpass.storage.base import Base
from schoolpass.storage.types import UtcDateTime


class ResultImport(Base):
    __tablename__ = "result_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    format: Mapped[str] = mapped_column(String(24))
    source_name: Mapped[str] = mapped_column(String(255))
    source_sha256: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime())
    summary: Mapped[str] = mapped_column(Text)


class LabResult(Base):
    """One result, identified by (performing lab, accession number, test code).

    A correction replaces the stored values (the replaced ones go to lab_result_revisions)
    and raises `revision`. `person_id` is the OneRoster sourcedId it is attached to, or
    NULL while it waits in the unmatched queue.
    """

    __tablename__ = "lab_results"
    __table_args__ = (
        UniqueConstraint("lab", "accession", "test_code"),
        Index(None, "person_id", "collected_on", "result"),  # covers everyone's status on a day
        Index(None, "collected_on"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lab: Mapped[str] = mapped_column(String(64))  # performing lab's CLIA, "" when not given
    accession: Mapped[str] = mapped_column(String(255))
    test_code: Mapped[str] = mapped_column(String(32))
    # What the lab said about the patient (kept for matching and for staff resolving the queue).
    patient_ids: Mapped[str] = mapped_column(Text)  # JSON list
    given_name: Mapped[str | None] = mapped_column(Text)
    family_name: Mapped[str | None] = mapped_column(Text)
    birth_date: Mapped[date | None] = mapped_column(Date)
    # The result.
    result: Mapped[str] = mapped_column(String(16))  # positive | negative | inconclusive
    result_code: Mapped[str | None] = mapped_column(String(64))
    result_text: Mapped[str | None] = mapped_column(Text)
    collected_at: Mapped[datetime] = mapped_column(UtcDateTime())
    collected_on: Mapped[date] = mapped_column(Date)  # in the district's calendar
    resulted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    corrected: Mapped[bool] = mapped_column(Boolean)
    revision: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())  # of this revision
    import_id: Mapped[int] = mapped_column(ForeignKey("result_imports.id"))
    source_ref: Mapped[str] = mapped_column(String(64))
    # Matching.
    person_id: Mapped[str | None] = mapped_column(String(255))
    match_method: Mapped[str | None] = mapped_column(String(24))  # id | name-birth-date | staff
    unmatched_reason: Mapped[str | None] = mapped_column(Text)
    # Set when staff undo a match: the result then waits for staff, never for automatic matching.
    staff_only: Mapped[bool] = mapped_column(Boolean, default=False)
    # The last roster import automatic matching tried this result against (retry only after a newer one).
    tried_roster: Mapped[int] = mapped_column(Integer, default=0)


class LabResultRevision(Base):
    """A stored result's values as they were before a correction replaced them."""

    __tablename__ = "lab_result_revisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("lab_results.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    result: Mapped[str] = mapped_column(String(16))
    result_code: Mapped[str | None] = mapped_column(String(64))
    result_text: Mapped[str | None] = mapped_column(Text)
    collected_at: Mapped[datetime] = mapped_column(UtcDateTime())
    resulted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    person_id: Mapped[str | None] = mapped_column(String(255))
    import_id: Mapped[int] = mapped_column(ForeignKey("result_imports.id"))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    replaced_at: Mapped[datetime] = mapped_column(UtcDateTime())


class MatchEvent(Base):
    """Who attached a result to a person, or undid it, and when."""

    __tablename__ = "result_match_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("lab_results.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # match | unmatch
    person_id: Mapped[str | None] = mapped_column(String(255))
    previous_person_id: Mapped[str | None] = mapped_column(String(255))
    by: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
