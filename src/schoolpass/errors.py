"""Errors a user can act on. Their text names files, lines and ids, never personal values."""

from __future__ import annotations

from dataclasses import dataclass


class SchoolpassError(Exception):
    """A failure with a message meant for the person running the command."""


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in an input file, shown as `file:line: what`."""

    file: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.what}"


class InputRejected(SchoolpassError):
    """An input was refused as a whole; nothing was written."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class NotFound(SchoolpassError):
    pass
