"""Finding where a text file stops being UTF-8, to say so by line (decoding happens in chunks)."""

from __future__ import annotations

from typing import BinaryIO


def first_non_utf8_line(raw: BinaryIO) -> int:
    """The number of the first line that is not valid UTF-8 (0 if every line is)."""
    raw.seek(0)
    for number, line in enumerate(raw, start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return number
    return 0


def non_utf8_line_of(text) -> int:
    """For a text stream over a seekable binary file: the first line that is not UTF-8 (1 if unknown)."""
    raw = getattr(text, "buffer", None)
    if raw is not None and raw.seekable():
        return first_non_utf8_line(raw) or 1
    return 1
