"""`schoolpass roster ...`: parse arguments, call the roster's services, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from schoolpass import cli_support as cli
from schoolpass.errors import NotFound
from schoolpass.roster.authorization import authorized_recipients
from schoolpass.roster.importer import import_roster
from schoolpass.roster.people import kind_of
from schoolpass.roster.summary import roster_summary

app = typer.Typer(help="The district's roster: people, contacts and who may receive notices.", no_args_is_help=True)


@app.command("import")
def import_command(
    path: Annotated[Path, typer.Argument(help="A OneRoster 1.1 or 1.2 CSV export: a folder or a .zip.")],
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="The day this snapshot is true from.")] = None,
    db: cli.DbOption = None,
    as_json: cli.JsonOption = False,
) -> None:
    """Import a OneRoster export; refused as a whole when any row is bad."""
    day = cli.parse_date(as_of, "--as-of", db)
    engine = cli.engine(db)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,} rows"),
                  TimeElapsedColumn(), console=cli.err, transient=True,
                  disable=as_json or not cli.err.is_terminal) as bar:
        tasks: dict[str, int] = {}

        def progress(label: str, rows: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(f"reading {label}", total=None)
            bar.advance(tasks[label], rows)

        summary = import_roster(engine, path, day, progress=progress)
    if as_json:
        cli.print_json(summary.as_dict())
        return
    for warning in summary.warnings:
        cli.err.print(f"warning: {warning}")
    if summary.already_imported:
        cli.out.print(f"This export was already imported as of {day} (import {summary.import_id}); nothing changed.")
        return
    table = Table(title=f"Roster import {summary.import_id}, true from {day} (OneRoster {summary.version})")
    for column in ("file", "mode", "added", "changed", "ended", "unchanged"):
        table.add_column(column, justify="left" if column in ("file", "mode") else "right")
    for entity, changes in summary.changes.items():
        table.add_row(entity, summary.modes[entity], *(f"{n:,}" for n in changes.as_dict().values()))
    cli.out.print(table)


@app.command("contacts")
def contacts_command(
    person_id: Annotated[str, typer.Argument(metavar="ID", help="The person's OneRoster sourcedId.")],
    on: Annotated[Optional[str], typer.Option("--on", help="The day (default: today).")] = None,
    db: cli.DbOption = None,
    as_json: cli.JsonOption = False,
) -> None:
    """Who may receive notices about a person on a day, as the roster is known now."""
    day = cli.parse_date(on, "--on", db)
    with cli.engine(db).connect() as conn:
        if kind_of(conn, person_id) is None:
            raise NotFound(f"no person with sourcedId {person_id} in the roster")
        recipients = list(authorized_recipients(conn, day, [person_id]))
    if as_json:
        cli.print_json([r.as_dict() for r in recipients])
        return
    if not recipients:
        cli.out.print(f"Nobody may receive notices about {person_id} on {day}.")
        return
    table = Table(title=f"Who may receive notices about {person_id} on {day}")
    for column in ("id", "name", "address", "language", "relation"):
        table.add_column(column)
    for r in recipients:
        table.add_row(r.recipient_id, r.name, r.address or "(no address)", r.language, r.relation)
    cli.out.print(table)


@app.command("summary")
def summary_command(
    on: Annotated[Optional[str], typer.Option("--on", help="The day (default: today).")] = None,
    db: cli.DbOption = None,
    as_json: cli.JsonOption = False,
) -> None:
    """People by role and school, contacts, privacy flags and adult students on a day."""
    day = cli.parse_date(on, "--on", db)
    with cli.engine(db).connect() as conn:
        summary = roster_summary(conn, day)
    if as_json:
        cli.print_json(summary.as_dict())
        return
    roles = Table(title=f"Roster on {day}: people by role")
    roles.add_column("role")
    roles.add_column("people", justify="right")
    for role, count in summary.by_role.items():
        roles.add_row(role, f"{count:,}")
    cli.out.print(roles)
    schools = Table(title="By school")
    for column in ("school", "id", "students", "staff"):
        schools.add_column(column, justify="right" if column in ("students", "staff") else "left")
    for school_id, name, students, staff in summary.by_school:
        schools.add_row(name, school_id, f"{students:,}", f"{staff:,}")
    cli.out.print(schools)
    cli.out.print(
        f"Linked contacts: {summary.linked_contacts:,}   denied contacts: {summary.denied_contacts:,}   "
        f"subjects held (deny): {summary.denied_subjects:,}\n"
        f"Students 18 or over: {summary.students_18_plus:,}   "
        f"students without a birth date: {summary.students_without_birth_date:,}   "
        f"imports recorded: {summary.imports:,}"
    )
