"""`schoolpass ledger ...`: verify the chain, print its head, export it. Parse, call, print."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from schoolpass import cli_support as cli
from schoolpass.disclosure import ledger
from schoolpass.disclosure.accounting import PURPOSE, WHAT, accounting
from schoolpass.disclosure.breach import breach_scope
from schoolpass.disclosure.letters import write_letters
from schoolpass.errors import SchoolpassError

app = typer.Typer(help="The disclosure ledger: every message sent, hash-chained.", no_args_is_help=True)


@app.command("verify")
def verify_command(
    head: Annotated[Optional[str], typer.Option("--head", help="A head kept earlier (from `ledger head`).")] = None,
    db: cli.DbOption = None,
) -> None:
    """Check the hash chain (and that it still passes through a kept head)."""
    with cli.engine(db).connect() as conn:
        result = ledger.verify(conn, head)
    if not result.ok:
        where = f"entry {result.first_bad_seq}" if result.first_bad_seq is not None else "the chain"
        sys.stderr.write(f"schoolpass: ledger verify failed at {where}: {result.problem}\n")
        raise typer.Exit(1)
    cli.out.print(f"Ledger intact: {result.entries:,} entries, head {result.head_hash} (entry {result.head_seq}).")


@app.command("head")
def head_command(db: cli.DbOption = None) -> None:
    """Print the chain's current head hash, to keep somewhere else."""
    with cli.engine(db).connect() as conn:
        seq, digest = ledger.head(conn)
    sys.stdout.write(f"{digest}\n")
    cli.err.print(f"(entry {seq})")


@app.command("export")
def export_command(as_json: Annotated[bool, typer.Option("--json", help="JSON Lines, one entry per line.")] = False,
                   db: cli.DbOption = None) -> None:
    """Every disclosure, oldest first."""
    write = sys.stdout.write
    with cli.engine(db).connect() as conn:
        if not as_json:
            write("seq\tsent_at\ton_date\tkind\tsubject_id\trecipient_id\taddress\tmessage_id\n")
        for entry in ledger.entries(conn):
            if as_json:
                write(json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n")
            else:
                write("\t".join(str(entry[k]) for k in ("seq", "sent_at", "on_date", "kind", "subject_id",
                                                         "recipient_id", "address", "message_id")) + "\n")


@app.command("accounting")
def accounting_command(
    person_id: Annotated[str, typer.Argument(metavar="ID", help="The person's OneRoster sourcedId.")],
    as_json: cli.JsonOption = False,
    db: cli.DbOption = None,
) -> None:
    """Every disclosure about one person: when, to whom, what kind of information, why."""
    zone = cli.settings(db).zone
    with cli.engine(db).connect() as conn:
        found = accounting(conn, person_id, zone)
    if as_json:
        cli.print_json({"id": person_id, "disclosures": [d.as_dict() for d in found]})
        return
    cli.out.print(f"Accounting of disclosures about {person_id}: {len(found)} message(s).", markup=False)
    cli.out.print(f"Purpose of every disclosure: {PURPOSE['en']}.", markup=False)
    for d in found:
        cli.out.print(f"- {d.sent_at:%Y-%m-%d %H:%M %Z}: to {d.recipient_name or d.recipient_id} <{d.address}> "
                      f"by {d.channel}: {WHAT['en'].get(d.kind, d.kind)}.", markup=False)


def breach_scope_command(
    first: Annotated[str, typer.Option("--from", help="First run date (YYYY-MM-DD), included.")],
    last: Annotated[str, typer.Option("--to", help="Last run date (YYYY-MM-DD), included.")],
    as_json: cli.JsonOption = False,
    letters: Annotated[Optional[Path], typer.Option(
        "--letters", help="Write a notification letter per affected person per authorized contact here.")] = None,
    db: cli.DbOption = None,
) -> None:
    """Disclosures in a window that the roster, as known now, did not authorize."""
    start, end = cli.parse_date(first, "--from", db), cli.parse_date(last, "--to", db)
    if end < start:
        raise SchoolpassError("--to must not be before --from")
    settings = cli.settings(db)
    with cli.engine(db).connect() as conn:
        scope = breach_scope(conn, start, end)
        written = None
        if letters is not None:
            written = write_letters(conn, scope, letters, cli.today(db), settings.zone, settings.district_name,
                                    settings.district_phone)
    if as_json:
        cli.print_json(scope.as_dict())
    else:
        data = scope.as_dict()
        cli.out.print(f"Examined {scope.examined:,} disclosures sent for {start} to {end}: "
                      f"{len(scope.unauthorized)} unauthorized, about {len(scope.affected_subjects)} people, "
                      f"to {len(scope.wrong_recipients)} wrong addresses.", markup=False)
        for e in scope.unauthorized:
            cli.out.print(f"- ledger entry {e['seq']} ({e['on_date']}, {e['kind']}, about {e['subject_id']} "
                          f"to {e['address']}): {e['reason']}", markup=False)
        thresholds = data["hipaa_thresholds"]
        cli.out.print(f"HIPAA: {thresholds['affected']} affected; notice to HHS within 60 days "
                      f"{'required' if thresholds['hhs_notice_within_60_days'] else 'not required (annual log)'}; "
                      f"media notice {'required' if thresholds['media_notice_if_one_state'] else 'not required'}.",
                      markup=False)
    if written is not None:
        cli.err.print(f"Wrote {len(written.written)} letter file(s) to {letters}"
                      f"{' (HTML and PDF)' if written.pdf else ' (HTML; install the pdf extra for PDF)'}.")
        if written.without_contact:
            cli.err.print(f"{len(written.without_contact)} affected people have no authorized contact today: "
                          f"{', '.join(written.without_contact)}; reach them another way.")
