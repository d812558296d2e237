"""Reading a large input file in a second process, so parsing overlaps with loading.

`Batches(producer, *args)` runs `producer(*args)` — a module-level generator function
that yields batches and returns a final value (its problems, say) — in a worker
process, or in this process for small inputs. Either way the caller iterates the
batches, then reads `.result`. A worker never writes the database: it reads its file
(and, for a lab file's parts, the database read only and a scratch file: results.parts).
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queues
from collections.abc import Callable, Generator, Iterator
from multiprocessing.context import BaseContext
from typing import Any

from schoolpass.errors import SchoolpassError
from schoolpass.spawning import main_script_left_behind

# Below this many bytes of input, a second process costs more than it saves.
MIN_BYTES = 32 * 1024 * 1024

Producer = Callable[..., Generator[Any, None, Any]]


# How often a worker whose batches are not being taken checks that the process it reads for is still there.
PARENT_CHECK_SECONDS = 1.0


def _put(channel: multiprocessing.Queue, item: tuple) -> None:
    """Hand an item over, waiting while the parent takes earlier ones. When the parent has ended (killed,
    say), nobody will take them: the worker ends at once (an ordinary exit would wait to send them)."""
    parent = multiprocessing.parent_process()
    while True:
        try:
            channel.put(item, timeout=PARENT_CHECK_SECONDS)
            return
        except queues.Full:
            if parent is not None and not parent.is_alive():
                os._exit(1)


def _work(producer: Producer, args: tuple, channel: multiprocessing.Queue) -> None:
    try:
        batches = producer(*args)
        while True:
            try:
                batch = next(batches)
            except StopIteration as finished:
                _put(channel, ("done", finished.value))
                return
            _put(channel, ("batch", batch))
    except BaseException as failure:  # noqa: BLE001 - the parent raises; no personal data crosses
        _put(channel, ("failed", type(failure).__name__))


def reader_context() -> BaseContext:
    """How a reader's process is made: forked where the system can (Linux), spawned elsewhere.

    A forked reader starts in a few milliseconds with its modules already loaded (a spawned one
    takes ~0.07 s to start Python and import them: a tenth of a day's lab file import). It takes
    nothing of the parent's but the file it reads: it never uses the parent's database connection
    (SQLite must not be used across fork) and ends with os._exit, closing nothing of it.
    """
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


class Batches:
    def __init__(self, producer: Producer, *args: Any, in_background: bool):
        self.producer = producer
        self.args = args
        self.result: Any = None
        self.process = None
        if in_background:
            context = reader_context()
            self.forked = context.get_start_method() == "fork"
            self.channel = context.Queue(maxsize=8)
            self.process = context.Process(target=_work, args=(producer, args, self.channel), daemon=True)

    def start(self) -> Batches:
        """Start the worker now (so it reads while the caller does other work)."""
        if self.process is not None:
            if self.forked:  # a forked worker runs nothing of the main script
                self.process.start()
            else:
                with main_script_left_behind():
                    self.process.start()
        return self

    def __iter__(self) -> Iterator[Any]:
        if self.process is None:
            self.result = yield from self.producer(*self.args)
            return
        try:
            while True:
                try:
                    kind, payload = self.channel.get(timeout=1.0)
                except queues.Empty:
                    if not self.process.is_alive():
                        raise SchoolpassError("the background reader stopped unexpectedly") from None
                    continue
                if kind == "batch":
                    yield payload
                elif kind == "done":
                    self.result = payload
                    return
                else:
                    raise SchoolpassError(f"reading the file failed ({payload})")
        finally:
            self.close()

    def close(self) -> None:
        if self.process is not None and self.process.pid is not None:
            if self.process.is_alive():
                self.process.terminate()
            self.process.join()
