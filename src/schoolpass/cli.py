"""The `schoolpass` command. Thin: parse, call a service, print."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from sqlalchemy.exc import OperationalError

from schoolpass import cli_support as cli
from schoolpass.disclosure.cli import app as ledger_app
from schoolpass.disclosure.cli import breach_scope_command
from schoolpass.errors import InputRejected, SchoolpassError
from schoolpass.notices.cli import daily_command, send_command
from schoolpass.notices.sink import smtp_sink_command
from schoolpass.policy.cli import app as policy_app
from schoolpass.policy.cli import status_command, statuses_command
from schoolpass.results.cli import app as results_app
from schoolpass.roster.cli import app as roster_app
from schoolpass.storage.migrate import upgrade
from schoolpass.synth.cli import synth_command
from schoolpass.web.cli import serve_command
from schoolpass.web.staff_cli import app as staff_app

app = typer.Typer(
    help="schoolpass: a school district's health testing program, without telling the wrong family.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(roster_app, name="roster")
app.add_typer(results_app, name="results")
app.add_typer(policy_app, name="policy")
app.add_typer(ledger_app, name="ledger")
app.add_typer(staff_app, name="staff")
app.command("daily")(daily_command)
app.command("send")(send_command)
app.command("smtp-sink")(smtp_sink_command)
app.command("breach-scope")(breach_scope_command)
app.command("serve")(serve_command)
app.command("status")(status_command)
app.command("statuses")(statuses_command)
app.command("synth")(synth_command)


@app.callback()
def _global_options(
    db: cli.DbOption = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    cli.GLOBALS.db = db
    cli.GLOBALS.debug = debug


@app.command("init")
def init_command(db: cli.DbOption = None) -> None:
    """Create or upgrade the database schema (safe to run twice)."""
    before, after = upgrade(cli.engine(db))
    if before == after:
        cli.out.print(f"Schema already at revision {after}.")
    else:
        cli.out.print(f"Schema upgraded from {before or 'empty'} to revision {after}.")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
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
