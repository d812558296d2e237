"""The `schoolpass` command. Thin: parse, call a service, print."""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer
from sqlalchemy.exc import OperationalError

from schoolpass import cli_support as cli
from schoolpass import collector
from schoolpass.errors import InputRejected, SchoolpassError

# Each command's module, imported only when that command runs (or for help over all of them):
# the web app, notices and synthetic-data modules cost every other command a second to import.
GROUPS = {  # name: (module, its Typer app)
    "roster": ("schoolpass.roster.cli", "app"),
    "results": ("schoolpass.results.cli", "app"),
    "policy": ("schoolpass.policy.cli", "app"),
    "ledger": ("schoolpass.disclosure.cli", "app"),
    "staff": ("schoolpass.web.staff_cli", "app"),
}
COMMANDS = {  # name: (module, its command function)
    "daily": ("schoolpass.notices.cli", "daily_command"),
    "send": ("schoolpass.notices.cli", "send_command"),
    "smtp-sink": ("schoolpass.notices.sink", "smtp_sink_command"),
    "breach-scope": ("schoolpass.disclosure.cli", "breach_scope_command"),
    "serve": ("schoolpass.web.cli", "serve_command"),
    "status": ("schoolpass.policy.cli", "status_command"),
    "statuses": ("schoolpass.policy.cli", "statuses_command"),
    "synth": ("schoolpass.synth.cli", "synth_command"),
}

app = typer.Typer(
    help="schoolpass: a school district's health testing program, without telling the wrong family.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_registered: set[str] = set()


def _register(names) -> None:
    """Add these commands (by name) to the app, importing their modules now."""
    for name in GROUPS:
        if name in names and name not in _registered:
            module, attr = GROUPS[name]
            app.add_typer(getattr(importlib.import_module(module), attr), name=name)
            _registered.add(name)
    for name in COMMANDS:
        if name in names and name not in _registered:
            module, attr = COMMANDS[name]
            app.command(name)(getattr(importlib.import_module(module), attr))
            _registered.add(name)
    if "init" not in _registered:
        app.command("init")(init_command)
        _registered.add("init")


def _command_named(args: list[str]) -> str | None:
    """The command the arguments name (after the global options), if any."""
    rest = iter(args)
    for arg in rest:
        if arg == "--db":
            next(rest, None)
        elif not arg.startswith("-"):
            return arg
    return None


@app.callback()
def _global_options(
    db: cli.DbOption = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    cli.GLOBALS.db = db
    cli.GLOBALS.debug = debug


def init_command(db: cli.DbOption = None) -> None:
    """Create or upgrade the database schema (safe to run twice)."""
    from schoolpass.storage.migrate import upgrade

    before, after = upgrade(cli.engine(db, schema_current=False))
    if before == after:
        cli.out.print(f"Schema already at revision {after}.")
    else:
        cli.out.print(f"Schema upgraded from {before or 'empty'} to revision {after}.")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    named = _command_named(args)
    _register({named} if named in GROUPS or named in COMMANDS else GROUPS.keys() | COMMANDS.keys())
    if argv is None:  # the program itself, not a test's call in its long-running process
        collector.command_loaded()
    try:
        # Standalone mode: Typer reports usage errors itself and exits with the command's code.
        app(args=args, prog_name="schoolpass")
    except InputRejected as rejected:
        if debug:
            raise
        for problem in rejected.problems:
            sys.stderr.write(f"{problem}\n")
        sys.stderr.write(f"schoolpass: refused; nothing was written ({len(rejected.problems)} problems)\n")
        sys.exit(1)
    except SchoolpassError as failure:
        if debug:
            raise
        sys.stderr.write(f"schoolpass: {failure}\n")
        sys.exit(1)
    except OperationalError as failure:
        if debug:
            raise
        # Driver messages can quote SQL parameters (personal values): name only the kind of failure.
        sys.stderr.write(f"schoolpass: database error ({type(failure.orig).__name__}); run with --debug for details\n")
        sys.exit(1)
    except Exception as failure:  # noqa: BLE001 - the last line of defence, without personal data
        if debug:
            raise
        sys.stderr.write(f"schoolpass: unexpected {type(failure).__name__}; run with --debug for details\n")
        sys.exit(1)
