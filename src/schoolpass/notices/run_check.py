"""The whole-run check, before the first message of a run goes out (CONTRACT section 4, "The guard").

Re-derives, independently of the plan, who may receive notices about each planned
subject on the run date, and finds any planned message that would:
- go to an address not authorized for its subject, or
- be a second notice of one kind about one subject to one address in the run
  (except one `result-available` per result).
Any finding stops the run: every planned message of the run is blocked, nothing is sent.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, select, update

from schoolpass.notices.models import BLOCKED, PLANNED, Notice, NoticeRun, OutboxMessage
from schoolpass.notices.planning import RESULT_AVAILABLE
from schoolpass.roster.authorization import authorized_pairs


@dataclass(frozen=True)
class Violation:
    message_row: int
    subject_id: str
    reason: str


def check_run(conn: Connection, run_id: int, on: date) -> list[Violation]:
    rows = conn.execute(
        select(OutboxMessage.id, OutboxMessage.subject_id, OutboxMessage.address_key, OutboxMessage.kind,
               Notice.result_id)
        .join(Notice, Notice.id == OutboxMessage.notice_id)
        .where(OutboxMessage.run_id == run_id, OutboxMessage.state == PLANNED)
        .order_by(OutboxMessage.id)
    ).all()
    if not rows:
        return []
    subjects = {r.subject_id for r in rows}
    authorized = authorized_pairs(conn, on, subjects)
    violations: list[Violation] = []
    seen: Counter = Counter()
    for r in rows:
        key = (r.address_key, r.kind, r.subject_id, r.result_id if r.kind == RESULT_AVAILABLE else None)
        seen[key] += 1
        if r.address_key is None or (r.subject_id, r.address_key.lower()) not in authorized:
            violations.append(Violation(r.id, r.subject_id, f"address not authorized for {r.subject_id} on {on}"))
        elif seen[key] > 1:
            violations.append(Violation(r.id, r.subject_id, f"a second {r.kind} notice about {r.subject_id} "
                                                             "to one address in this run"))
    return violations


def stop_run(conn: Connection, run_id: int, violations: list[Violation]) -> int:
    """Block every planned message of the run; returns how many."""
    blocked = conn.execute(
        update(OutboxMessage).where(OutboxMessage.run_id == run_id, OutboxMessage.state == PLANNED)
        .values(state=BLOCKED, reason=f"run stopped by the whole-run check ({len(violations)} violations)")
    ).rowcount
    conn.execute(update(NoticeRun).where(NoticeRun.id == run_id).values(state="stopped"))
    return blocked
