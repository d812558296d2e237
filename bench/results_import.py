"""Lab results import at district scale, against its floor, time and peak memory per step.

    python bench/results_import.py [--students 500000] [--csv-rows 1000000] [--hl7-messages 200000]

Uses the roster database and district that bench/roster_import.py leaves in bench/work/
(builds them when missing), writes four weeks of synthetic screening results, and cuts
from them one SimpleReport CSV and one HL7 file of the asked sizes. Each step runs in
its own process on a fresh copy of the roster database:

  floor-csv   csv.reader over the file + one bare executemany of the rows' read columns
  import-csv  schoolpass results import of the same file (parse, match, store)
  floor-hl7   splitting the HL7 file on segment and field separators + one bare executemany
              (the floors' times are their parse + insert; making the rows they insert is untimed)
  import-hl7  schoolpass results import of the same file

Prints one table and writes bench/results/results-sqlite-<students>.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from roster_import import RESULTS, WORK, machine, run_step, upgraded  # noqa: E402

CSV_READ = ["patient_id", "patient_last_name", "patient_first_name", "patient_dob", "accession_number",
            "test_performed_code", "test_result", "specimen_collection_date", "test_result_date", "testing_lab_clia",
            "test_result_status"]


def district(students: int) -> Path:
    return WORK / f"district-{students}-1"


def prepare(students: int, csv_rows: int, hl7_messages: int) -> tuple[Path, Path, Path]:
    """The roster database, and the CSV and HL7 files cut from synthetic weeks of results."""
    roster_db = WORK / f"roster-{students}.db"
    if not roster_db.exists():
        subprocess.run([sys.executable, str(HERE / "roster_import.py"), "--students", str(students)], check=True)
    upgraded(roster_db)  # a roster built before newer migrations
    results = district(students) / "results"
    if not results.exists():
        from schoolpass.synth.district import write_screening

        write_screening(district(students), weeks=4, seed=1)
    csv_path = WORK / f"simplereport-{csv_rows}.csv"
    if not csv_path.exists():
        written = 0
        with open(csv_path, "w", encoding="utf-8", newline="") as out:
            for day in sorted(results.glob("*.csv")):
                with open(day, encoding="utf-8", newline="") as f:
                    header = f.readline()
                    if written == 0:
                        out.write(header)
                    for line in f:
                        if written == csv_rows:
                            break
                        out.write(line)
                        written += 1
        if written < csv_rows:
            raise SystemExit(f"only {written} CSV rows in the synthetic results; ask for fewer")
    hl7_path = WORK / f"elr-{hl7_messages}.hl7"
    if not hl7_path.exists():
        written = 0
        with open(hl7_path, "w", encoding="utf-8", newline="") as out:
            for day in sorted(results.glob("*.hl7")):
                for message in day.read_text(encoding="utf-8").split("MSH|")[1:]:
                    if written == hl7_messages:
                        break
                    out.write("MSH|" + message.rstrip("\r\n") + "\r\n")
                    written += 1
        if written < hl7_messages:
            raise SystemExit(f"only {written} HL7 messages in the synthetic results; ask for fewer")
    return roster_db, csv_path, hl7_path


def _is_url(target: str) -> bool:
    """A database URL (PostgreSQL), rather than the path of an SQLite file."""
    return "://" in str(target)


def _normalized_rows(path: Path, dialect: str = "sqlite") -> list[tuple]:
    """The file's results as schoolpass normalizes them (made untimed: the floor inserts these)."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from schoolpass.results.codes import PROGRAM_TEST_CODES
    from schoolpass.results.formats import detect_format
    from schoolpass.results.staging import staged_batches

    batches = staged_batches(detect_format(path), path, ZoneInfo("America/Los_Angeles"), datetime.now(UTC),
                             dialect, PROGRAM_TEST_CODES)
    return [row for rows, _ids in batches for row in rows]


def _bare_insert(db: Path | str, rows: list[tuple]) -> float:
    """One bare executemany (SQLite) or COPY (PostgreSQL) of the rows into a table with no index; returns seconds."""
    if _is_url(db):
        return _bare_copy(str(db), rows)
    started = time.perf_counter()
    conn = sqlite3.connect(db)
    width = len(rows[0])
    conn.execute(f"CREATE TABLE floor ({', '.join(f'c{i}' for i in range(width))})")
    conn.executemany(f"INSERT INTO floor VALUES ({', '.join('?' for _ in range(width))})", rows)
    conn.commit()
    return time.perf_counter() - started


def _bare_copy(url: str, rows: list[tuple]) -> float:
    """One COPY of the rows into a fresh table with no index, committed; returns seconds (the table is dropped after)."""
    import psycopg

    from schoolpass.storage.engine import normalize_url

    dsn = normalize_url(url).replace("postgresql+psycopg://", "postgresql://", 1)
    width = len(rows[0])
    with psycopg.connect(dsn) as conn:
        conn.execute("DROP TABLE IF EXISTS floor")
        conn.commit()
        started = time.perf_counter()
        conn.execute(f"CREATE TABLE floor ({', '.join(f'c{i} text' for i in range(width))})")
        with conn.cursor().copy(f"COPY floor ({', '.join(f'c{i}' for i in range(width))}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE floor")
        conn.commit()
    return seconds


def floor_csv(path: Path, db: Path | str) -> dict:
    """The plainest parse (csv.reader) of the file + one bare executemany (COPY) of its normalized rows."""
    normalized = _normalized_rows(path, "postgresql" if _is_url(db) else "sqlite")
    started = time.perf_counter()
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        index = {name: i for i, name in enumerate(next(reader))}
        picks = [index[c] for c in CSV_READ]
        count = sum(1 for row in reader if [row[i] for i in picks])
    parse = time.perf_counter() - started
    insert = _bare_insert(db, normalized)
    return {"rows": count, "parse_s": round(parse, 2), "insert_s": round(insert, 2),
            "floor_s": round(parse + insert, 2)}


def floor_hl7(path: Path, db: Path | str) -> dict:
    """Splitting on segment and field separators + one bare executemany (COPY) of the normalized rows."""
    normalized = _normalized_rows(path, "postgresql" if _is_url(db) else "sqlite")
    started = time.perf_counter()
    messages = 0
    text = path.read_text(encoding="utf-8")
    for segment in text.replace("\r\n", "\r").replace("\n", "\r").split("\r"):
        fields = segment.split("|")
        if fields[0] == "MSH":
            messages += 1
        elif fields[0] in ("PID", "OBR", "OBX", "SPM"):
            [field.split("^") for field in fields]
    parse = time.perf_counter() - started
    insert = _bare_insert(db, normalized)
    return {"messages": messages, "parse_s": round(parse, 2), "insert_s": round(insert, 2),
            "floor_s": round(parse + insert, 2)}


def import_file(path: Path, db: Path | str) -> dict:
    from zoneinfo import ZoneInfo

    from schoolpass import collector
    from schoolpass.results.importer import import_results
    from schoolpass.storage.engine import make_engine

    collector.command_loaded()  # as `schoolpass` does once it has loaded a command (cli.main)
    url = str(db) if _is_url(db) else f"sqlite:///{db}"
    summary = import_results(make_engine(url), path, "auto", ZoneInfo("America/Los_Angeles"))
    return {k: v for k, v in summary.as_dict().items() if k not in ("warnings", "import_id")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=500_000)
    parser.add_argument("--csv-rows", type=int, default=1_000_000)
    parser.add_argument("--hl7-messages", type=int, default=200_000)
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)  # an SQLite file's path, or a PostgreSQL URL
    args = parser.parse_args()
    if args.step:
        step = {"floor-csv": floor_csv, "floor-hl7": floor_hl7, "import-csv": import_file,
                "import-hl7": import_file}[args.step]
        details = step(Path(args.file), args.url if _is_url(args.url) else Path(args.url))
        import resource

        children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if children_kb:
            details["worker_peak_mb"] = round(children_kb / 1024)
        print(json.dumps(details))
        return

    roster_db, csv_path, hl7_path = prepare(args.students, args.csv_rows, args.hl7_messages)
    results = []
    for name, path in (("floor-csv", csv_path), ("import-csv", csv_path), ("floor-hl7", hl7_path),
                       ("import-hl7", hl7_path)):
        scratch = WORK / "results-scratch.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{scratch}{suffix}").unlink(missing_ok=True)
        if name.startswith("import"):
            shutil.copy(roster_db, scratch)
        command = [sys.executable, __file__, "--step", name, "--file", str(path), "--url", str(scratch)]
        results.append(run_step(name, command))
        print(f"  {name:<11} {results[-1]['seconds']:>8.2f} s {results[-1]['peak_mb']:>6} MB", file=sys.stderr)
    # A floor is its timed parts (making the normalized rows it inserts is not timed).
    seconds = {r["step"]: r["details"].get("floor_s", r["seconds"]) for r in results}
    print(f"\nResults import, {args.students:,}-student district, sqlite ({machine()['cpus']} cores)\n")
    print(f"{'step':<11} {'seconds':>9} {'peak MB':>8}  details")
    for r in results:
        extra = json.dumps(r["details"], separators=(",", ":"))
        if r["step"].startswith("import"):
            floor = seconds["floor-" + r["step"].split("-")[1]]
            extra = f"{r['seconds'] / floor:.1f}x floor; " + extra
        print(f"{r['step']:<11} {r['seconds']:>9.2f} {r['peak_mb']:>8}  {extra}")
    RESULTS.mkdir(exist_ok=True)
    report = RESULTS / f"results-sqlite-{args.students}.json"
    report.write_text(json.dumps({"students": args.students, "csv_rows": args.csv_rows,
                                  "hl7_messages": args.hl7_messages, "machine": machine(), "steps": results},
                                 indent=2) + "\n")
    print(f"\nwrote {report.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
