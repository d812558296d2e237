"""Starting spawned worker processes without the parent's main script.

A spawned worker first re-runs the parent's main script (to find what it defined there), and only
then imports what it runs. schoolpass's workers run module-level functions of this package, so they
need none of the main script: for `schoolpass ...` that is the whole command line interface, 0.5 s
of imports in each worker before it does anything. Kept free of SQLAlchemy: file readers' workers
import it.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def main_script_left_behind() -> Iterator[None]:
    """While workers are started in this block: the main module out of sight, so they do not run it."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main
