"""`schoolpass ledger ...`: verify the chain, print its head, export it. Parse, call, print."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer

from schoolpass import cli_support as cli
from schoolpass.disclosure import ledger

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
