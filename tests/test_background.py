"""Reading in a worker process: the batches and the result, as when reading in this process."""

from __future__ import annotations

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
