"""Roster import at district scale: time and peak memory per step, and a floor to compare with.

    python bench/roster_import.py --students 500000 [--postgres URL] [--seed 1]

Steps (each in its own process, so peak memory is the step's own):
  synth            schoolpass synth (reused when already written for the same size and seed)
  floor            csv.reader over users.csv + one bare executemany/COPY into a plain table
  import           first import of the whole district into an empty database
  reimport         the same export again the same day (nothing to do)
  daily            next day's snapshot with ~1% of emails changed and ~0.5% of links dropped
  contacts         `roster contacts` for one student (mean of 200 lookups)
  everyone         who may receive notices about every subject on one day (the daily job's query)

Prints one table and writes bench/results/roster-<backend>-<students>.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
RESULTS = HERE / "results"
AS_OF = date(2021, 8, 16)
ON = date(2021, 11, 22)


def step_synth(students: int, seed: int) -> dict:
    from schoolpass.synth.district import write_district

    out = WORK / f"district-{students}-{seed}"
    if not (out / "roster" / "manifest.csv").exists():
        shutil.rmtree(out / "roster", ignore_errors=True)
        write_district(out, students, seed=seed)
    return {"users_rows": sum(1 for _ in open(out / "roster" / "users.csv", encoding="utf-8")) - 1}


def _daily_snapshot(students: int, seed: int) -> Path:
    """The next day's export: a few emails changed, a few links dropped, the rest identical."""
    source = WORK / f"district-{students}-{seed}" / "roster"
    target = WORK / f"district-{students}-{seed}" / "roster-next-day"
    if (target / "manifest.csv").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    rng = random.Random(seed)
    with open(source / "users.csv", encoding="utf-8", newline="") as f, \
            open(target / "users.csv", "w", encoding="utf-8", newline="") as g:
        reader, writer = csv.reader(f), csv.writer(g)
        header = next(reader)
        writer.writerow(header)
        email, agents = header.index("email"), header.index("agentSourcedIds")
        for row in reader:
            draw = rng.random()
            if draw < 0.01 and row[email]:
                row[email] = "new." + row[email]
            elif draw < 0.015 and "," in row[agents]:
                row[agents] = row[agents].split(",")[0]
            writer.writerow(row)
    return target


def step_floor(students: int, seed: int, url: str) -> dict:
    """Plain stdlib parse of every file the import reads (orgs, users, demographics) + one bare bulk insert
    of each file's rows into a plain table (executemany on SQLite, COPY on PostgreSQL)."""
    from sqlalchemy import text

    from schoolpass.storage.bulk import insert_rows
    from schoolpass.storage.engine import make_engine

    engine = make_engine(url)
    roster = WORK / f"district-{students}-{seed}" / "roster"
    counts = {}
    with engine.begin() as conn:
        for name in ("orgs", "users", "demographics"):
            path = roster / f"{name}.csv"
            if not path.exists():
                continue
            with open(path, encoding="utf-8", newline="") as f:
                reader = csv.reader(f)
                width = len(next(reader))
                columns = [f"c{i}" for i in range(width)]
                conn.execute(text(f"DROP TABLE IF EXISTS floor_{name}"))
                conn.execute(text(f"CREATE TABLE floor_{name} ({', '.join(c + ' TEXT' for c in columns)})"))
                counts[f"{name}_rows"] = insert_rows(conn, f"floor_{name}", columns,
                                                     (tuple(r[:width]) for r in reader))
            conn.execute(text(f"DROP TABLE floor_{name}"))
    return counts


def step_import(students: int, seed: int, url: str, which: str) -> dict:
    from schoolpass.roster.importer import import_roster
    from schoolpass.storage.engine import make_engine

    engine = make_engine(url)
    base = WORK / f"district-{students}-{seed}"
    if which == "daily":
        summary = import_roster(engine, _daily_snapshot(students, seed), date(2021, 8, 17))
    else:
        summary = import_roster(engine, base / "roster", AS_OF)
    return summary.as_dict()["changes"] | {"already_imported": summary.already_imported}


def step_contacts(url: str) -> dict:
    from sqlalchemy import text

    from schoolpass.roster.authorization import authorized_recipients
    from schoolpass.storage.engine import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(text(
            "SELECT sourced_id FROM person_versions WHERE kind = 'student' AND rec_to IS NULL "
            "ORDER BY sourced_id LIMIT 200"))]
        started = time.perf_counter()
        found = sum(len(list(authorized_recipients(conn, ON, [sid]))) for sid in ids)
        elapsed = time.perf_counter() - started
    return {"lookups": len(ids), "recipients": found, "ms_per_lookup": round(1000 * elapsed / len(ids), 2)}


def step_everyone(url: str) -> dict:
    from schoolpass.roster.authorization import authorized_recipients
    from schoolpass.storage.engine import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        pairs = sum(1 for _ in authorized_recipients(conn, ON))
    return {"subject_recipient_pairs": pairs}


def upgraded(db: Path) -> None:
    """An SQLite database of bench/work/ (new or kept between runs) brought to the current schema, so the
    measured steps run on what a district has after `schoolpass init`; closed, so copies of it are whole."""
    from schoolpass.storage.engine import make_engine
    from schoolpass.storage.migrate import upgrade

    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    engine.dispose()


def warm(*paths: Path) -> float:
    """Read files once, start to end, so the step after finds them in the page cache; returns the seconds.

    An ordinary machine keeps a database it works on in its page cache. This machine kind pages out any
    memory untouched for about a minute (DAMON `pageout`), and its disk reads ~40 MB/s: a step would
    otherwise time random reads from disk (breach-scope: 129 s instead of 8; everyone: 73 s instead of 8).
    """
    started = time.perf_counter()
    for path in paths:
        for suffix in ("", "-wal"):
            try:
                with open(f"{path}{suffix}", "rb", buffering=0) as f:
                    os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
                    while f.read(8 << 20):
                        pass
            except FileNotFoundError:
                continue
    return time.perf_counter() - started


def run_step(name: str, command: list[str], warmed: tuple[Path, ...] = ()) -> dict:
    """Run one step's command in a child process; returns its wall time, peak RSS and details (its JSON).

    The step runs under bench/measure.py, a small process of its own, so its peak RSS is not this
    process's (Linux passes a parent's peak to its children through fork and exec). Dirty pages are
    flushed first, so no step pays for the writeback of the copies made before it, and the databases in
    `warmed` are read once, untimed (see `warm`).
    """
    os.sync()  # the writes of the steps before (copies of GB-sized databases) are not this step's to flush
    warm_s = warm(*warmed)
    child = subprocess.run([sys.executable, "-I", "-S", str(HERE / "measure.py"), *command], stdout=subprocess.PIPE,
                           text=True)
    output, _, measured = child.stdout.rstrip("\n").rpartition("\n")
    measure = json.loads(measured)
    if child.returncode != 0 or measure["exit"] != 0:
        raise SystemExit(f"step {name} failed")
    return {"step": name, "seconds": round(measure["seconds"], 2), "peak_mb": round(measure["peak_kb"] / 1024),
            "details": json.loads(output)} | ({"warm_s": round(warm_s, 1)} if warmed else {})


def machine() -> dict:
    with open("/proc/meminfo") as f:
        memory_kb = int(f.readline().split()[1])
    model = ""
    if Path("/proc/cpuinfo").exists():
        model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                      if line.startswith("model name")), "")
    return {"cpus": os.cpu_count(), "cpu": model, "memory_gb": round(memory_kb / 1024 / 1024, 1),
            "python": platform.python_version(), "platform": platform.platform()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=500_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", help="a PostgreSQL URL to a scratch database (emptied first)")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.step:
        steps = {
            "synth": lambda: step_synth(args.students, args.seed),
            "floor": lambda: step_floor(args.students, args.seed, args.url),
            "import": lambda: step_import(args.students, args.seed, args.url, "first"),
            "reimport": lambda: step_import(args.students, args.seed, args.url, "first"),
            "daily": lambda: step_import(args.students, args.seed, args.url, "daily"),
            "contacts": lambda: step_contacts(args.url),
            "everyone": lambda: step_everyone(args.url),
        }
        details = steps[args.step]()
        # Processes the step started itself (the background users.csv reader): their own peak.
        import resource

        children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if children_kb:
            details["worker_peak_mb"] = round(children_kb / 1024)
        print(json.dumps(details))
        return

    from schoolpass.storage.engine import make_engine
    from schoolpass.storage.migrate import upgrade

    WORK.mkdir(exist_ok=True)
    if args.postgres:
        url, backend = args.postgres, "postgresql"
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    else:
        path = WORK / f"roster-{args.students}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url, backend = f"sqlite:///{path}", "sqlite"
        engine = make_engine(url)
    upgrade(engine)
    engine.dispose()

    results = []
    for name in ("synth", "floor", "import", "reimport", "daily", "contacts", "everyone"):
        command = [sys.executable, __file__, "--step", name, "--students", str(args.students), "--seed",
                   str(args.seed), "--url", url]
        results.append(run_step(name, command))
        print(f"  {name:<9} {results[-1]['seconds']:>8.2f} s {results[-1]['peak_mb']:>6} MB", file=sys.stderr)

    floor = next(r for r in results if r["step"] == "floor")["seconds"]
    print(f"\nRoster import, {args.students:,} students, {backend} ({machine()['cpus']} cores)\n")
    print(f"{'step':<10} {'seconds':>9} {'peak MB':>8}  details")
    for r in results:
        extra = json.dumps(r["details"], separators=(",", ":"))
        if r["step"] == "import":
            extra = f"{r['seconds'] / floor:.1f}x floor; " + extra
        print(f"{r['step']:<10} {r['seconds']:>9.2f} {r['peak_mb']:>8}  {extra}")
    RESULTS.mkdir(exist_ok=True)
    report = RESULTS / f"roster-{backend}-{args.students}.json"
    report.write_text(json.dumps({"students": args.students, "seed": args.seed, "backend": backend,
                                  "machine": machine(), "steps": results}, indent=2) + "\n")
    print(f"\nwrote {report.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
