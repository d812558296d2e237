"""Reading a CSV file's rows by column name, with the line each record starts on, as inputs need.

Shared by the roster (OneRoster) and results (SimpleReport) readers: the header is mapped
once, rows come back as the wanted columns' stripped values, and unreadable CSV, a
missing column or text that is not UTF-8 becomes a problem (line, what), not a crash.
"""

from __future__ import annotations

import csv
import operator
from collections.abc import Callable, Iterator
from typing import TextIO

from schoolpass.textfiles import non_utf8_line_of

Report = Callable[[int, str], None]


def read_rows(
    text: TextIO,
    required: list[str],
    optional: list[str],
    report: Report,
    any_of: tuple[tuple[str, ...], ...] = (),
) -> Iterator[tuple[int, list[str]]]:
    """(line, values): the required then the optional columns' values, stripped, in that order.

    An optional column the file lacks reads as empty. `any_of` names groups of columns of
    which at least one must be present. Blank lines are skipped.
    """
    reader = csv.reader(text)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        report(1, f"unreadable CSV ({exc})")
        return
    except UnicodeDecodeError:
        report(non_utf8_line_of(text), "not UTF-8 text")
        return
    if header is None:
        report(1, "the file is empty; a header row is required")
        return
    index = {name.strip(): i for i, name in enumerate(header)}
    missing = [c for c in required if c not in index]
    missing += [f"{group[0]} (or {', '.join(group[1:])})" for group in any_of if not any(c in index for c in group)]
    if missing:
        report(1, "missing column" + ("s " if len(missing) > 1 else " ") + ", ".join(missing))
        return
    width = len(header) + 1  # the last position is always empty: absent optional columns
    pick = operator.itemgetter(*(index.get(c, len(header)) for c in required + optional))
    padding = [""] * width
    strip = str.strip
    start = 2
    try:
        for row in reader:
            line = start
            start = reader.line_num + 1
            if len(row) < width:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                row += padding[len(row):]
            yield line, list(map(strip, pick(row)))
    except csv.Error as exc:
        report(start, f"unreadable CSV ({exc})")
    except UnicodeDecodeError:
        report(non_utf8_line_of(text), "not UTF-8 text")
