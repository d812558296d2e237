"""Worker processes for work split in parts (ledger verify, breach scope): two cores, two processes.

Forked from a clean forkserver that has the workers' modules loaded: quick to start, and no copy
of the caller's open database connections (SQLite must not be used across fork). Spawned where
there is no fork.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import BaseContext

PRELOAD = ["schoolpass.disclosure.ledger", "schoolpass.disclosure.breach"]


def worker_context() -> BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return context
    return multiprocessing.get_context("spawn")
