"""`schoolpass daily`, `schoolpass send` and `schoolpass smtp-sink`: parse, call a service, print."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Annotated, Optional

import typer

from schoolpass import cli_support as cli
from schoolpass.notices.daily import DailyReport, mailer_for, run_daily
from schoolpass.notices.sender import Sender, SendReport, outbox_counts
from schoolpass.policy.cli import PolicyOption, _in_force
from schoolpass.settings import load_settings
from schoolpass.spawning import main_script_left_behind
from schoolpass.storage.engine import make_engine

EXIT_STOPPED_BY_GUARD = 3
EXIT_WAITING = 4

SmtpOption = Annotated[Optional[str], typer.Option(
    "--smtp", help="SMTP server URL (else SCHOOLPASS_SMTP_URL); smtp://, smtp+starttls:// or smtps://.")]


def _settings(db: str | None, smtp: str | None):
    return load_settings(database_url=db or cli.GLOBALS.db, smtp_url=smtp)


def _print_send(report: SendReport) -> None:
    cli.out.print(f"Sent {report.sent}, failed {report.failed}, blocked by the guard {report.blocked}"
                  f" (temporary failures retried: {report.retried}; taken back from stopped senders: "
                  f"{report.taken_over}).")
    states = ", ".join(f"{state} {n}" for state, n in sorted(report.outbox.items()))
    cli.out.print(f"Outbox: {states or 'empty'}.")
    if report.waiting:
        cli.err.print(f"{report.waiting} message(s) still wait ({report.stopped or 'in progress elsewhere'}); "
                      "a later `send` or `daily` sends them.")


def _exit_for(report: SendReport | None) -> None:
    if report is not None and report.waiting:
        raise typer.Exit(EXIT_WAITING)


def daily_command(
    on: Annotated[Optional[str], typer.Option("--on", help="The business date of the run (default: today).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan and check; print counts and ids; send nothing.")]
    = False,
    smtp: SmtpOption = None,
    db: cli.DbOption = None,
    policy: PolicyOption = None,
) -> None:
    """The main job: statuses, plan the day's notices, check the plan, send, report."""
    settings = _settings(db, smtp)
    day = cli.parse_date(on, "--on", db)
    engine = cli.checked_engine(settings.database_url)
    with engine.connect() as conn:
        in_force = _in_force(conn, policy, db)
    mailer = None if dry_run else mailer_for(settings)
    with cli.progress_bar("Sending") as advance:
        report = run_daily(engine, settings, day, in_force, dry_run=dry_run, mailer=mailer, on_progress=advance)
    _print_daily(report)
    if report.stopped:
        raise typer.Exit(EXIT_STOPPED_BY_GUARD)
    _exit_for(report.send)


def _print_daily(report: DailyReport) -> None:
    plan = report.plan
    statuses = ", ".join(f"{s} {n}" for s, n in sorted(plan.statuses.items()))
    cli.out.print(f"{'Dry run' if report.dry_run else f'Run {plan.run_id}'} for {plan.on}: statuses: {statuses or 'none'}.")
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(plan.notices.items()))
    cli.out.print(f"Notices planned: {kinds or 'none'} (already given by earlier runs: {plan.already_given}).")
    messages = ", ".join(f"{k} {n}" for k, n in sorted(plan.messages.items()))
    cli.out.print(f"Messages: {messages or 'none'}.")
    if report.violations:
        for v in report.violations[:20]:
            cli.err.print(f"whole-run check: outbox row {v.message_row}: {v.reason}")
        cli.err.print(f"schoolpass: the whole-run check found {len(report.violations)} violation(s); "
                      f"the run is stopped and nothing was sent ({report.blocked_by_check} messages blocked)")
        return
    if report.dry_run:
        for kind, subject, recipient, state in report.preview:
            cli.out.print(f"  {kind:17} about {subject} to {recipient or '-'} ({state})")
        cli.out.print("Dry run: nothing was sent or recorded.")
        return
    if report.send is not None:
        _print_send(report.send)


def _send_worker(database_url: str, smtp_url: str) -> SendReport:
    settings = load_settings(database_url=database_url, smtp_url=smtp_url)
    engine = make_engine(settings.database_url)
    try:
        return Sender(engine, settings, mailer_for(settings)).drain()
    finally:
        engine.dispose()


def send_command(
    workers: Annotated[int, typer.Option("--workers", min=1, max=32, help="Sender processes on this machine.")] = 1,
    smtp: SmtpOption = None,
    db: cli.DbOption = None,
) -> None:
    """Drain the outbox: send every planned message (each verified for its own notice's run date)."""
    settings = _settings(db, smtp)
    mailer = mailer_for(settings)
    engine = cli.checked_engine(settings.database_url)
    if workers == 1:
        with cli.progress_bar("Sending") as advance:
            report = Sender(engine, settings, mailer, on_progress=advance).drain()
    else:
        report = SendReport()
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            with main_script_left_behind():  # the pool starts its workers as work is submitted
                futures = [pool.submit(_send_worker, settings.database_url, settings.smtp_url)
                           for _ in range(workers)]
            for future in futures:
                report.merge(future.result())
        with engine.connect() as conn:
            report.outbox = outbox_counts(conn)
    _print_send(report)
    _exit_for(report)

