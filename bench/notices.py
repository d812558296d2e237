"""Notices at district scale: planning a day, and sending against its floors (SQLite).

    python bench/notices.py [--students 500000] [--on 2021-11-22] [--messages 20000]

Uses the database bench/status_everyone.py leaves in bench/work/ (the roster with every
synthetic week of results; built when missing). Each step runs in its own process:

  plan        `daily`'s planning for the day: everyone's status, due notices, authorized
              addresses, the outbox rows (one transaction) and the whole-run check
  floor       the same number of pre-rendered messages over one reused smtplib connection
  naive       one new smtplib connection per message (what a hurried script does), on every 50th
  send        schoolpass's sender on N planned messages: claim, tokens, render, guard, SMTP,
              `sent` + ledger entry per message
  no-guard    the same sender with the guard wrapped out (benchmark code only)

The sink is `schoolpass smtp-sink` in its own process on loopback, the same for every step.
Prints one table and writes bench/results/notices-sqlite-<students>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from roster_import import RESULTS, WORK, machine, run_step  # noqa: E402
from status_everyone import loaded  # noqa: E402

SENDER = "schoolpass@localhost"


def planned_db(students: int) -> Path:
    return WORK / f"notices-{students}.db"


def sending_db(students: int) -> Path:
    return WORK / f"notices-send-{students}.db"


def copy_db(source: Path, target: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copy(source, target)


def step_plan(students: int, on: date, url: str | None = None) -> dict:
    from schoolpass.notices.planning import plan_day
    from schoolpass.notices.run_check import check_run
    from schoolpass.policy.model import default_policy
    from schoolpass.storage.engine import make_engine

    engine = make_engine(url or f"sqlite:///{planned_db(students)}")
    started = time.perf_counter()
    with engine.begin() as conn:
        plan = plan_day(conn, on, default_policy(), "bench", SENDER)
    planned = time.perf_counter() - started
    with engine.connect() as conn:
        violations = check_run(conn, plan.run_id, on)
    checked = time.perf_counter() - started - planned
    engine.dispose()
    return {"plan_seconds": round(planned, 2), "run_check_seconds": round(checked, 2), "violations": len(violations),
            "notices": dict(plan.notices), "messages": dict(plan.messages), "statuses": dict(plan.statuses)}


def _limit_outbox(students: int, messages: int) -> int:
    """A copy of the planned database whose first `messages` planned rows are the only ones left to send."""
    from schoolpass.storage.engine import make_engine

    copy_db(planned_db(students), sending_db(students))
    engine = make_engine(f"sqlite:///{sending_db(students)}")
    with engine.begin() as conn:
        cutoff = conn.exec_driver_sql(
            f"SELECT max(id) FROM (SELECT id FROM outbox WHERE state = 'planned' ORDER BY id LIMIT {messages})").scalar()
        conn.exec_driver_sql(f"UPDATE outbox SET state = 'held', reason = 'bench' WHERE state = 'planned' AND id > {cutoff}")
        count = conn.exec_driver_sql("SELECT count(*) FROM outbox WHERE state = 'planned'").scalar()
    engine.dispose()
    return count


def _prerendered(students: int, url: str | None = None) -> list[tuple[str, bytes]]:
    """(address, bytes) of every planned message, rendered as the sender would (untimed)."""
    from datetime import UTC, datetime

    from schoolpass.notices.content import Letter, render
    from schoolpass.notices.tokens import new_token
    from schoolpass.storage.engine import make_engine

    engine = make_engine(url or f"sqlite:///{sending_db(students)}")
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT o.address, o.language, o.kind, o.message_id, p.given_name, p.family_name FROM outbox o "
            "JOIN person_versions p ON p.sourced_id = o.subject_id AND p.rec_to IS NULL AND p.valid_to IS NULL "
            "WHERE o.state = 'planned' ORDER BY o.id").all()
    now = datetime.now(UTC)
    return [(address, render(Letter(kind, language, given, family, new_token(), True, None),
                             base_url="http://127.0.0.1:8000", message_id=message_id, sender=SENDER, to=address,
                             reply_to=None, sent_date=now))
            for address, language, kind, message_id, given, family in rows]


def step_floor(students: int, port: int, url: str | None = None) -> dict:
    messages = _prerendered(students, url)
    started = time.perf_counter()
    smtp = smtplib.SMTP("127.0.0.1", port)
    for address, raw in messages:
        smtp.sendmail(SENDER, [address], raw, mail_options=["BODY=8BITMIME"])
    smtp.quit()
    seconds = time.perf_counter() - started
    return {"messages": len(messages), "seconds": round(seconds, 2), "per_second": round(len(messages) / seconds)}


def step_naive(students: int, port: int, url: str | None = None) -> dict:
    messages = _prerendered(students, url)[::50]
    started = time.perf_counter()
    for address, raw in messages:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.sendmail(SENDER, [address], raw)
    seconds = time.perf_counter() - started
    return {"messages": len(messages), "seconds": round(seconds, 2), "per_second": round(len(messages) / seconds)}


def step_send(students: int, port: int, guarded: bool, url: str | None = None) -> dict:
    from schoolpass.notices.guard import Guard, Verdict
    from schoolpass.notices.sender import Sender
    from schoolpass.notices.smtp import Mailer, parse_smtp_url
    from schoolpass.settings import load_settings
    from schoolpass.storage.engine import make_engine

    class NoGuard(Guard):
        """The guard wrapped out: every message passes, as addressed and planned (benchmark only)."""

        def check(self, conn, batch):
            return [Verdict(True, None, item.subject_id, item.address) for item in batch]

    settings = load_settings(database_url=url or f"sqlite:///{sending_db(students)}",
                             smtp_url=f"smtp://127.0.0.1:{port}")
    engine = make_engine(settings.database_url)
    sender = Sender(engine, settings, Mailer(parse_smtp_url(settings.smtp_url)), guard=None if guarded else NoGuard())
    started = time.perf_counter()
    report = sender.drain()
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"messages": report.sent, "blocked": report.blocked, "seconds": round(seconds, 2),
            "per_second": round(report.sent / seconds)}


# `schoolpass send --workers N` as an operator runs it, with where the CPU went meanwhile ----------

def _ticks(pid: int) -> int | None:
    """utime + stime of a process (all its threads), in clock ticks; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def _postgres_processes(database: str) -> tuple[dict[int, int], dict[int, int]]:
    """{pid: ticks} of the PostgreSQL backends connected to `database`, and of the server's own processes
    (checkpointer, WAL writer, background writer, autovacuum: everything but client backends)."""
    backends, own = {}, {}
    marker = f" {database} ".encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                title = f.read()
        except OSError:
            continue
        if not title.startswith(b"postgres:"):
            continue
        ticks = _ticks(int(entry.name))
        if ticks is None:
            continue
        if marker in title and b"(" in title:  # "postgres: 15/main: user db 127.0.0.1(port) state"
            backends[int(entry.name)] = ticks
        elif b"(" not in title:
            own[int(entry.name)] = ticks
    return backends, own


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine (all cores) so far."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values[:8]) - idle, sum(values[:8])


def step_send_cli(url: str, port: int, workers: int, sink_pid: int | None) -> dict:
    """`schoolpass --db URL send --workers N`, timed from the command's start to its exit (interpreter and
    worker start included); CPU seconds of the senders (the command and its workers, exact), the sink, the
    PostgreSQL backends serving them (sampled every 0.1 s) and the server's own processes, and the machine."""
    from sqlalchemy.engine import make_url

    from schoolpass.storage.engine import make_engine

    database = make_url(url).database
    hz = os.sysconf("SC_CLK_TCK")
    sink_before = _ticks(sink_pid) if sink_pid else None
    _, own_before = _postgres_processes(database)
    machine_before = _machine_ticks()
    from datetime import UTC, datetime

    started, started_at = time.perf_counter(), datetime.now(UTC)
    command = subprocess.Popen([str(Path(sys.executable).parent / "schoolpass"), "--db", url, "send", "--workers",
                                str(workers), "--smtp", f"smtp://127.0.0.1:{port}"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    backends: dict[int, int] = {}
    own_last = dict(own_before)
    # What the senders' backends are doing, sampled: running, waiting for a lock (the ledger head), for the
    # WAL flush of a commit, or idle waiting for the sender (ClientRead).
    import psycopg
    from collections import Counter

    from schoolpass.storage.engine import normalize_url

    waits: Counter = Counter()
    probe = psycopg.connect(normalize_url(url).replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True)
    while True:
        pid, status, usage = os.wait4(command.pid, os.WNOHANG)
        if pid:
            break
        for state, kind, event in probe.execute(
                "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"):
            waits[f"{state}:{kind or 'CPU'}:{event or '-'}"] += 1
        seen, own = _postgres_processes(database)
        seen.pop(probe.info.backend_pid, None)  # the sampling connection's own backend
        for p, ticks in seen.items():
            backends[p] = max(ticks, backends.get(p, 0))
        own_last.update(own)
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    probe.close()
    machine_after = _machine_ticks()
    sink_after = _ticks(sink_pid) if sink_pid else None
    _, own_after = _postgres_processes(database)
    own_last.update(own_after)
    output = command.stdout.read().decode(errors="replace")
    command.returncode = os.waitstatus_to_exitcode(status)
    if command.returncode != 0:
        raise SystemExit(f"schoolpass send --workers {workers} exited {command.returncode}:\n{output}")
    engine = make_engine(url)
    with engine.connect() as conn:
        sent, first, last = conn.exec_driver_sql(
            "SELECT count(*), min(sent_at), max(sent_at) FROM ledger_entries").one()
        states = dict(conn.exec_driver_sql("SELECT state, count(*) FROM outbox GROUP BY state").all())
    engine.dispose()
    first_at = datetime.fromisoformat(first.replace("Z", "+00:00")) if sent else None
    window = (datetime.fromisoformat(last.replace("Z", "+00:00")) - first_at).total_seconds() if sent > 1 else None
    busy = (machine_after[0] - machine_before[0]) / hz
    capacity = (machine_after[1] - machine_before[1]) / hz
    cpu = {"senders": usage.ru_utime + usage.ru_stime,
           "sink": (sink_after - sink_before) / hz if sink_before is not None and sink_after is not None else None,
           "postgres_backends": sum(backends.values()) / hz,
           "postgres_server": sum(t - own_before.get(p, 0) for p, t in own_last.items()) / hz}
    cpu["others"] = busy - sum(v for v in cpu.values() if v)
    cpu = {k: round(v, 2) if v is not None else None for k, v in cpu.items()}
    return {"workers": workers, "messages": sent, "seconds": round(seconds, 2), "per_second": round(sent / seconds),
            "first_message_s": round((first_at - started_at).total_seconds(), 2) if first_at else None,
            "window_per_second": round((sent - 1) / window) if window else None,
            "blocked": states.get("blocked", 0), "waiting": states.get("planned", 0) + states.get("sending", 0),
            "cpu_s": cpu, "machine_busy_s": round(busy, 2), "machine_capacity_s": round(capacity, 2),
            "sender_peak_mb": round(usage.ru_maxrss / 1024),
            "backend_samples": dict(waits.most_common(6))}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=500_000)
    parser.add_argument("--on", default="2021-11-22")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)  # a step against this database instead (PostgreSQL)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--sink-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    on = date.fromisoformat(args.on)
    if args.step:
        steps = {"plan": lambda: step_plan(args.students, on, args.url),
                 "floor": lambda: step_floor(args.students, args.port, args.url),
                 "naive": lambda: step_naive(args.students, args.port, args.url),
                 "send": lambda: step_send(args.students, args.port, True, args.url),
                 "no-guard": lambda: step_send(args.students, args.port, False, args.url),
                 "send-cli": lambda: step_send_cli(args.url, args.port, args.workers, args.sink_pid)}
        print(json.dumps(steps[args.step]()))
        return

    if not loaded(args.students).exists():
        subprocess.run([sys.executable, str(HERE / "status_everyone.py"), "--students", str(args.students),
                        "--on", args.on], check=True)
    copy_db(loaded(args.students), planned_db(args.students))
    results = []

    def step(name: str, port: int | None = None) -> dict:
        command = [sys.executable, __file__, "--step", name, "--students", str(args.students), "--on", args.on]
        if port:
            command += ["--port", str(port)]
        results.append(run_step(name, command))
        print(f"  {name:<9} {results[-1]['seconds']:>8.2f} s {results[-1]['peak_mb']:>6} MB", file=sys.stderr)
        return results[-1]["details"]

    step("plan")
    planned = _limit_outbox(args.students, args.messages)
    maildir = WORK / "maildir"
    port = _free_port()
    sink = None
    try:
        for name in ("floor", "naive", "send", "no-guard"):
            shutil.rmtree(maildir, ignore_errors=True)
            if name in ("send", "no-guard"):
                _limit_outbox(args.students, args.messages)  # the same planned rows, unsent, for each sender run
            sink = subprocess.Popen([str(Path(sys.executable).parent / "schoolpass"), "smtp-sink", "--port", str(port),
                                     "--maildir", str(maildir)], stdout=subprocess.PIPE, text=True)
            sink.stdout.readline()  # listening
            step(name, port)
            sink.send_signal(signal.SIGTERM)
            sink.wait(timeout=30)
    finally:
        if sink and sink.poll() is None:
            sink.kill()
    by_name = {r["step"]: r["details"] for r in results}
    floor, send, bare = by_name["floor"]["per_second"], by_name["send"]["per_second"], by_name["no-guard"]["per_second"]
    naive = by_name["naive"]["per_second"]
    ratios = {"send_vs_floor": round(send / floor, 2), "send_vs_naive": round(send / naive, 2),
              "guard_cost": round(1 - send / bare, 3), "planned_for_sending": planned}
    print(f"\nNotices on {on}, {args.students:,}-student district, sqlite ({machine()['cpus']} cores)\n")
    print(f"{'step':<9} {'seconds':>9} {'peak MB':>8}  details")
    for r in results:
        print(f"{r['step']:<9} {r['seconds']:>9.2f} {r['peak_mb']:>8}  {json.dumps(r['details'], separators=(',', ':'))}")
    print(f"\nsending: {send}/s = {ratios['send_vs_floor']:.0%} of the floor ({floor}/s), "
          f"{ratios['send_vs_naive']:.1f}x the naive loop ({naive}/s); guard cost {ratios['guard_cost']:.1%} "
          f"(without it {bare}/s)")
    RESULTS.mkdir(exist_ok=True)
    report = RESULTS / f"notices-sqlite-{args.students}.json"
    report.write_text(json.dumps({"students": args.students, "on": args.on, "machine": machine(), "steps": results,
                                  "ratios": ratios}, indent=2) + "\n")
    print(f"\nwrote {report.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
