"""A synthetic district on disk: what `schoolpass synth` writes."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .roster import RosterStats, write_roster


def write_district(
    out: Path,
    students: int,
    seed: int = 1,
    progress: Callable[[int], None] | None = None,
) -> RosterStats:
    """Write a synthetic district under `out`: the OneRoster CSV export in `out/roster/`.

    `progress(n)` is called with the number of students written since the
    previous call (every few thousand students, and once at the end).
    """
    return write_roster(Path(out) / "roster", students, seed=seed, progress=progress)


def write_screening(out: Path, weeks: int, seed: int = 1, progress: Callable[[int], None] | None = None):
    """Weekly screening results for the district already written under `out`: `out/results/DATE.*`."""
    from .results import write_results

    return write_results(Path(out) / "roster", Path(out) / "results", weeks, seed=seed, progress=progress)
