"""What every command shares: the database option, dates in the district's calendar, output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine

from schoolpass.errors import SchoolpassError
from schoolpass.settings import Settings, load_settings
from schoolpass.storage.engine import make_engine
from schoolpass.storage.revision import require_current

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DbOption = Annotated[
    Optional[str],
    typer.Option("--db", help="Database URL (else SCHOOLPASS_DATABASE_URL, else sqlite:///schoolpass.db)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class _Globals:
    db: str | None = None
    debug: bool = False


GLOBALS = _Globals()


def settings(db: str | None = None) -> Settings:
    return load_settings(database_url=db or GLOBALS.db)


def engine(db: str | None = None, *, schema_current: bool = True) -> Engine:
    """The database's engine; its schema must be this schoolpass's (all but `init` need that)."""
    return checked_engine(settings(db).database_url) if schema_current else make_engine(settings(db).database_url)


def checked_engine(url: str) -> Engine:
    """An engine for `url`, once the database's schema is known to be this schoolpass's."""
    made = make_engine(url)
    try:
        require_current(made)
    except SchoolpassError:
        made.dispose()
        raise
    return made


def today(db: str | None = None) -> date:
    """Today in the district's calendar."""
    return datetime.now(settings(db).zone).date()


def parse_date(value: str | None, option: str, db: str | None = None) -> date:
    """A YYYY-MM-DD option value; today (district calendar) when not given."""
    if value is None:
        return today(db)
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise SchoolpassError(f"{option} must be a date as YYYY-MM-DD") from None


def print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False) + "\n")


@contextmanager
def progress_bar(label: str, unit: str = "messages") -> Iterator[Callable[[int], None]]:
    """A Rich progress bar on stderr (hidden when stderr is not a terminal); yields advance(n)."""
    with Progress(TextColumn(label), BarColumn(), TextColumn(f"{{task.completed:,}} {unit}"), TimeElapsedColumn(),
                  console=err, disable=not err.is_terminal, transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda n: bar.advance(task, n)
