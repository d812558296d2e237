"""Spawned workers start without the parent's main script (for `schoolpass` the whole CLI)."""

from __future__ import annotations

import multiprocessing
import os
import sys
import types
from concurrent.futures import ProcessPoolExecutor

import pytest

from schoolpass import background
from schoolpass.spawning import main_script_left_behind


def count_to(n: int):
    """A producer, as the readers are: a module-level generator function that returns a result."""
    for i in range(n):
        yield [i]
    return f"counted {n}"


def process_id() -> int:
    return os.getpid()


@pytest.fixture
def main_script(tmp_path, monkeypatch):
    """A main script that leaves a file behind whenever it runs; the path of that file."""
    ran = tmp_path / "ran"
    script = tmp_path / "main_script.py"
    script.write_text(f"open({str(ran)!r}, 'w').close()\n", encoding="utf-8")
    main = types.ModuleType("__main__")
    main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", main)
    return ran


def test_a_reader_worker_does_not_run_the_main_script(main_script):
    main = sys.modules["__main__"]
    batches = background.Batches(count_to, 2, in_background=True).start()
    assert list(batches) == [[0], [1]]
    assert batches.result == "counted 2"
    assert sys.modules["__main__"] is main  # put back after the start
    assert not main_script.exists()


def test_pool_workers_started_in_the_block_do_not_run_the_main_script(main_script):
    main = sys.modules["__main__"]
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        with main_script_left_behind():
            futures = [pool.submit(process_id) for _ in range(2)]
        assert sys.modules["__main__"] is main
        assert all(future.result() != os.getpid() for future in futures)
    assert not main_script.exists()


def test_without_the_block_a_spawned_worker_runs_the_main_script(main_script):
    """What the block is for (and that the fixture's script does run when nothing hides it)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        pool.submit(process_id).result()
    assert main_script.exists()

