"""Claiming: the next due messages in id order, read from the outbox's index without a sort."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from schoolpass.notices.models import OutboxMessage
from schoolpass.notices.sender import due_messages
from tests.notices.bulk_outbox import fill_outbox

NOW = datetime(2021, 11, 22, 15, 0, tzinfo=UTC)


def test_due_messages_come_in_id_order_skipping_retries_not_yet_due(db, tmp_path):
    fill_outbox(db.engine, tmp_path, 12)
    with db.engine.begin() as conn:
        ids = conn.execute(select(OutboxMessage.id).order_by(OutboxMessage.id)).scalars().all()
        later, earlier = ids[1:4], ids[5:6]
        conn.execute(update(OutboxMessage).where(OutboxMessage.id.in_(later))
                     .values(next_attempt_at=NOW + timedelta(minutes=5)))
        conn.execute(update(OutboxMessage).where(OutboxMessage.id.in_(earlier))
                     .values(next_attempt_at=NOW - timedelta(minutes=5)))
        due = conn.execute(due_messages(NOW, 5, db.backend == "postgresql")).scalars().all()
    assert due == [i for i in ids if i not in later][:5]


def test_a_claim_walks_the_index_and_never_sorts_the_outbox(db):
    """With (state, next_attempt_at) every claim sorted all planned rows: a run grew with the square of its size."""
    if db.backend != "sqlite":
        return  # PostgreSQL picks its plan from statistics; the order is checked above
    with db.engine.connect() as conn:
        compiled = due_messages(NOW, 50, False).compile(conn, compile_kwargs={"literal_binds": True})
        plan = " | ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))
    assert "ix_outbox_state_id" in plan and "TEMP B-TREE" not in plan, plan
