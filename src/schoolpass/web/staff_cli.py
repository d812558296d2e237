"""`schoolpass staff ...`: staff console accounts. Parse, call `web.accounts`, print."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from schoolpass import cli_support as cli
from schoolpass.errors import SchoolpassError
from schoolpass.web import accounts

app = typer.Typer(help="Staff console accounts.", no_args_is_help=True)

RoleOption = Annotated[str, typer.Option("--role", help=f"One of: {', '.join(accounts.ROLES)}.")]
SchoolOption = Annotated[Optional[list[str]], typer.Option(
    "--school", help="A school (org sourcedId) the account covers; repeat for several. "
                     "Required for school-admin and nurse accounts.")]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise SchoolpassError("--password-stdin: no password on standard input")
    else:
        if not sys.stdin.isatty():
            raise SchoolpassError("no terminal to ask for the password; use --password-stdin")
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    accounts.check_password(password)
    return password


@app.command("add")
def add_command(
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="The staff member's email (their sign-in name).")],
    role: RoleOption,
    school: SchoolOption = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from the first line of standard input.")] = False,
    totp: Annotated[bool, typer.Option(
        "--totp", help="Also require a one-time code at sign-in; prints the authenticator set-up URI.")] = False,
    db: cli.DbOption = None,
) -> None:
    """Create a staff console account (password hashed with Argon2)."""
    schools = school or []
    accounts.check_role(role, schools)  # before asking for a password
    password = _password(password_stdin)
    secret = accounts.new_totp_secret() if totp else None
    account = accounts.add_account(cli.engine(db), email, role, password, schools, totp_secret=secret)
    where = f" for {', '.join(sorted(account.schools))}" if account.schools else " for every school"
    cli.out.print(f"Staff account {account.id} ({account.role}{where}) created.")
    if secret:
        cli.out.print("Add this to the staff member's authenticator app (shown once):", markup=False)
        sys.stdout.write(accounts.totp_uri(account.email, secret) + "\n")


@app.command("role")
def role_command(
    email: Annotated[str, typer.Argument(metavar="EMAIL")],
    role: RoleOption,
    school: SchoolOption = None,
    db: cli.DbOption = None,
) -> None:
    """Change an account's role and schools; signed-in sessions see the change on their next request."""
    account = accounts.set_role(cli.engine(db), email, role, school or [])
    where = f" for {', '.join(sorted(account.schools))}" if account.schools else " for every school"
    cli.out.print(f"Staff account {account.id} is now {account.role}{where}.")


@app.command("disable")
def disable_command(email: Annotated[str, typer.Argument(metavar="EMAIL")], db: cli.DbOption = None) -> None:
    """End an account and all its sessions at once."""
    ended = accounts.disable_account(cli.engine(db), email)
    cli.out.print(f"Staff account disabled; {ended} signed-in session(s) ended.")
