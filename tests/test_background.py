"""Reading in a worker process: the batches, the result, and a worker that starts light."""

from __future__ import annotations

import sys
import types

from schoolpass import background


def count_to(n: int):
    """A producer, as the readers are: a module-level generator function that returns a result."""
    for i in range(n):
        yield [i]
    return f"counted {n}"


def test_a_worker_gives_the_batches_and_the_result():
    batches = background.Batches(count_to, 3, in_background=True).start()
    assert list(batches) == [[0], [1], [2]]
    assert batches.result == "counted 3"


def test_a_worker_does_not_run_the_main_script_again(tmp_path, monkeypatch):
    """Spawned workers re-run the parent's main script unless it is out of sight; `schoolpass` is the whole
    command line interface (0.5 s of imports in each worker)."""
    ran = tmp_path / "ran"
    script = tmp_path / "main_script.py"
    script.write_text(f"open({str(ran)!r}, 'w').close()\n", encoding="utf-8")
    main = types.ModuleType("__main__")
    main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", main)
    batches = background.Batches(count_to, 2, in_background=True).start()
    assert list(batches) == [[0], [1]]
    assert batches.result == "counted 2"
    assert sys.modules["__main__"] is main  # put back after the start
    assert not ran.exists()
