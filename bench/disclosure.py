"""The disclosure ledger at district scale: `ledger verify` and `breach-scope` over a month (SQLite).

    python bench/disclosure.py [--students 500000] [--entries 2800000] [--days 30]

Uses the roster database bench/roster_import.py leaves in bench/work/ (built when missing).
A month of ledger entries is synthesized directly (not sent): each day, entries for a
sample of the (subject, address) pairs the roster authorizes, chained exactly as
`ledger.append` chains them, plus 25 misdirected entries (an address of another family).
Steps, each in its own process:

  floor     SHA-256 over the same canonical bytes the chain hashes (read from the table)
  verify    `ledger verify` of the whole chain
  breach    `breach-scope` over the month; it must find exactly the 25 misdirected entries

Prints one table and writes bench/results/disclosure-sqlite-<students>.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from roster_import import RESULTS, WORK, machine, run_step, upgraded  # noqa: E402

FIRST = date(2021, 11, 1)
MISDIRECTED = 25


def ledger_db(students: int, entries: int) -> Path:
    return WORK / f"ledger-{students}-{entries}.db"


def _ledger_rows(conn, days: int, entries: int) -> tuple[list[tuple], int, str]:
    """A month of chained ledger rows (FIELDS + hash) over pairs the roster authorizes; (rows, last seq, head)."""
    from schoolpass.disclosure.ledger import FIELDS, PURPOSE, entry_hash, instant_text
    from schoolpass.disclosure.models import GENESIS
    from schoolpass.roster.authorization import authorized_pairs

    last = FIRST + timedelta(days=days - 1)
    # Pairs authorized on the first and the last day (a roster import inside the month may change some).
    pairs = sorted(authorized_pairs(conn, last) & authorized_pairs(conn, FIRST))
    rng = random.Random(7)
    per_day = entries // days
    prev, seq, rows = GENESIS, 0, []
    wrong = set(rng.sample(range(entries), MISDIRECTED))
    for n in range(days):
        day = FIRST + timedelta(days=n)
        moment = datetime(day.year, day.month, day.day, 15, tzinfo=UTC)
        for subject, address in rng.sample(pairs, min(per_day, len(pairs))):
            seq += 1
            if seq - 1 in wrong:  # another family's address
                address = next(a for s, a in iter(lambda: rng.choice(pairs), None) if s != subject)
            fields = {"seq": seq, "sent_at": instant_text(moment + timedelta(microseconds=seq * 1500)),
                      "on_date": day.isoformat(), "notice_id": seq, "message_id": f"<{seq:032x}@bench>",
                      "kind": "result-available", "subject_id": subject, "recipient_id": subject,
                      "address": address, "channel": "email", "purpose": PURPOSE,
                      "content_sha256": hashlib.sha256(str(seq).encode()).hexdigest(), "prev_hash": prev}
            fields["hash"] = prev = entry_hash(fields)
            rows.append(tuple(fields[k] for k in (*FIELDS, "hash")))
    return rows, seq, prev


def synthesize(students: int, entries: int, days: int) -> None:
    from schoolpass.disclosure.ledger import FIELDS
    from schoolpass.storage.engine import make_engine
    from schoolpass.storage.migrate import upgrade

    roster = WORK / f"roster-{students}.db"
    if not roster.exists():
        subprocess.run([sys.executable, str(HERE / "roster_import.py"), "--students", str(students)], check=True)
    target = ledger_db(students, entries)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copy(roster, target)
    engine = make_engine(f"sqlite:///{target}")
    upgrade(engine)
    with engine.connect() as conn:
        rows, seq, prev = _ledger_rows(conn, days, entries)
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        raw.executemany(f"INSERT INTO ledger_entries ({', '.join((*FIELDS, 'hash'))}) "
                        f"VALUES ({', '.join('?' for _ in range(14))})", rows)
        raw.execute("UPDATE ledger_head SET seq = ?, hash = ? WHERE id = 1", (seq, prev))
    engine.dispose()


def synthesize_into(url: str, entries: int, days: int) -> dict:
    """The same month's ledger into a PostgreSQL database holding the roster: one COPY, then the head and ANALYZE.

    Returns the seconds spent making the chained rows (Python, SHA-256) and loading them (COPY)."""
    from schoolpass.disclosure.ledger import FIELDS
    from schoolpass.storage.engine import make_engine

    engine = make_engine(url)
    started = time.perf_counter()
    with engine.connect() as conn:
        rows, seq, prev = _ledger_rows(conn, days, entries)
    made = time.perf_counter()
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY ledger_entries ({', '.join((*FIELDS, 'hash'))}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute("UPDATE ledger_head SET seq = %s, hash = %s WHERE id = 1", (seq, prev))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE ledger_entries")
    engine.dispose()
    return {"entries": len(rows), "rows_s": round(made - started, 2), "copy_s": round(time.perf_counter() - made, 2)}


def _url(db: Path | str) -> str:
    return db if isinstance(db, str) else f"sqlite:///{db}"


def step_floor(db: Path | str) -> dict:
    from schoolpass.disclosure.ledger import SORTED, canonical
    from schoolpass.storage.engine import make_engine

    engine = make_engine(_url(db))
    columns = ", ".join(SORTED)
    if engine.dialect.name == "postgresql":  # the day as text, as it is hashed
        columns = ", ".join("on_date::text" if c == "on_date" else c for c in SORTED)
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        texts = [canonical(row).encode() for row in raw.execute(f"SELECT {columns} FROM ledger_entries")]
    started = time.perf_counter()
    for data in texts:
        hashlib.sha256(data).hexdigest()
    return {"entries": len(texts), "sha256_s": round(time.perf_counter() - started, 2)}


def step_verify(db: Path | str) -> dict:
    from schoolpass.disclosure.ledger import verify
    from schoolpass.storage.engine import make_engine

    with make_engine(_url(db)).connect() as conn:
        result = verify(conn)
    return {"ok": result.ok, "entries": result.entries}


def step_breach(db: Path | str, days: int) -> dict:
    from schoolpass.disclosure.breach import breach_scope
    from schoolpass.storage.engine import make_engine

    with make_engine(_url(db)).connect() as conn:
        scope = breach_scope(conn, FIRST, FIRST + timedelta(days=days - 1))
    return {"examined": scope.examined, "unauthorized": len(scope.unauthorized),
            "affected": len(scope.affected_subjects)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=500_000)
    parser.add_argument("--entries", type=int, default=2_800_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)  # a step against this database instead (PostgreSQL)
    args = parser.parse_args()
    db = args.url or ledger_db(args.students, args.entries)
    if args.step:
        steps = {"floor": lambda: step_floor(db), "verify": lambda: step_verify(db),
                 "breach": lambda: step_breach(db, args.days)}
        print(json.dumps(steps[args.step]()))
        return
    if not db.exists():
        started = time.perf_counter()
        synthesize(args.students, args.entries, args.days)
        print(f"  synthesized the ledger in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    upgraded(db)  # a ledger kept from before newer migrations
    results = []
    for name in ("floor", "verify", "breach"):
        command = [sys.executable, __file__, "--step", name, "--students", str(args.students),
                   "--entries", str(args.entries), "--days", str(args.days)]
        results.append(run_step(name, command))
        print(f"  {name:<7} {results[-1]['seconds']:>8.2f} s {results[-1]['peak_mb']:>6} MB", file=sys.stderr)
    print(f"\nDisclosure ledger, {args.entries:,} entries over {args.days} days, {args.students:,}-student district, "
          f"sqlite ({machine()['cpus']} cores)\n")
    print(f"{'step':<7} {'seconds':>9} {'peak MB':>8}  details")
    for r in results:
        print(f"{r['step']:<7} {r['seconds']:>9.2f} {r['peak_mb']:>8}  {json.dumps(r['details'], separators=(',', ':'))}")
    RESULTS.mkdir(exist_ok=True)
    report = RESULTS / f"disclosure-sqlite-{args.students}.json"
    report.write_text(json.dumps({"students": args.students, "entries": args.entries, "days": args.days,
                                  "machine": machine(), "steps": results}, indent=2) + "\n")
    print(f"\nwrote {report.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
