"""Reading in a worker process: the batches and the result, as when reading in this process; and a worker
that does not outlive the process it reads for."""

from __future__ import annotations

import os
import sys

import pytest

from schoolpass import background
from tests.test_spawning import count_to


def test_a_worker_gives_the_batches_and_the_result():
    batches = background.Batches(count_to, 3, in_background=True).start()
    assert list(batches) == [[0], [1], [2]]
    assert batches.result == "counted 3"


def test_in_this_process_the_same_batches_and_result():
    batches = background.Batches(count_to, 3, in_background=False).start()
    assert list(batches) == [[0], [1], [2]]
    assert batches.result == "counted 3"


def endless():
    """A producer that never ends (a worker left alone would read on forever)."""
    while True:
        yield [0] * 1000


def _running(pid: int) -> bool:
    """Whether the process runs (an exited one that nobody has reaped yet does not)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in status)
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads process states from /proc (Linux)")
def test_a_worker_leaves_when_the_process_it_reads_for_is_killed():
    """A `results import` or `roster import` killed outright must not leave its readers behind for good."""
    import signal
    import subprocess
    import time
    from pathlib import Path

    program = (
        "import os, signal\n"
        "from schoolpass import background\n"
        "from tests.test_background import endless\n"
        "if __name__ == '__main__':\n"
        "    batches = iter(background.Batches(endless, in_background=True).start())\n"
        "    next(batches)\n"
        "    print(os.getpid(), flush=True)\n"
        "    import multiprocessing\n"
        "    print(*(child.pid for child in multiprocessing.active_children()), flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    root = Path(__file__).resolve().parent.parent
    run = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=root, timeout=60)
    assert run.returncode == -signal.SIGKILL, run.stderr
    workers = [int(pid) for pid in run.stdout.split()[1:]]
    assert workers
    deadline = time.monotonic() + 15
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in workers if _running(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left
