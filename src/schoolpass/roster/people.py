"""Who a sourcedId is, as the roster is known now."""

from __future__ import annotations

from sqlalchemy import Connection, select

from schoolpass.roster.models import PersonVersion


def kind_of(conn: Connection, sourced_id: str) -> str | None:
    """student | staff | contact | ext, from the person's latest record; None if never in the roster."""
    return conn.execute(
        select(PersonVersion.kind).where(PersonVersion.sourced_id == sourced_id, PersonVersion.rec_to.is_(None))
        .order_by(PersonVersion.valid_from.desc()).limit(1)
    ).scalar_one_or_none()
