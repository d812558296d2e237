"""Planning a day's notices: which notices are due, to which addresses (CONTRACT sections 4 and 5).

- `result-available`: once per result (and again per correction), for results collected on
  a day C with D - result_notice_window_days <= C <= D.
- `exemption-ending`: once per episode, on days in [exempt_until - exemption_notice_days, exempt_until).
- `test-overdue`: once per overdue period; a period is named by the day testing became due
  (`next_test_due` of a test-due status; "never" for someone never tested).

Every notice is stored with a `once_key`; a key already stored (by any earlier run) is never
planned again. Addresses come only from `roster.authorization.notice_addresses`. A notice
with no address gets one outbox row without one: `held` when its subject is marked deny,
else `undeliverable`. Nothing is rendered here: bodies are built at send time.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, Date, insert, select, update

from schoolpass.notices.models import HELD, PLANNED, UNDELIVERABLE, Notice, NoticeRun
from schoolpass.policy.model import Policy
from schoolpass.policy.status import EXEMPT, TEST_DUE
from schoolpass.policy.statuses import everyone
from schoolpass.roster.authorization import notice_addresses, subjects_held
from schoolpass.storage.bulk import insert_rows
from schoolpass.storage.sql import typed

RESULT_AVAILABLE, EXEMPTION_ENDING, TEST_OVERDUE = "result-available", "exemption-ending", "test-overdue"
KINDS = (RESULT_AVAILABLE, EXEMPTION_ENDING, TEST_OVERDUE)


@dataclass(frozen=True)
class Due:
    """A notice that is due today, before we know whether it was already given."""

    kind: str
    subject_id: str
    once_key: str
    result_id: int | None = None
    by_date: date | None = None


@dataclass
class Plan:
    run_id: int | None
    on: date
    statuses: Counter = field(default_factory=Counter)
    notices: Counter = field(default_factory=Counter)  # by kind, planned this run
    already_given: int = 0  # due, but an earlier run planned them
    messages: Counter = field(default_factory=Counter)  # by state: planned | held | undeliverable

    def as_dict(self) -> dict:
        return {"run": self.run_id, "on": self.on.isoformat(), "statuses": dict(self.statuses),
                "notices": dict(self.notices), "already_given": self.already_given,
                "messages": dict(self.messages)}


def due_notices(conn: Connection, on: date, policy: Policy, statuses: Counter) -> Iterator[Due]:
    """Every notice due on `on` by the policy's timing rules (once-only filtering comes after)."""
    rules = policy.on(on)
    for status in everyone(conn, on, policy):
        statuses[status.status] += 1
        if status.status == EXEMPT and status.exempt_until is not None:
            if status.exempt_until - timedelta(days=rules.exemption_notice_days) <= on:
                yield Due(EXEMPTION_ENDING, status.id, f"{EXEMPTION_ENDING}:{status.id}:{status.exempt_until}",
                          by_date=status.exempt_until)
        elif status.status == TEST_DUE:
            period = status.next_test_due.isoformat() if status.next_test_due else "never"
            # Dated like exemption-ending (be tested by a day), so the two read alike (CONTRACT section 4).
            yield Due(TEST_OVERDUE, status.id, f"{TEST_OVERDUE}:{status.id}:{period}", by_date=on)
    window = typed("""
        SELECT id, revision, person_id FROM lab_results
        WHERE person_id IS NOT NULL AND collected_on >= :first AND collected_on <= :on
        ORDER BY id""", first=Date, on=Date)
    first = on - timedelta(days=rules.result_notice_window_days)
    for result_id, revision, person_id in conn.execute(window, {"first": first, "on": on}):
        yield Due(RESULT_AVAILABLE, person_id, f"{RESULT_AVAILABLE}:{result_id}:{revision}", result_id=result_id)


def _not_given_before(conn: Connection, due: list[Due]) -> list[Due]:
    """The notices no earlier run has planned (their once_key is new), by one anti-join."""
    conn.exec_driver_sql("CREATE TEMPORARY TABLE IF NOT EXISTS plan_keys (once_key VARCHAR(320) PRIMARY KEY)")
    conn.exec_driver_sql("DELETE FROM plan_keys")
    insert_rows(conn, "plan_keys", ["once_key"], ((d.once_key,) for d in due))
    given = set(conn.exec_driver_sql(
        "SELECT k.once_key FROM plan_keys k JOIN notices n ON n.once_key = k.once_key").scalars())
    conn.exec_driver_sql("DELETE FROM plan_keys")
    return [d for d in due if d.once_key not in given]


def message_domain(mail_from: str) -> str:
    return mail_from.rsplit("@", 1)[-1].strip(" >") or "localhost"


def message_ids(domain: str) -> Iterator[str]:
    """Message-IDs as `<128 random bits in hex@domain>`, as unguessable as a UUID4's and cheaper: the
    randomness is read a few thousand ids at a time (a district's day plans ~400,000 messages)."""
    while True:
        block = os.urandom(16 * 4096).hex()
        for start in range(0, len(block), 32):
            yield f"<{block[start:start + 32]}@{domain}>"


def plan_day(conn: Connection, on: date, policy: Policy, policy_sha256: str, mail_from: str,
             now: datetime | None = None) -> Plan:
    """Plan and store the day's notices in the caller's transaction; returns what was planned."""
    now = now or datetime.now(UTC)
    plan = Plan(None, on)
    due = list(due_notices(conn, on, policy, plan.statuses))
    new = _not_given_before(conn, due)
    plan.already_given = len(due) - len(new)
    run_id = conn.execute(insert(NoticeRun).values(
        on_date=on, started_at=now, policy_sha256=policy_sha256, state="planned", summary="{}")
        .returning(NoticeRun.id)).scalar_one()
    plan.run_id = run_id
    if not new:
        return plan
    day = on.isoformat()  # dates as the database stores them, converted once (not per row)
    insert_rows(conn, "notices", ["run_id", "on_date", "kind", "subject_id", "once_key", "result_id", "by_date"],
                ((run_id, day, d.kind, d.subject_id, d.once_key, d.result_id,
                  day if d.by_date == on else d.by_date and d.by_date.isoformat()) for d in new))
    notice_ids = {key: notice_id for key, notice_id in conn.execute(
        select(Notice.once_key, Notice.id).where(Notice.run_id == run_id))}

    subjects = {d.subject_id for d in new}
    addresses = notice_addresses(conn, on, subjects)
    held = subjects_held(conn, on, subjects)
    ids = message_ids(message_domain(mail_from))

    def rows():
        for d in new:
            plan.notices[d.kind] += 1
            notice_id = notice_ids[d.once_key]
            to = addresses.get(d.subject_id, [])
            if not to:
                state = HELD if d.subject_id in held else UNDELIVERABLE
                reason = ("the subject is marked deny: held for staff" if state == HELD
                          else "no authorized address on the roster")
                plan.messages[state] += 1
                yield (notice_id, run_id, day, d.kind, d.subject_id, None, None, None, "en", next(ids), state, reason, 0)
                continue
            for a in to:
                plan.messages[PLANNED] += 1
                yield (notice_id, run_id, day, d.kind, d.subject_id, a.recipient_id, a.address, a.address_key,
                       a.language, next(ids), PLANNED, None, 0)

    insert_rows(conn, "outbox", ["notice_id", "run_id", "on_date", "kind", "subject_id", "recipient_id", "address",
                                 "address_key", "language", "message_id", "state", "reason", "attempts"], rows())
    return plan


def record_plan_summary(conn: Connection, plan: Plan, state: str) -> None:
    conn.execute(update(NoticeRun).where(NoticeRun.id == plan.run_id)
                 .values(state=state, summary=json.dumps(plan.as_dict(), sort_keys=True)))
