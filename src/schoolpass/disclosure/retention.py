"""Retention: what could reopen a message goes after `retention_days`; the ledger stays.

Message bodies are never stored (they are rendered at send time and only their SHA-256 is
kept). Link tokens of messages sent more than `retention_days` ago are deleted (they expired
after 10 days anyway). Ledger entries (hashes, ids, addresses) are kept for the 6 years the
accounting rules need, and nothing here touches them, so `ledger verify` holds after a purge.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select

from schoolpass.notices.models import LinkToken, OutboxMessage


def purge(conn: Connection, now: datetime, days: int) -> int:
    """Delete the link tokens of messages older than `days`; returns how many."""
    cutoff = now - timedelta(days=days)
    old_messages = select(OutboxMessage.id).where(OutboxMessage.sent_at < cutoff)
    by_message = conn.execute(delete(LinkToken).where(LinkToken.message_row.in_(old_messages))).rowcount
    # Tokens of messages that were never sent (blocked, failed, crashed before the send) age out too.
    unsent = conn.execute(delete(LinkToken).where(LinkToken.created_at < cutoff)).rowcount
    return by_message + unsent
