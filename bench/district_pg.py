"""The district benchmark on PostgreSQL: `python bench/district.py --backend postgresql` (`make bench-pg`).

The same day as the SQLite run, step by step and each in its own process, in databases this run
creates on the server `SCHOOLPASS_BENCH_POSTGRES_URL` names (default
postgresql+psycopg://postgres@127.0.0.1:5432/) and drops at the end (`--keep` keeps them). The URL's
database name, if any, is the prefix of theirs (default `schoolpass_bench`):

  <prefix>_roster  the first roster import (floor: the same users.csv rows by one COPY into a plain table)
  <prefix>_day     a copy of it (CREATE DATABASE ... TEMPLATE): the last synthetic day's CSV, then its HL7
                   (floors: the same parse + one COPY of the normalized rows into a plain table)
  <prefix>         a copy of the roster: the weeks of history, everyone's status, `daily`'s planning, N of
                   the planned messages sent by `schoolpass send --workers 1`, then 2, then 4 (the same N
                   rows reset to planned, tokens and ledger emptied, VACUUM ANALYZE, between runs), then the
                   family page under load
  <prefix>_ledger  a copy of the roster with a month's ledger written by one COPY: verify, breach-scope

Each send row also says where the CPU went while it ran: the senders (the command and its worker
processes, exact), the sink, the PostgreSQL backends serving the senders and the server's own
processes (sampled from /proc), and whatever else the machine did.

Writes bench/results/district-postgresql-<students>.json and prints the same table as the SQLite run.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import district  # noqa: E402
import notices  # noqa: E402
import results_import  # noqa: E402
from roster_import import RESULTS, WORK, machine, run_step  # noqa: E402

PREFIX = "schoolpass_bench"


class Server:
    """Databases on one PostgreSQL server: create (empty or as a copy), URL, drop."""

    def __init__(self, base_url: str):
        from sqlalchemy.engine import make_url

        from schoolpass.storage.engine import make_engine, normalize_url

        self.base = make_url(normalize_url(base_url))
        self.prefix = self.base.database or PREFIX
        self.admin = make_engine(self.url("postgres")).execution_options(isolation_level="AUTOCOMMIT")
        self.made: list[str] = []

    def name(self, suffix: str = "") -> str:
        return f"{self.prefix}_{suffix}" if suffix else self.prefix

    def url(self, database: str) -> str:
        return self.base.set(database=database).render_as_string(hide_password=False)

    def drop(self, database: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    def create(self, database: str, template: str | None = None) -> float:
        """A new database (a file copy of `template` when given); returns the seconds it took."""
        self.drop(database)
        started = time.perf_counter()
        sql = f'CREATE DATABASE "{database}"'
        if template:
            sql += f' TEMPLATE "{template}" STRATEGY FILE_COPY'
        for attempt in range(60):
            try:
                with self.admin.connect() as conn:
                    conn.exec_driver_sql(sql)
                break
            except Exception as error:  # an autovacuum worker still in the template: wait for it
                if "being accessed by other users" not in str(error) or attempt == 59:
                    raise
                time.sleep(0.5)
        if database not in self.made:
            self.made.append(database)
        return round(time.perf_counter() - started, 2)

    def drop_all(self) -> None:
        for database in reversed(self.made):
            self.drop(database)
        self.admin.dispose()


def _execute(url: str, *statements: str, autocommit: bool = False) -> list:
    """Run statements in one transaction (or autocommit); the rows of the last."""
    from schoolpass.storage.engine import make_engine

    engine = make_engine(url)
    rows: list = []
    try:
        if autocommit:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for sql in statements:
                    result = conn.exec_driver_sql(sql)
                    rows = result.all() if result.returns_rows else []
        else:
            with engine.begin() as conn:
                for sql in statements:
                    result = conn.exec_driver_sql(sql)
                    rows = result.all() if result.returns_rows else []
    finally:
        engine.dispose()
    return rows


_SENDING_TABLES = ("outbox", "link_tokens", "ledger_entries", "ledger_head")
_RESET_COLUMNS = ("state", "reason", "attempts", "next_attempt_at", "claimed_by", "claimed_until", "sent_at",
                  "content_sha256")


def limit_outbox(url: str, messages: int) -> int:
    """Leave the first `messages` planned rows planned (the rest held), and keep a copy of them to reset to."""
    _execute(url,
             "UPDATE outbox SET state = 'held', reason = 'bench' WHERE state = 'planned' AND id > "
             f"(SELECT max(id) FROM (SELECT id FROM outbox WHERE state = 'planned' ORDER BY id LIMIT {messages}) f)",
             "DROP TABLE IF EXISTS bench_outbox_planned",
             "CREATE TABLE bench_outbox_planned AS SELECT * FROM outbox WHERE state = 'planned'",
             "DROP TABLE IF EXISTS bench_ledger_head",
             "CREATE TABLE bench_ledger_head AS SELECT * FROM ledger_head")
    tokens, entries = _execute(url, "SELECT (SELECT count(*) FROM link_tokens), (SELECT count(*) FROM ledger_entries)")[0]
    if tokens or entries:  # a reset empties both: they must start empty
        raise SystemExit(f"the planned database already has {tokens} link tokens and {entries} ledger entries")
    _execute(url, f"VACUUM ANALYZE {', '.join(_SENDING_TABLES)}", autocommit=True)
    return _execute(url, "SELECT count(*) FROM bench_outbox_planned")[0][0]


def _sending_state(url: str) -> tuple:
    return tuple(_execute(url, "SELECT (SELECT count(*) FROM link_tokens), (SELECT count(*) FROM ledger_entries), "
                               "(SELECT seq FROM ledger_head WHERE id = 1), (SELECT count(*) FROM access_log), "
                               "(SELECT string_agg(state || ' ' || n, ', ' ORDER BY state) FROM "
                               "(SELECT state, count(*) AS n FROM outbox GROUP BY state) s)")[0])


def reset_outbox(url: str, expected: tuple) -> None:
    """The same rows planned again, as before the first send: no tokens, no ledger entries, the head at its start."""
    assignments = ", ".join(f"{c} = b.{c}" for c in _RESET_COLUMNS)
    _execute(url,
             "DELETE FROM link_tokens", "DELETE FROM ledger_entries",
             "UPDATE ledger_head h SET seq = b.seq, hash = b.hash FROM bench_ledger_head b WHERE h.id = b.id",
             f"UPDATE outbox o SET {assignments} FROM bench_outbox_planned b WHERE o.id = b.id")
    _execute(url, f"VACUUM ANALYZE {', '.join(_SENDING_TABLES)}", autocommit=True)
    state = _sending_state(url)
    if state != expected:
        raise SystemExit(f"the outbox reset left {state}, not {expected}")


def main(args) -> None:
    students = args.students
    messages = args.messages or district._scaled(20_000, students)
    entries = args.entries or district._scaled(2_800_000, students)
    senders = [int(n) for n in args.senders.split(",")]
    started = time.perf_counter()
    WORK.mkdir(exist_ok=True)
    py = sys.executable
    results: list[dict] = []
    setup: dict[str, float] = {}
    server = Server(os.environ.get(district.PG_ENV) or district.PG_DEFAULT)
    roster_db, day_db, main_db, ledger_db = (server.name("roster"), server.name("day"), server.name(),
                                             server.name("ledger"))

    step = district.stepper(results, started)
    script = district.script

    from schoolpass.storage.engine import make_engine
    from schoolpass.storage.migrate import upgrade

    try:
        # synth, and the roster import against its COPY floor, into an empty database.
        step("synth", [py, script("roster_import.py"), "--step", "synth", "--students", str(students), "--seed", "1"])
        setup["create_roster_db_s"] = server.create(roster_db)
        engine = make_engine(server.url(roster_db))
        upgrade(engine)
        engine.dispose()
        for name, which in (("roster-floor", "floor"), ("roster", "import")):
            step(name, [py, script("roster_import.py"), "--step", which, "--students", str(students), "--seed", "1",
                        "--url", server.url(roster_db)])

        # One day's results (the last synthetic day's CSV, then its HL7) into a copy of the roster.
        results_dir = results_import.district(students) / "results"
        if not results_dir.exists():
            from schoolpass.synth.district import write_screening

            t = time.perf_counter()
            write_screening(results_import.district(students), weeks=4, seed=1)
            setup["results_synth_s"] = round(time.perf_counter() - t, 2)
        # The last day with both files (as in the SQLite run, whose last day always has both at full size).
        day = sorted(p.stem for p in results_dir.glob("*.csv") if p.with_suffix(".hl7").exists())[-1]
        setup["copy_day_db_s"] = server.create(day_db, roster_db)
        for kind in ("csv", "hl7"):
            path = results_dir / f"{day}.{kind}"
            step(f"results-{kind}-floor", [py, script("results_import.py"), "--step", f"floor-{kind}", "--file",
                                           str(path), "--url", server.url(day_db)])
            step(f"results-{kind}", [py, script("results_import.py"), "--step", f"import-{kind}", "--file",
                                     str(path), "--url", server.url(day_db)])
        if not args.keep:
            server.drop(day_db)

        # The weeks of history into another copy of the roster, everyone's status, the day's plan.
        setup["copy_main_db_s"] = server.create(main_db, roster_db)
        url = server.url(main_db)
        step("history", [py, script("status_everyone.py"), "--step", "load", "--students", str(students),
                         "--url", url])
        step("everyone", [py, script("status_everyone.py"), "--step", "everyone", "--students", str(students),
                          "--on", district.ON.isoformat(), "--url", url])
        step("plan", [py, script("notices.py"), "--step", "plan", "--students", str(students), "--on",
                      district.ON.isoformat(), "--url", url])

        # Sending N of the planned messages: floor, naive loop, then `schoolpass send --workers W` for each W.
        planned = limit_outbox(url, messages)
        before = _sending_state(url)
        port = notices._free_port()
        maildir = WORK / f"maildir-pg-{students}"
        for name, which in (("send-floor", "floor"), ("send-naive", "naive")):
            with district.Sink(port, maildir):
                step(name, [py, script("notices.py"), "--step", which, "--students", str(students), "--on",
                            district.ON.isoformat(), "--port", str(port), "--url", url])
        for n, workers in enumerate(senders):
            if n:
                t = time.perf_counter()
                reset_outbox(url, before)
                setup[f"reset_before_w{workers}_s"] = round(time.perf_counter() - t, 2)
            with district.Sink(port, maildir) as sink:
                step(f"send-w{workers}", [py, script("notices.py"), "--step", "send-cli", "--students",
                                          str(students), "--port", str(port), "--url", url, "--workers",
                                          str(workers), "--sink-pid", str(sink.process.pid)])
        shutil.rmtree(maildir, ignore_errors=True)

        # A month's ledger, written directly into a copy of the roster; verify against SHA-256; breach-scope.
        setup["copy_ledger_db_s"] = server.create(ledger_db, roster_db)
        if not args.keep:
            server.drop(roster_db)
        import disclosure

        t = time.perf_counter()
        made = disclosure.synthesize_into(server.url(ledger_db), entries, args.days)
        setup["ledger_synth_s"] = round(time.perf_counter() - t, 2)
        setup["ledger_rows_s"], setup["ledger_copy_s"] = made["rows_s"], made["copy_s"]
        for name, which in (("verify-floor", "floor"), ("verify", "verify"), ("breach-scope", "breach")):
            step(name, [py, script("disclosure.py"), "--step", which, "--students", str(students), "--entries",
                        str(entries), "--days", str(args.days), "--url", server.url(ledger_db)])
        if not args.keep:
            server.drop(ledger_db)

        # The family page under load, against the planned day's database.
        results.append(district.family_page(url, students, args.rate, args.load_seconds, args.serve_workers))
        r = results[-1]
        print(f"  {'family-page':<13} {r['seconds']:>8.2f} s {r['peak_mb']:>6} MB", file=sys.stderr)
    finally:
        if not args.keep:
            server.drop_all()
        else:
            server.admin.dispose()
    wall = time.perf_counter() - started

    rows = district.table(results)
    title = (f"schoolpass district benchmark: {students:,} students, postgresql, {machine()['cpus']} cores "
             f"({machine()['cpu'] or 'cpu unknown'}), day {day} / plan {district.ON}, {planned:,} messages sent "
             f"by {', '.join(map(str, senders))} sender processes, {entries:,} ledger entries")
    district.print_table(title, rows, wall)
    RESULTS.mkdir(exist_ok=True)
    report = RESULTS / f"district-postgresql-{students}.json"
    report.write_text(json.dumps({
        "students": students, "seed": 1, "backend": "postgresql", "server": _server_version(server),
        "results_day": day, "plan_day": district.ON.isoformat(), "messages": planned, "senders": senders,
        "ledger_entries": entries, "ledger_days": args.days,
        "family_load": {"rate": args.rate, "seconds": args.load_seconds, "p99_target_ms": district.P99_TARGET_MS},
        "machine": machine(), "wall_seconds": round(wall, 1), "setup": setup, "table": rows, "steps": results},
        indent=2) + "\n")
    print(f"wrote {report.relative_to(HERE.parent)}")


def _server_version(server: Server) -> dict:
    """The server's version and the settings that bear on the run (one commit per message sent)."""
    settings = ("server_version", "shared_buffers", "synchronous_commit", "fsync", "wal_level", "max_connections")
    rows = _execute(server.url("postgres"), "SELECT name, setting, unit FROM pg_settings WHERE name IN "
                                            f"({', '.join(repr(s) for s in settings)})")
    return {name: f"{setting}{' ' + unit if unit else ''}" for name, setting, unit in rows}
