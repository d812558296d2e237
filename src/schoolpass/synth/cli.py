"""`schoolpass synth`: parse, write a synthetic district, print what it holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from schoolpass import cli_support as cli
from schoolpass.synth.district import write_district, write_screening


def synth_command(
    students: Annotated[int, typer.Option("--students", min=1, help="How many students.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the district into.")],
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same district.")] = 1,
    results_weeks: Annotated[int, typer.Option("--results-weeks", min=0,
                                               help="Weeks of weekly screening results to write.")] = 4,
) -> None:
    """Write a synthetic district: OneRoster 1.1 CSV in OUT/roster/, lab results in OUT/results/."""
    with Progress(TextColumn("writing students"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=cli.err, transient=True, disable=not cli.err.is_terminal) as bar:
        task = bar.add_task("students", total=students)
        stats = write_district(out, students, seed=seed, progress=lambda n: bar.advance(task, n))
    cli.out.print(
        f"Wrote {out / 'roster'}: {stats.schools:,} schools, {stats.students:,} students, {stats.staff:,} staff, "
        f"{stats.contacts:,} parents and guardians, {stats.relatives:,} relatives "
        f"({stats.denied_contacts:,} denied contacts, {stats.denied_subjects:,} students held, "
        f"{stats.students_18_plus_on_2021_11_22:,} students 18+ on 2021-11-22)."
    )
    if results_weeks:
        with Progress(TextColumn("writing school days"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=cli.err, transient=True, disable=not cli.err.is_terminal) as bar:
            task = bar.add_task("days", total=5 * results_weeks)
            results = write_screening(out, results_weeks, seed=seed, progress=lambda n: bar.advance(task, n))
        formats = ", ".join(f"{n:,} {fmt}" for fmt, n in sorted(results.by_format.items()))
        cli.out.print(
            f"Wrote {out / 'results'}: {results.results:,} results over {results.days} school days ({formats}); "
            f"{results.positives:,} positive, {results.unknown_people:,} for people not in the roster, "
            f"{results.duplicates:,} duplicates, {results.corrections:,} corrections."
        )
