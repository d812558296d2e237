"""The district benchmark: a school day at scale, step by step, each against its floor (SQLite).

    python bench/district.py [--students 500000] [--load-seconds 60] [--rate 200]

`schoolpass synth` at the given scale, then each step in its own process (wall time and peak
memory are the step's own), reusing the other bench/ scripts' steps and what they leave in
bench/work/ (each builds what is missing):

  synth         the synthetic district (reused when already written for the size)
  roster        first roster import into an empty database     floor: csv.reader + one bare executemany
  results-csv   one day's SimpleReport CSV (the last synthetic day) into the roster
                                                               floor: csv.reader + one bare executemany
  results-hl7   the same day's HL7 file, after the CSV         floor: segment/field split + one bare executemany
  history       the synthetic weeks of results (only when bench/work/ has none loaded yet)
  everyone      the status of every active student and staff member on the day
  plan          `daily`'s planning for the day after the weeks of history
  send-naive    one new smtplib connection per message, every 50th of the messages
  send          schoolpass's sender on N of the day's planned messages to `schoolpass smtp-sink`
                                                               floor: the same messages pre-rendered, over one
                                                               reused smtplib connection to the same sink
  verify        `ledger verify` over a month's ledger (synthesized directly, not sent)
                                                               floor: SHA-256 over the same canonical bytes
  breach-scope  `breach-scope` over the same month
  family-page   `schoolpass serve` on loopback; an open-loop load of --rate requests/s at /family/home
                with a signed-in family's cookie, from a separate process; latency percentiles

`seconds` is the step's wall time in its own process (interpreter start included); `floor s` is the
floor's timed part (making the rows or bytes it inserts or sends is untimed; the roster's floor is its
step's wall time); the ratio is seconds / floor s, except for sending, where both sides are the timed
loops over the same messages. Each import, and sending, runs --repeats times (default 3 from 200,000
students), each time right after its floor, on fresh databases: the table shows the pair with the median
ratio, the JSON every run.
N messages is 20,000 at 500,000 students and in proportion below; so is the ledger (2.8M entries).

Prints one table and writes bench/results/district-sqlite-<students>.json with the machine's description.

`--backend postgresql` (`make bench-pg`) runs the same day on PostgreSQL instead, floors by COPY, with
`schoolpass send --workers 1, 2, 4` as the sender rows (bench/district_pg.py says how).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import disclosure  # noqa: E402
import notices  # noqa: E402
import results_import  # noqa: E402
import status_everyone  # noqa: E402
from roster_import import RESULTS, WORK, machine, run_step, upgraded, warm  # noqa: E402

FULL = 500_000
ON = date(2021, 11, 22)  # the Monday after the synthetic weeks of results
COOKIE_ENV = "BENCH_FAMILY_COOKIE"
PG_ENV = "SCHOOLPASS_BENCH_POSTGRES_URL"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/"
P99_TARGET_MS = 200


def _scaled(full: int, students: int) -> int:
    return max(1, round(full * students / FULL))


def _fresh(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _schoolpass() -> str:
    return str(Path(sys.executable).parent / "schoolpass")


# The one step no other script has: the family page under load -----------------------------------

def _db_url(db: Path | str) -> str:
    """A PostgreSQL URL as given; an SQLite file's path as its URL."""
    return str(db) if "://" in str(db) else f"sqlite:///{db}"


def step_session(db: Path | str) -> dict:
    """A signed-in family session for an address with children (through the sign-in link functions, no email)."""
    from schoolpass.settings import load_settings
    from schoolpass.storage.engine import make_engine
    from schoolpass.web.family import address_key, authorized_subjects, create_link, use_link

    settings = load_settings(database_url=_db_url(db))
    engine = make_engine(settings.database_url)
    today = datetime.now(settings.zone).date()  # what the family page calls today
    with engine.connect() as conn:
        candidates = conn.exec_driver_sql(
            "SELECT lower(p.email) FROM person_versions p JOIN person_agents a ON a.agent_sourced_id = p.sourced_id "
            "WHERE p.rec_to IS NULL AND p.email IS NOT NULL AND p.email <> '' "
            "GROUP BY lower(p.email) HAVING count(DISTINCT a.person_sourced_id) >= 2 "
            "ORDER BY lower(p.email) LIMIT 50").scalars().all()
        cookie, children = None, {}
        for email in candidates:
            found = authorized_subjects(conn, today, address_key(email))
            if len(found) >= 2:
                now = datetime.now(UTC)
                link = create_link(engine, address_key(email), now)  # None: this address had its links lately
                cookie = use_link(engine, link, now) if link else None
                if cookie:
                    children = found
                    break
    if cookie is None:
        raise SystemExit("no address with children on the roster could sign in")
    engine.dispose()
    return {"cookie": cookie, "children": len(children), "today": today.isoformat()}


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """One HTTP/1.1 response read off the stream: its status, and whether the server closes the connection."""
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed")
    status = int(status_line.split()[1])
    length, chunked, close = None, False, False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
        elif name == "connection" and value == "close":
            close = True
    if chunked:
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length is not None:
        await reader.readexactly(length)
    else:
        await reader.read()
        close = True
    return status, close


async def _open_loop(port: int, cookie: str, rate: float, seconds: float, timeout: float) -> dict:
    """Requests at fixed intervals whatever the answers (open loop), over a pool of keep-alive connections.

    A request's latency runs from the moment it was due, so a slow answer or a late start both count.
    """
    loop = asyncio.get_running_loop()
    request = (f"GET /family/home HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: sp_family={cookie}\r\n"
               "Accept: text/html\r\n\r\n").encode()
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    latencies: list[float] = []
    errors: Counter = Counter()
    opened = 0
    late = 0.0

    async def one(due: float) -> None:
        nonlocal opened
        conn = idle.pop() if idle else None
        try:
            async with asyncio.timeout(timeout):
                if conn is None:
                    conn = await asyncio.open_connection("127.0.0.1", port)
                    opened += 1
                reader, writer = conn
                writer.write(request)
                await writer.drain()
                status, close = await _read_response(reader)
            elapsed = loop.time() - due
            if status == 200:
                latencies.append(elapsed)
            else:
                errors[f"http {status}"] += 1
            if close:
                writer.close()
            else:
                idle.append(conn)
        except Exception as error:  # noqa: BLE001 - every failure is counted, none stops the load
            errors[type(error).__name__ or "error"] += 1
            if conn is not None:
                conn[1].close()

    total = int(rate * seconds)
    start = loop.time() + 0.05
    tasks = set()
    for i in range(total):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        late = max(late, loop.time() - due)
        task = asyncio.create_task(one(due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    sent_for = loop.time() - start
    while tasks:
        await asyncio.gather(*list(tasks))
    for _, writer in idle:
        writer.close()
    latencies.sort()

    def pct(p: float) -> float | None:
        if not latencies:
            return None
        return round(1000 * latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))], 1)

    p99 = pct(99)
    return {"requests": total, "ok": len(latencies), "errors": sum(errors.values()), "error_kinds": dict(errors),
            "rate_asked": rate, "rate_sent": round(total / sent_for, 1) if sent_for else None,
            "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": p99,
            "max_ms": round(1000 * latencies[-1], 1) if latencies else None,
            "connections": opened, "generator_max_late_ms": round(1000 * late, 1),
            "p99_under_200ms": bool(p99 is not None and p99 < P99_TARGET_MS and not errors)}


def step_load(port: int, rate: float, seconds: float) -> dict:
    return asyncio.run(_open_loop(port, os.environ[COOKIE_ENV], rate, seconds, timeout=10.0))


def _get(port: int, path: str, cookie: str | None = None) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if cookie:
        request.add_header("Cookie", f"sp_family={cookie}")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=10) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _stop(server: subprocess.Popen, grace: float = 5.0):
    """SIGTERM, then SIGKILL after `grace` seconds (an overloaded server drains its queue first); its rusage.

    The server runs in its own process group: the kill reaches its worker processes too (killing the
    master alone would leave them serving their queue, orphaned)."""
    server.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while True:
        pid, _, usage = os.wait4(server.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            os.killpg(server.pid, signal.SIGKILL)
            _, _, usage = os.wait4(server.pid, 0)
            break
        time.sleep(0.1)
    server.returncode = 0  # reaped here
    try:
        os.killpg(server.pid, signal.SIGKILL)  # any worker still there
    except ProcessLookupError:
        pass
    return usage


def wait_healthy(port: int) -> None:
    """Until `schoolpass serve` on `port` answers /healthz (30 s at most)."""
    for _ in range(300):
        try:
            if _get(port, "/healthz") == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("schoolpass serve did not answer /healthz")


def family_page(db: Path | str, students: int, rate: float, seconds: float, workers: int = 2) -> dict:
    """Serve the database, sign a family in, load /family/home from another process; the server's peak too."""
    session = run_step("session", [sys.executable, __file__, "--step", "session", "--db", str(db),
                                   "--students", str(students)])
    cookie = session["details"].pop("cookie")
    port = notices._free_port()
    server_log = open(WORK / "serve.log", "w+")  # noqa: SIM115 - closed below
    # Under bench/measure.py, so the peak is the server's own, not this driver's (see run_step).
    server = subprocess.Popen([sys.executable, "-I", "-S", str(HERE / "measure.py"), _schoolpass(), "--db",
                               _db_url(db), "serve", "--port", str(port), "--workers", str(workers)],
                              start_new_session=True, stdout=server_log)
    try:
        wait_healthy(port)
        answers = [_get(port, "/family/home", cookie) for _ in range(20)]
        if set(answers) != {200}:
            raise SystemExit(f"/family/home answered {Counter(answers)} before the load")
        os.environ[COOKIE_ENV] = cookie
        step = run_step("family-page", [sys.executable, __file__, "--step", "load", "--port", str(port),
                                        "--rate", str(rate), "--load-seconds", str(seconds)])
    finally:
        os.environ.pop(COOKIE_ENV, None)
        usage = _stop(server)
    server_log.seek(0)
    measured = (server_log.read().strip().splitlines() or ["{}"])[-1]
    server_log.close()
    server_kb = json.loads(measured).get("peak_kb") if measured.startswith("{") else None
    step["details"] = {**step["details"], "children": session["details"]["children"],
                       "page_today": session["details"]["today"], "client_peak_mb": step["peak_mb"]}
    # The server's peak, warm-up and load included (if it had to be killed, only measure.py's own is known).
    step["peak_mb"] = round((server_kb or usage.ru_maxrss) / 1024)
    return step


# Orchestration ----------------------------------------------------------------------------------

class Sink:
    """`schoolpass smtp-sink` in its own process on loopback, fresh Maildir, as bench/notices.py runs it."""

    def __init__(self, port: int, maildir: Path):
        shutil.rmtree(maildir, ignore_errors=True)
        self.process = subprocess.Popen([_schoolpass(), "smtp-sink", "--port", str(port), "--maildir", str(maildir)],
                                        stdout=subprocess.PIPE, text=True)
        self.process.stdout.readline()  # listening

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=FULL)
    parser.add_argument("--messages", type=int, help="messages to send (default 20,000 at 500,000 students, "
                                                     "in proportion below)")
    parser.add_argument("--entries", type=int, help="ledger entries (default 2.8M at 500,000 students, "
                                                    "in proportion below)")
    parser.add_argument("--days", type=int, default=30, help="days of ledger")
    parser.add_argument("--repeats", type=int,
                        help="runs of each import and of sending, each right after its floor (the table shows the "
                             "median ratio; default 3 from 200,000 students, 1 below, so the quick run stays quick)")
    parser.add_argument("--load-seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=200.0, help="family-page requests per second")
    parser.add_argument("--serve-workers", type=int, default=2, help="`schoolpass serve --workers` (2 cores: 2)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite",
                        help="postgresql: the same day in databases created (and dropped) on the server "
                             f"${PG_ENV} names (default {PG_DEFAULT}), sending with 1, 2 and 4 worker processes")
    parser.add_argument("--senders", default="1,2,4", help="PostgreSQL: `send --workers` counts, one run each")
    parser.add_argument("--keep", action="store_true", help="PostgreSQL: keep the databases (dropped by default)")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        details = {"session": lambda: step_session(args.db),
                   "load": lambda: step_load(args.port, args.rate, args.load_seconds)}[args.step]()
        print(json.dumps(details))
        return
    if args.backend == "postgresql":
        import district_pg

        district_pg.main(args)
        return

    students = args.students
    args.repeats = args.repeats or (3 if students >= 200_000 else 1)
    messages = args.messages or _scaled(20_000, students)
    entries = args.entries or _scaled(2_800_000, students)
    started = time.perf_counter()
    WORK.mkdir(exist_ok=True)
    py = sys.executable
    results: list[dict] = []   # every step run, floors and comparisons included (the JSON)
    setup: dict[str, float] = {}

    step = stepper(results, started)

    # synth, and the roster import against its floor, into an empty database of this benchmark's own.
    step("synth", [py, script("roster_import.py"), "--step", "synth", "--students", str(students), "--seed", "1"])
    # This machine kind's speed wanders within minutes: each import runs right after its floor, --repeats times.
    roster_db = WORK / f"district-roster-{students}.db"
    url = f"sqlite:///{roster_db}"
    for _ in range(args.repeats):
        _fresh(roster_db)
        upgraded(roster_db)
        for name, which in (("roster-floor", "floor"), ("roster", "import")):
            step(name, [py, script("roster_import.py"), "--step", which, "--students", str(students), "--seed",
                        "1", "--url", url])
    shared_roster = WORK / f"roster-{students}.db"
    if not shared_roster.exists():  # the other scripts' roster: this one, rather than a second import
        shutil.copy(roster_db, shared_roster)

    # One day's results (the last synthetic day's CSV, then its HL7) into a copy of the roster.
    t = time.perf_counter()
    results_import.prepare(students, 1, 1)  # the synthetic weeks of results, when missing
    setup["results_synth_s"] = round(time.perf_counter() - t, 2)
    day_files = sorted((results_import.district(students) / "results").glob("*.csv"))
    day = day_files[-1].stem
    scratch, floor_db = WORK / "district-day.db", WORK / "district-floor.db"
    for _ in range(args.repeats):
        _fresh(scratch)
        shutil.copy(roster_db, scratch)
        for kind in ("csv", "hl7"):
            path = results_import.district(students) / "results" / f"{day}.{kind}"
            _fresh(floor_db)
            step(f"results-{kind}-floor", [py, script("results_import.py"), "--step", f"floor-{kind}", "--file",
                                           str(path), "--url", str(floor_db)])
            step(f"results-{kind}", [py, script("results_import.py"), "--step", f"import-{kind}", "--file",
                                     str(path), "--url", str(scratch)], warmed=(scratch,))
    _fresh(floor_db)
    _fresh(scratch)

    # Everyone's status after the weeks of history (loaded once into bench/work/, as status_everyone.py does).
    loaded = status_everyone.loaded(students)
    if not loaded.exists():
        shutil.copy(shared_roster, loaded)
        step("history", [py, script("status_everyone.py"), "--step", "load", "--students", str(students)])
    upgraded(loaded)
    step("everyone", [py, script("status_everyone.py"), "--step", "everyone", "--students", str(students),
                      "--on", ON.isoformat()], warmed=(loaded,))

    # `daily`'s planning, then sending N of its messages: floor, naive loop, schoolpass's sender.
    notices.copy_db(loaded, notices.planned_db(students))
    step("plan", [py, script("notices.py"), "--step", "plan", "--students", str(students), "--on", ON.isoformat()],
         warmed=(notices.planned_db(students),))
    planned = notices._limit_outbox(students, messages)
    port = notices._free_port()
    maildir = WORK / "maildir"
    runs = [("send-naive", "naive")] + [run for _ in range(args.repeats)
                                         for run in (("send-floor", "floor"), ("send", "send"))]
    for name, which in runs:
        if which != "naive":
            notices._limit_outbox(students, messages)  # the same rows, unsent (the floor renders them too)
        with Sink(port, maildir):
            step(name, [py, script("notices.py"), "--step", which, "--students", str(students), "--on",
                        ON.isoformat(), "--port", str(port)], warmed=(notices.sending_db(students),))
        shutil.rmtree(maildir, ignore_errors=True)

    # A month's ledger, synthesized directly (once), then verify against SHA-256, and breach-scope.
    ledger = disclosure.ledger_db(students, entries)
    if not ledger.exists():
        t = time.perf_counter()
        disclosure.synthesize(students, entries, args.days)
        setup["ledger_synth_s"] = round(time.perf_counter() - t, 2)
    upgraded(ledger)
    for name, which in (("verify-floor", "floor"), ("verify", "verify"), ("breach-scope", "breach")):
        step(name, [py, script("disclosure.py"), "--step", which, "--students", str(students), "--entries",
                    str(entries), "--days", str(args.days)], warmed=(ledger,))

    # The family page under load, against the planned day's database.
    setup["family_warm_s"] = round(warm(notices.planned_db(students)), 1)
    results.append(family_page(notices.planned_db(students), students, args.rate, args.load_seconds,
                               args.serve_workers))
    r = results[-1]
    print(f"  {'family-page':<13} {r['seconds']:>8.2f} s {r['peak_mb']:>6} MB", file=sys.stderr)
    wall = time.perf_counter() - started

    rows = table(results)
    title = (f"schoolpass district benchmark: {students:,} students, sqlite, {machine()['cpus']} cores "
             f"({machine()['cpu'] or 'cpu unknown'}), day {day} / plan {ON}, {planned:,} messages sent, "
             f"{entries:,} ledger entries")
    print_table(title, rows, wall)
    RESULTS.mkdir(exist_ok=True)
    report = RESULTS / f"district-sqlite-{students}.json"
    report.write_text(json.dumps({
        "students": students, "seed": 1, "backend": "sqlite", "results_day": day, "plan_day": ON.isoformat(),
        "messages": planned, "ledger_entries": entries, "ledger_days": args.days,
        "family_load": {"rate": args.rate, "seconds": args.load_seconds, "p99_target_ms": P99_TARGET_MS},
        "machine": machine(), "wall_seconds": round(wall, 1), "setup": setup, "table": rows, "steps": results},
        indent=2) + "\n")
    print(f"wrote {report.relative_to(HERE.parent)}")


def script(name: str) -> str:
    """A bench/ script's path."""
    return str(HERE / name)


def stepper(results: list[dict], started: float):
    """step(name, command): run one step in its own process, keep its result, say how it went."""
    def step(name: str, command: list[str], warmed: tuple[Path, ...] = ()) -> dict:
        results.append(run_step(name, command, warmed))
        r = results[-1]
        print(f"  {name:<13} {r['seconds']:>8.2f} s {r['peak_mb']:>6} MB   (at {time.perf_counter() - started:.0f} s)",
              file=sys.stderr)
        return r

    return step


def print_table(title: str, rows: list[dict], wall: float) -> None:
    """The run's table, one row per step (both backends print it so)."""
    print(f"\n{title}\n")
    print(f"{'step':<13} {'seconds':>8} {'peak MB':>8} {'floor s':>8} {'ratio':>7}  details")
    for row in rows:
        floor = f"{row['floor_s']:>8.2f}" if row["floor_s"] is not None else f"{'':>8}"
        ratio = f"{row['ratio']:>6.1f}x" if row["ratio"] is not None else f"{'':>7}"
        print(f"{row['step']:<13} {row['seconds']:>8.2f} {row['peak_mb']:>8} {floor} {ratio}  "
              f"{json.dumps(row['details'], separators=(',', ':'))}")
    print(f"\nwall time {wall:.1f} s")


def table(results: list[dict]) -> list[dict]:
    """One row per measured step, with its floor's seconds and the ratio where it has one."""
    by = {r["step"]: r for r in results}
    rows = []

    def row(name: str, floor: float | None = None, ratio: float | None = None, details: dict | None = None):
        if name not in by:
            return
        r = by[name]
        if floor is not None and ratio is None:
            ratio = r["seconds"] / floor if floor else None
        rows.append({"step": name, "seconds": r["seconds"], "peak_mb": r["peak_mb"],
                     "floor_s": round(floor, 2) if floor is not None else None,
                     "ratio": round(ratio, 2) if ratio is not None else None,
                     "details": details if details is not None else r["details"]})

    def repeated(name: str, floor_of, seconds_of=lambda run: run["seconds"], extra=None) -> dict | None:
        """A step run several times, each right after its floor: the pair with the median ratio (its floor
        step, or None when the step did not run)."""
        pairs = list(zip([r for r in results if r["step"] == f"{name}-floor"],
                         [r for r in results if r["step"] == name]))
        if not pairs:
            return None
        floors = [floor_of(floor, run) for floor, run in pairs]
        ratios = [seconds_of(run) / floors[n] for n, (_, run) in enumerate(pairs)]
        middle = sorted(range(len(pairs)), key=ratios.__getitem__)[len(pairs) // 2]
        floor, run = pairs[middle]
        rows.append({"step": name, "seconds": run["seconds"], "peak_mb": max(r["peak_mb"] for _, r in pairs),
                     "floor_s": round(floors[middle], 2), "ratio": round(ratios[middle], 2),
                     "details": {**run["details"], **(extra(floor) if extra else {}), "runs": len(pairs),
                                 "seconds_each": [r["seconds"] for _, r in pairs],
                                 "floor_s_each": [round(f, 2) for f in floors],
                                 "ratio_each": [round(x, 2) for x in ratios]}})
        return floor

    def send_floor(floor: dict, run: dict) -> float:
        """The floor's time for the run's messages (both are timed loops over the same messages)."""
        return floor["details"]["seconds"] / floor["details"]["messages"] * run["details"]["messages"]

    row("synth")
    repeated("roster", lambda floor, _: floor["seconds"])
    for kind in ("csv", "hl7"):
        repeated(f"results-{kind}", lambda floor, _: floor["details"]["floor_s"])
    row("history")
    row("everyone")
    row("plan")
    chosen = repeated("send", send_floor, lambda run: run["details"]["seconds"],
                      lambda floor: {"floor_per_second": floor["details"]["per_second"]})
    floor = (chosen or by["send-floor"])["details"]
    per_message = floor["seconds"] / floor["messages"]
    for name in ("send-naive", *sorted((n for n in by if n.startswith("send-w")), key=lambda n: int(n[6:]))):
        if name not in by:
            continue
        d = by[name]["details"]
        own_floor = per_message * d["messages"]
        row(name, own_floor, d["seconds"] / own_floor, {**d, "floor_per_second": floor["per_second"]})
    row("verify", by["verify-floor"]["details"]["sha256_s"])
    row("breach-scope")
    row("family-page")
    return rows


if __name__ == "__main__":
    main()
