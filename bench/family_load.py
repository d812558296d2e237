"""The family page on its own: service time in-process, and the open-loop load of bench/district.py.

    python bench/family_load.py --db bench/work/notices-20000.db service [--requests 2000] [--profile]
    python bench/family_load.py --db bench/work/notices-20000.db load [--rate 200] [--seconds 15] [--workers 2]
                                 [--serve-option=--keep-alive=75 ...]

`service` signs a family in (bench/district.py's `step_session`), then sends GET /family/home straight
to the ASGI app in this process (no sockets, no HTTP client) and reports per-request wall and CPU
time (CPU: the whole process, the threadpool included), for the first request (nothing cached) and
the steady state. `--cold` also times each request after clearing the family page's cache.
`load` is bench/district.py's family-page step against the given database, plus the server's CPU time
(all its processes, interpreter start and warm-up included) per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import district  # noqa: E402


def _scope(cookie: str) -> dict:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": "/family/home", "raw_path": b"/family/home", "query_string": b"", "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), (b"cookie", f"sp_family={cookie}".encode()),
                        (b"accept", b"text/html")],
            "client": ("127.0.0.1", 5555), "server": ("127.0.0.1", 8000)}


async def _call(app, scope: dict) -> tuple[int, bytes]:
    status, body = 0, []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(body)


def service(db: Path, requests: int, cold: bool, profile: bool) -> dict:
    from schoolpass.settings import load_settings
    from schoolpass.web.app import create_app

    session = district.step_session(db)
    app = create_app(load_settings(database_url=f"sqlite:///{db}"))
    scope = _scope(session["cookie"])
    clear = None
    if cold:
        from schoolpass.web import family

        clear = lambda: setattr(app.state, "families", None)  # noqa: E731 - family.py makes a new one

    async def run() -> dict:
        walls, cpus = [], []
        first = None
        for i in range(requests):
            if clear is not None:
                clear()
            w, c = time.perf_counter(), time.process_time()
            status, body = await _call(app, scope)
            walls.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
            if status != 200:
                raise SystemExit(f"/family/home answered {status}")
            if first is None:
                first = round(1000 * walls[0], 2)
        steady = walls[len(walls) // 10:]
        return {"requests": requests, "children": session["children"], "first_ms": first,
                "wall_mean_ms": round(1000 * statistics.fmean(steady), 3),
                "wall_p50_ms": round(1000 * statistics.median(steady), 3),
                "wall_p99_ms": round(1000 * sorted(steady)[int(0.99 * len(steady))], 3),
                "cpu_mean_ms": round(1000 * statistics.fmean(cpus[len(cpus) // 10:]), 3),
                "cpu_p50_ms": round(1000 * statistics.median(cpus[len(cpus) // 10:]), 3),
                "body_bytes": len(body)}

    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        out = asyncio.run(run())
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
        return out
    return asyncio.run(run())


def load(db: Path, rate: float, seconds: float, workers: int, extra: list[str]) -> dict:
    """bench/district.py's family-page step, plus the server's CPU seconds per request (warm-up included)."""
    import os
    import subprocess

    session = district.step_session(db)
    port = district.notices._free_port()
    server = subprocess.Popen([district._schoolpass(), "--db", f"sqlite:///{db}", "serve", "--port", str(port),
                               "--workers", str(workers), *extra])
    try:
        district.wait_healthy(port)
        warm = [district._get(port, "/family/home", session["cookie"]) for _ in range(20)]
        if set(warm) != {200}:
            raise SystemExit(f"/family/home answered {warm} before the load")
        os.environ[district.COOKIE_ENV] = session["cookie"]
        step = district.run_step("family-page", [sys.executable, district.__file__, "--step", "load", "--port",
                                                 str(port), "--rate", str(rate), "--load-seconds", str(seconds)])
    finally:
        os.environ.pop(district.COOKIE_ENV, None)
        usage = district._stop(server)
    cpu = usage.ru_utime + usage.ru_stime
    return {**step["details"], "children": session["children"], "server_cpu_s": round(cpu, 2),
            "server_cpu_ms_per_request": round(1000 * cpu / (step["details"]["requests"] + 20), 3),
            "load_average": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True, help="a SQLite file (a planned day's database)")
    parser.add_argument("what", choices=("service", "load"))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--cold", action="store_true", help="clear the family page's cache before each request")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--serve-option", action="append", default=[], help="extra `schoolpass serve` options")
    args = parser.parse_args()
    if args.what == "service":
        print(json.dumps(service(args.db, args.requests, args.cold, args.profile)))
    else:
        print(json.dumps(load(args.db, args.rate, args.seconds, args.workers, args.serve_option)))


if __name__ == "__main__":
    main()
