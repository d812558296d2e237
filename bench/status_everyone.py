"""Everyone's status on one day at district scale (SQLite), with all the synthetic weeks of results loaded.

    python bench/status_everyone.py [--students 500000] [--on 2021-11-22]

Uses the roster database and synthetic results bench/roster_import.py and
bench/results_import.py leave in bench/work/ (builds what is missing). Steps, each in
its own process:

  load       import every day's result files (CSV, HL7, FHIR) into a copy of the roster
  everyone   the status of every active student and staff member on the day
  report     the day's report: counts by school and status, changes since the day before

Prints one table and writes bench/results/status-sqlite-<students>.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from results_import import district, prepare  # noqa: E402
from roster_import import RESULTS, WORK, machine, run_step  # noqa: E402



def loaded(students: int) -> Path:
    """The roster copy with every synthetic result file imported."""
    return WORK / f"status-{students}.db"


def _url(students: int, url: str | None) -> str:
    """The given database URL (PostgreSQL), else the SQLite copy with every result loaded."""
    return url or f"sqlite:///{loaded(students)}"


def step_load(students: int, url: str | None = None) -> dict:
    from zoneinfo import ZoneInfo

    from schoolpass.results.importer import import_results
    from schoolpass.storage.engine import make_engine

    engine = make_engine(_url(students, url))
    totals = {"files": 0, "results": 0, "new": 0, "seconds_largest_file": 0.0, "largest_file_results": 0}
    for path in sorted((district(students) / "results").iterdir()):
        started = time.perf_counter()
        summary = import_results(engine, path, "auto", ZoneInfo("America/Los_Angeles"))
        seconds = time.perf_counter() - started
        totals["files"] += 1
        totals["results"] += summary.results
        totals["new"] += summary.new
        if summary.results > totals["largest_file_results"]:
            totals["largest_file_results"], totals["seconds_largest_file"] = summary.results, round(seconds, 2)
    return totals


def step_everyone(students: int, on: date, url: str | None = None) -> dict:
    from collections import Counter

    from schoolpass.policy.model import default_policy
    from schoolpass.policy.statuses import everyone
    from schoolpass.storage.engine import make_engine

    with make_engine(_url(students, url)).connect() as conn:
        counts = Counter(s.status for s in everyone(conn, on, default_policy()))
    return dict(counts)


def step_report(students: int, on: date, url: str | None = None) -> dict:
    from schoolpass.policy.model import default_policy
    from schoolpass.policy.statuses import day_report
    from schoolpass.storage.engine import make_engine

    with make_engine(_url(students, url)).connect() as conn:
        report = day_report(conn, on, default_policy())
    return {"schools": len(report.by_school), "changed_since_yesterday": len(report.changed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=500_000)
    parser.add_argument("--on", default="2021-11-22")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)  # a step against this database instead (PostgreSQL)
    args = parser.parse_args()
    on = date.fromisoformat(args.on)
    if args.step:
        details = {"load": lambda: step_load(args.students, args.url),
                   "everyone": lambda: step_everyone(args.students, on, args.url),
                   "report": lambda: step_report(args.students, on, args.url)}[args.step]()
        print(json.dumps(details))
        return

    roster_db, _, _ = prepare(args.students, 1, 1)
    target = loaded(args.students)
    if not target.exists():
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.copy(roster_db, target)
        steps = ["load", "everyone", "report"]
    else:
        steps = ["everyone", "report"]  # results already loaded by an earlier run
    results = []
    for name in steps:
        command = [sys.executable, __file__, "--step", name, "--students", str(args.students), "--on", args.on]
        results.append(run_step(name, command))
        print(f"  {name:<9} {results[-1]['seconds']:>8.2f} s {results[-1]['peak_mb']:>6} MB", file=sys.stderr)
    print(f"\nStatus of everyone on {on}, {args.students:,}-student district, sqlite ({machine()['cpus']} cores)\n")
    print(f"{'step':<9} {'seconds':>9} {'peak MB':>8}  details")
    for r in results:
        print(f"{r['step']:<9} {r['seconds']:>9.2f} {r['peak_mb']:>8}  {json.dumps(r['details'], separators=(',', ':'))}")
    RESULTS.mkdir(exist_ok=True)
    report = RESULTS / f"status-sqlite-{args.students}.json"
    report.write_text(json.dumps({"students": args.students, "on": args.on, "machine": machine(), "steps": results},
                                 indent=2) + "\n")
    print(f"\nwrote {report.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
