"""CSV records as `csv.reader` reads them, a quote-free line split directly (nearly twice as fast).

A lab's CSV has sixty columns, few of them ever quoted: most lines hold no quote at all, and for
such a line the standard reader (default dialect) gives exactly `line.split(",")`, less its line
end. A line with a quote (a record that may span lines, or a quoted comma), or a very long one
(the reader's field size limit applies), goes to a `csv.reader`, which reads that one record
and reports its errors as always. `line_num` counts the lines read, as the reader's does.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

# Longer lines go to csv.reader, which refuses a field over its limit (131,072 characters).
_LONGEST_SPLIT = 65536


class Records:
    """Iterate the records of `lines` (a text file opened with newline="", or its lines)."""

    def __init__(self, lines: Iterable[str]):
        self._lines = iter(lines)
        self._pending: str | None = None  # a line taken back for the reader
        self._reader = csv.reader(self._feed())
        self._reader_lines = 0  # the reader's line_num when its last record ended
        self.line_num = 0

    def _feed(self) -> Iterator[str]:
        while True:
            if self._pending is not None:
                line, self._pending = self._pending, None
                yield line
            else:
                line = next(self._lines, None)
                if line is None:
                    return
                yield line

    def __iter__(self) -> Records:
        return self

    def __next__(self) -> list[str]:
        line = next(self._lines)  # StopIteration ends the records
        if '"' not in line and len(line) < _LONGEST_SPLIT:
            self.line_num += 1
            if line[-1:] == "\n":
                line = line[:-2] if line[-2:-1] == "\r" else line[:-1]
            elif line[-1:] == "\r":
                line = line[:-1]
            return line.split(",") if line else []
        self._pending = line
        record = next(self._reader)
        self.line_num += self._reader.line_num - self._reader_lines
        self._reader_lines = self._reader.line_num
        return record
