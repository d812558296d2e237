"""`schoolpass results ...`: parse arguments, call the results services, print."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from schoolpass import cli_support as cli
from schoolpass.policy.store import policy_in_force
from schoolpass.results import queue
from schoolpass.results.importer import import_results

app = typer.Typer(help="Lab results: import, the unmatched queue, staff matching.", no_args_is_help=True)

ByOption = Annotated[Optional[str], typer.Option("--by", help="Who is doing this (default: the OS user).")]


@app.command("import")
def import_command(
    path: Annotated[Path, typer.Argument(help="A SimpleReport CSV, HL7 v2.5.1 ORU^R01 or FHIR R4 bundle file.")],
    fmt: Annotated[str, typer.Option("--format", help="auto | simplereport-csv | hl7 | fhir")] = "auto",
    db: cli.DbOption = None,
    as_json: cli.JsonOption = False,
) -> None:
    """Import lab results; a file with any bad record is refused as a whole."""
    settings = cli.settings(db)
    engine = cli.engine(db)
    with engine.connect() as conn:
        policy = policy_in_force(conn, Path(settings.policy) if settings.policy else None).policy
    with Progress(TextColumn(f"reading {path.name}"), BarColumn(), TextColumn("{task.completed:,} results"),
                  TimeElapsedColumn(), console=cli.err, transient=True,
                  disable=as_json or not cli.err.is_terminal) as bar:
        task = bar.add_task("results", total=None)
        summary = import_results(engine, path, fmt, settings.zone, progress=lambda n: bar.advance(task, n),
                                 test_codes=policy.test_codes)
    if as_json:
        cli.print_json(summary.as_dict())
        return
    for warning in summary.warnings:
        cli.err.print(f"warning: {path.name}: {warning}")
    cli.out.print(
        f"{path.name} ({summary.format}): {summary.results:,} results; {summary.new:,} new, "
        f"{summary.corrected:,} corrected, {summary.duplicates:,} duplicates; matched {summary.matched_by_id:,} by id "
        f"and {summary.matched_by_name:,} by name and birth date; {summary.unmatched:,} unmatched; "
        f"{summary.skipped_analytes:,} other analytes skipped."
        + (f" {summary.queue_matched:,} waiting results now matched." if summary.queue_matched else "")
    )


@app.command("unmatched")
def unmatched_command(db: cli.DbOption = None, as_json: cli.JsonOption = False) -> None:
    """Results that matched no one in the roster, with the reason."""
    with cli.engine(db).connect() as conn:
        waiting = queue.unmatched(conn)
    if as_json:
        cli.print_json([w.as_dict() for w in waiting])
        return
    if not waiting:
        cli.out.print("No unmatched results.")
        return
    table = Table(title=f"{len(waiting):,} unmatched results")
    for column in ("id", "accession", "lab", "collected", "lab's patient", "reason"):
        table.add_column(column)
    for w in waiting:
        who = " ".join(filter(None, [w.given_name, w.family_name, w.birth_date.isoformat() if w.birth_date else None,
                                     ("ids " + ", ".join(w.patient_ids)) if w.patient_ids else None]))
        table.add_row(str(w.id), w.accession_number, w.lab, w.collected_on.isoformat(), who, w.reason or "")
    cli.out.print(table)


@app.command("match")
def match_command(
    result_id: Annotated[int, typer.Argument(metavar="RESULT", help="The result's id (from `results unmatched`).")],
    person_id: Annotated[str, typer.Argument(metavar="ID", help="The person's OneRoster sourcedId.")],
    by: ByOption = None,
    db: cli.DbOption = None,
) -> None:
    """Attach an unmatched result to a person (recorded with who and when)."""
    queue.match(cli.engine(db), result_id, person_id, by or getpass.getuser())
    cli.out.print(f"Result {result_id} is now matched to {person_id}.")


@app.command("unmatch")
def unmatch_command(
    result_id: Annotated[int, typer.Argument(metavar="RESULT", help="The result's id.")],
    by: ByOption = None,
    db: cli.DbOption = None,
) -> None:
    """Undo a wrong match: the result returns to the queue for staff to resolve."""
    former = queue.unmatch(cli.engine(db), result_id, by or getpass.getuser())
    cli.out.print(f"Result {result_id} is no longer matched to {former}; it waits in the unmatched queue.")
