"""`schoolpass policy ...`, `schoolpass status ID` and `schoolpass statuses`: parse, call, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from schoolpass import cli_support as cli
from schoolpass.policy.statuses import STATUSES, day_report, status_of
from schoolpass.policy.store import policy_in_force, store_policy

app = typer.Typer(help="The program policy: versioned rules, stored in the database.", no_args_is_help=True)

PolicyOption = Annotated[Optional[Path], typer.Option(
    "--policy", help="A policy file for this run only (else SCHOOLPASS_POLICY, else the stored one).")]
OnOption = Annotated[Optional[str], typer.Option("--on", help="The day (default: today).")]


def _in_force(conn, policy: Path | None, db: str | None):
    configured = cli.settings(db).policy
    override = policy or (Path(configured) if configured else None)
    return policy_in_force(conn, override)


@app.command("set")
def set_command(file: Annotated[Path, typer.Argument(help="A policy YAML file.")], db: cli.DbOption = None) -> None:
    """Validate and store a policy; it is in force from now on."""
    policy = store_policy(cli.engine(db), file)
    cli.out.print(f"Stored \"{policy.program}\" with {len(policy.versions)} version(s); in force from now on.")


@app.command("show")
def show_command(db: cli.DbOption = None, policy: PolicyOption = None) -> None:
    """Print the policy in force (YAML) and where it comes from."""
    with cli.engine(db).connect() as conn:
        found = _in_force(conn, policy, db)
    cli.err.print(f"# policy in force: {found.source}")
    cli.out.print(found.text, markup=False, highlight=False, end="" if found.text.endswith("\n") else "\n")


def status_command(
    person_id: Annotated[str, typer.Argument(metavar="ID", help="The person's OneRoster sourcedId.")],
    on: OnOption = None,
    db: cli.DbOption = None,
    policy: PolicyOption = None,
    as_json: cli.JsonOption = False,
) -> None:
    """One person's program status on a day, and why."""
    day = cli.parse_date(on, "--on", db)
    with cli.engine(db).connect() as conn:
        status = status_of(conn, person_id, day, _in_force(conn, policy, db).policy)
    if as_json:
        cli.print_json(status.as_dict())
        return
    cli.out.print(f"{person_id} on {day}: [bold]{status.status}[/bold]")
    for label, value in (("return on", status.return_on), ("exempt until", status.exempt_until),
                         ("next test due", status.next_test_due)):
        if value:
            cli.out.print(f"  {label}: {value}")
    if status.last_result:
        r = status.last_result
        cli.out.print(f"  last result: {r.result}, collected {r.collected_on} ({r.test_code})")
    for reason in status.reasons:
        cli.out.print(f"  because: {reason}")


def statuses_command(
    on: OnOption = None,
    db: cli.DbOption = None,
    policy: PolicyOption = None,
    as_json: cli.JsonOption = False,
) -> None:
    """Everyone's status on a day: counts by status and school, and who changed since the day before."""
    day = cli.parse_date(on, "--on", db)
    with cli.engine(db).connect() as conn:
        report = day_report(conn, day, _in_force(conn, policy, db).policy)
    if as_json:
        cli.print_json(report.as_dict())
        return
    table = Table(title=f"Program status on {day}")
    table.add_column("school")
    for status in STATUSES:
        table.add_column(status, justify="right")
    for school_id, counts in sorted(report.by_school.items(), key=lambda kv: report.school_names.get(kv[0], "")):
        table.add_row(report.school_names.get(school_id, school_id), *(f"{counts.get(s, 0):,}" for s in STATUSES))
    table.add_row("[bold]everyone[/bold]", *(f"[bold]{report.by_status.get(s, 0):,}[/bold]" for s in STATUSES))
    cli.out.print(table)
    cli.out.print(f"{len(report.changed):,} people changed status since the day before.")
