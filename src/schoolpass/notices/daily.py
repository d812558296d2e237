"""The main job: statuses -> plan notices -> whole-run check -> send -> report.

`--dry-run` plans and checks inside a transaction that is rolled back: it shows what would
be sent (counts and ids) and leaves no trace. A second run on the same day plans nothing
new (once-only keys) and only drains what is left in the outbox.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Engine, select

from schoolpass.errors import SchoolpassError
from schoolpass.notices.models import OutboxMessage
from schoolpass.notices.planning import Plan, plan_day, record_plan_summary
from schoolpass.notices.run_check import Violation, check_run, stop_run
from schoolpass.notices.sender import Sender, SendReport
from schoolpass.notices.smtp import Mailer, parse_smtp_url
from schoolpass.policy.store import PolicyInForce
from schoolpass.settings import Settings


@dataclass
class DailyReport:
    plan: Plan
    violations: list[Violation] = field(default_factory=list)
    blocked_by_check: int = 0
    dry_run: bool = False
    send: SendReport | None = None
    preview: list[tuple[str, str, str | None, str]] = field(default_factory=list)  # kind, subject, recipient, state

    @property
    def stopped(self) -> bool:
        return bool(self.violations)


def mailer_for(settings: Settings) -> Mailer:
    if not settings.smtp_url:
        raise SchoolpassError("no SMTP server configured (--smtp or SCHOOLPASS_SMTP_URL): nothing was planned or sent")
    return Mailer(parse_smtp_url(settings.smtp_url))


def run_daily(engine: Engine, settings: Settings, on: date, policy: PolicyInForce, *, dry_run: bool = False,
              mailer: Mailer | None = None, sender_factory: Callable[..., Sender] = Sender,
              on_progress: Callable[[int], None] | None = None) -> DailyReport:
    if not dry_run and mailer is None:
        mailer = mailer_for(settings)
    policy_sha = hashlib.sha256(policy.text.encode()).hexdigest()
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            plan = plan_day(conn, on, policy.policy, policy_sha, settings.mail_from)
            report = DailyReport(plan, dry_run=dry_run)
            report.violations = check_run(conn, plan.run_id, on)
            if dry_run:
                report.preview = [tuple(r) for r in conn.execute(
                    select(OutboxMessage.kind, OutboxMessage.subject_id, OutboxMessage.recipient_id,
                           OutboxMessage.state).where(OutboxMessage.run_id == plan.run_id).order_by(OutboxMessage.id))]
                transaction.rollback()
                return report
            if report.violations:
                report.blocked_by_check = stop_run(conn, plan.run_id, report.violations)
                record_plan_summary(conn, plan, "stopped")
                transaction.commit()
                return report
            record_plan_summary(conn, plan, "verified")
            transaction.commit()
        except BaseException:
            if transaction.is_active:
                transaction.rollback()
            raise
    report.send = sender_factory(engine, settings, mailer, on_progress=on_progress).drain()
    return report
