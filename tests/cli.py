"""Running the `schoolpass` command in-process, as a user would from a shell."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from schoolpass.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str


def run(capsys: pytest.CaptureFixture, *args: str) -> Result:
    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)
