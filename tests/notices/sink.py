"""A real SMTP server for tests: `running_sink(tmp_path, tempfail_next=2)` yields a started `Sink` on loopback."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from schoolpass.notices.sink import Faults, Sink


@contextmanager
def running_sink(tmp_path: Path, **faults) -> Iterator[Sink]:
    """A sink on 127.0.0.1 (free port) storing into a fresh Maildir under tmp_path; keyword args are `Faults`."""
    maildir = Path(tempfile.mkdtemp(prefix="maildir-", dir=tmp_path))
    with Sink(maildir, faults=Faults(**faults)) as sink:
        yield sink


def free_port() -> int:
    """A loopback port that was free a moment ago (for servers in other processes, which must bind it themselves)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
