"""Errors a user can act on. Their text names files, lines and ids, never personal values."""

from __future__ import annotations

from dataclasses import dataclass


class SchoolpassError(Exception):
    """A failure with a message meant for the person running the command."""


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in an input file: `file:line: what`, or `file: where: what` (e.g. an HL7 message)."""

    file: str
    line: int  # the line, or the message/entry number when `where` says more
    what: str
    where: str = ""

    def __str__(self) -> str:
        if self.where:
            return f"{self.file}: {self.where}: {self.what}"
        return f"{self.file}:{self.line}: {self.what}"


class InputRejected(SchoolpassError):
    """An input was refused as a whole; nothing was written."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class NotFound(SchoolpassError):
    pass
