"""Python's cyclic garbage collector, kept out of the way of bulk work.

A command's loaded modules (SQLAlchemy alone brings some 40,000 objects) live until it ends, yet the
collector walks them all again on every full collection and once more at exit (~0.04 s per command).
Bulk steps make hundreds of thousands of short-lived tuples: reference counting frees them, and the
collector, triggered by the allocations, only walks them in vain (~5% of a lab file's import).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def command_loaded() -> None:
    """Once a command's modules are imported: they stay, so the collector leaves them alone from now on."""
    gc.freeze()


@contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection while the block runs (reference counting still frees what it drops);
    the collector runs as before after it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
