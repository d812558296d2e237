"""`schoolpass smtp-sink`: a real SMTP server for development and tests that stores each message in a Maildir.

The server is aiosmtpd, running on its own event-loop thread (``aiosmtpd.controller.Controller``). Each message
is stored as the exact bytes the client sent after DATA (dot-unstuffed, line endings as received, normally CRLF),
with one ``X-Envelope-To:`` header line per RCPT prepended, in RCPT order, so a test can compare where a message
was *sent* with what its To header *says*.

Faults can be injected while the server runs (see `Faults`): temporary failures, dropped connections, refused
recipients and a slow server.
"""

from __future__ import annotations

import asyncio
import email.policy
import mailbox
import re
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser, Parser
from pathlib import Path
from typing import Annotated, Any

import typer
from aiosmtpd.controller import Controller

from schoolpass.errors import SchoolpassError

MAX_MESSAGE_BYTES = 1024 * 1024
"""Messages up to 1 MB are accepted (advertised as SIZE); bigger ones get aiosmtpd's 552."""

SERVER_NAME = "schoolpass-smtp-sink"
"""The name in the greeting and EHLO reply (set explicitly: aiosmtpd would otherwise call socket.getfqdn())."""

ENVELOPE_HEADER = b"X-Envelope-To: "

ACCEPTED = "250 Message accepted for delivery"
TEMPFAIL = "451 4.3.0 try again later"
REJECTED = "550 5.1.1 mailbox unavailable"
MALFORMED = "553 5.1.3 Error: malformed address"


@dataclass
class Faults:
    """What the sink should get wrong, changeable while it runs (from any thread).

    - ``tempfail_next``: answer the next N DATA commands with 451 (the message is not stored).
    - ``drop_next``: for the next N DATA commands, store nothing and close the connection without a reply.
    - ``reject_addresses``: RCPT TO any of these (case-insensitive) is answered 550; other recipients are fine.
    - ``delay_seconds``: wait this long after the message data arrives, before storing it and answering.
      A client that gives up (closes the connection) during the wait leaves nothing stored.

    A DATA command consumes at most one fault count, ``drop_next`` first, then ``tempfail_next``; the counts
    are taken when the message data arrives, before the delay. Change fields with `update` (or plain
    assignment of a whole value); don't mutate ``reject_addresses`` in place while the server runs, use
    `reject`/`update`.
    """

    tempfail_next: int = 0
    drop_next: int = 0
    reject_addresses: set[str] = field(default_factory=set)
    delay_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def update(self, **changes: Any) -> None:
        """Change several fields at once, atomically with respect to the server."""
        with self._lock:
            for name, value in changes.items():
                if name.startswith("_") or name not in self.__dataclass_fields__:
                    raise TypeError(f"Faults has no field {name!r}")
                if name == "reject_addresses":
                    value = set(value)
                setattr(self, name, value)

    def reject(self, *addresses: str) -> None:
        """Add addresses to ``reject_addresses``."""
        with self._lock:
            self.reject_addresses = set(self.reject_addresses) | set(addresses)

    def rejects(self, address: str) -> bool:
        with self._lock:
            folded = address.casefold()
            return any(folded == rejected.casefold() for rejected in self.reject_addresses)

    def take_data_fault(self) -> str | None:
        """Consume one count for this DATA command: "drop", "tempfail" or None."""
        with self._lock:
            if self.drop_next > 0:
                self.drop_next -= 1
                return "drop"
            if self.tempfail_next > 0:
                self.tempfail_next -= 1
                return "tempfail"
            return None

    def delay(self) -> float:
        with self._lock:
            return float(self.delay_seconds)


class MaildirHandler:
    """An aiosmtpd handler that stores every accepted message in a Maildir (created if missing)."""

    def __init__(self, path: Path | str, faults: Faults | None = None, *, pipelining: bool = True) -> None:
        self.path = Path(path)
        self.pipelining = pipelining
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.maildir = mailbox.Maildir(self.path, factory=None, create=True)
        for sub in ("tmp", "new", "cur"):  # Maildir(create=True) leaves an existing empty folder as it is
            (self.path / sub).mkdir(mode=0o700, exist_ok=True)
        self.faults = faults if faults is not None else Faults()
        self._lock = threading.Lock()
        self._accepted = 0
        self._attempts = 0

    @property
    def accepted(self) -> int:
        """Messages stored so far."""
        with self._lock:
            return self._accepted

    @property
    def attempts(self) -> int:
        """DATA commands whose data arrived so far (accepted, failed or dropped)."""
        with self._lock:
            return self._attempts

    async def handle_EHLO(self, server, session, envelope, hostname: str, responses: list[str]) -> list[str]:
        """aiosmtpd's answer, plus PIPELINING (RFC 2920): it reads commands one line at a time from its
        buffer, so a client may send MAIL, RCPT and DATA in one write, as relays such as Postfix accept."""
        session.host_name = hostname
        if self.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address: str, rcpt_options: list[str]) -> str:
        if "\r" in address or "\n" in address:
            return MALFORMED  # it would break the X-Envelope-To line
        if self.faults.rejects(address):
            return REJECTED
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        with self._lock:
            self._attempts += 1
        fault = self.faults.take_data_fault()
        delay = self.faults.delay()
        if delay > 0:
            await asyncio.sleep(delay)  # cancelled (nothing stored) if the client hangs up meanwhile
        if fault == "drop":
            await _drop_connection(server)
        if fault == "tempfail":
            return TEMPFAIL
        self.maildir.add(with_envelope(envelope.rcpt_tos, envelope.original_content))
        with self._lock:
            self._accepted += 1
        return ACCEPTED


async def _drop_connection(server) -> None:
    """Close the connection without a reply, then let the connection loss end this session.

    ``transport.abort()`` closes the socket at once, discarding anything buffered; asyncio then calls the
    protocol's ``connection_lost``, which cancels the session task we are running in, so this never returns.
    """
    transport = server.transport
    if transport is not None:
        transport.abort()
    await asyncio.get_running_loop().create_future()  # cancelled by connection_lost
    raise asyncio.CancelledError  # pragma: no cover - not reached


def with_envelope(recipients: Iterable[str], content: bytes) -> bytes:
    """The stored form: one X-Envelope-To line per recipient (in RCPT order), then the bytes received."""
    lines = b"".join(
        ENVELOPE_HEADER + rcpt.encode("utf-8", "surrogateescape") + b"\r\n" for rcpt in recipients
    )
    return lines + content


def split_envelope(stored: bytes) -> tuple[list[str], bytes]:
    """The inverse of `with_envelope`: (envelope recipients, the exact bytes the client sent)."""
    recipients: list[str] = []
    rest = stored
    while rest.startswith(ENVELOPE_HEADER):
        end = rest.find(b"\n")
        if end < 0:
            break
        line = rest[len(ENVELOPE_HEADER):end]
        recipients.append(line.rstrip(b"\r").decode("utf-8", "surrogateescape"))
        rest = rest[end + 1:]
    return recipients, rest


_KEY = re.compile(r"^(\d+)\.M(\d+)P(\d+)Q(\d+)\.")


def _delivery_order(key: str) -> tuple:
    # Maildir keys are "<seconds>.M<microseconds>P<pid>Q<counter>.<host>", numbers not zero-padded.
    match = _KEY.match(key)
    if match is None:
        return (float("inf"), 0, 0, key)
    seconds, micros, _pid, counter = (int(g) for g in match.groups())
    return (seconds, micros, counter, key)


def read_maildir(path: Path | str) -> list[bytes]:
    """Every message in the Maildir as stored (X-Envelope-To lines first), in delivery order."""
    path = Path(path)
    if not (path / "new").is_dir() and not (path / "cur").is_dir():
        return []
    box = mailbox.Maildir(path, factory=None, create=False)  # fresh instance: no stale table of contents
    return [box.get_bytes(key) for key in sorted(box.keys(), key=_delivery_order)]


def parse(stored: bytes) -> EmailMessage:
    """A stored message as an EmailMessage (email.policy.default), for reading in tests and demos.

    Two differences from a bare ``BytesParser(policy=default).parsebytes``, both so that what comes out
    compares equal to what the sender built:

    - line ends are CRLF on the wire and stored so; here they become "\n", as in a local mail store (otherwise
      ``get_content()`` of a text part ends its lines with "\r\n");
    - top-level headers in raw UTF-8 (RFC 6532, which is what smtplib.send_message sends for non-ASCII
      addresses, with SMTPUTF8) are decoded as UTF-8; the bytes parser would leave address headers as
      surrogate escapes, so ``msg["To"].addresses[0].addr_spec`` would not equal the envelope recipient.
    """
    data = stored.replace(b"\r\n", b"\n")
    blank = data.find(b"\n\n")
    head, body = (data, b"") if blank < 0 else (data[:blank + 2], data[blank + 2:])
    try:
        head_text = head.decode("utf-8")
    except UnicodeDecodeError:
        return BytesParser(policy=email.policy.default).parsebytes(data)  # type: ignore[return-value]
    # The body stays as the bytes parser has it (ASCII + surrogate escapes), so payloads decode to the same bytes.
    text = head_text + body.decode("ascii", "surrogateescape")
    return Parser(policy=email.policy.default).parsestr(text)  # type: ignore[return-value]


def summarize(path: Path | str) -> list[tuple[str, str, str]]:
    """(envelope recipients, Content-Language, Subject decoded) per message, sorted.

    A message sent to several recipients in one envelope has them joined with ", " in RCPT order;
    a missing header is "".
    """
    rows = []
    for stored in read_maildir(path):
        message = parse(stored)
        recipients = ", ".join(str(value) for value in message.get_all("X-Envelope-To", []))
        rows.append((recipients, str(message.get("Content-Language", "")), str(message.get("Subject", ""))))
    return sorted(rows)


class _SinkController(Controller):
    """A Controller that serves on a socket bound beforehand, so port 0 ("any free port") has no race."""

    def __init__(self, handler: Any, sock: socket.socket, **kwargs: Any) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, **kwargs)
        self._sock = sock

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named explicitly: asyncio turns Nagle off only on sockets that say they are TCP. With
    # Nagle on, a reply written right after another (a multi-line EHLO, pipelined commands' answers)
    # waits for the client's delayed acknowledgement: ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(100)
        sock.setblocking(False)
    except OSError as failure:
        sock.close()
        raise SchoolpassError(f"smtp-sink cannot listen on {host}:{port}: {failure.strerror or failure}") from failure
    except BaseException:
        sock.close()
        raise
    return sock


class Sink:
    """A running SMTP sink: ``with Sink(tmp_path / "mail") as sink: ... sink.port ... sink.messages()``.

    Listens on 127.0.0.1 unless told otherwise; port 0 (the default) picks a free port. Advertises SIZE
    (1 MB), 8BITMIME, SMTPUTF8 and PIPELINING (unless `pipelining=False`).
    """

    def __init__(self, maildir: Path | str, *, host: str = "127.0.0.1", port: int = 0,
                 faults: Faults | None = None, pipelining: bool = True) -> None:
        self.host = host
        self.maildir = Path(maildir)
        self.faults = faults if faults is not None else Faults()
        self.handler = MaildirHandler(self.maildir, self.faults, pipelining=pipelining)
        self._requested_port = port
        self.port: int = port
        self._controller: _SinkController | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"smtp://{host}:{self.port}"

    def start(self) -> Sink:
        if self._controller is not None:
            raise RuntimeError("the sink is already running")
        sock = _bind(self.host, self._requested_port)
        self.port = sock.getsockname()[1]
        controller = _SinkController(
            self.handler, sock,
            server_hostname=SERVER_NAME,
            decode_data=False,  # keep the exact bytes; also what makes aiosmtpd advertise 8BITMIME
            enable_SMTPUTF8=True,
            data_size_limit=MAX_MESSAGE_BYTES,
        )
        try:
            controller.start()
        except BaseException:
            controller.stop(no_assert=True)
            sock.close()
            raise
        self._controller = controller
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def raw_messages(self) -> list[bytes]:
        """Every stored message (X-Envelope-To lines first), in delivery order."""
        return read_maildir(self.maildir)

    def messages(self) -> list[EmailMessage]:
        """Every stored message, parsed with email.policy.default (see `parse`), in delivery order."""
        return [parse(stored) for stored in self.raw_messages()]


def run_sink(host: str, port: int, maildir: Path, *, ready: Callable[[str], None] | None = None) -> None:
    """Serve until SIGINT or SIGTERM (signal handlers are installed only when called from the main thread)."""
    stop = threading.Event()

    def on_signal(signum, frame) -> None:
        # Event.set() takes a lock the interrupted main thread may hold (inside Event.wait): set it from
        # another thread instead, which just waits for that lock to be released.
        threading.Thread(target=stop.set, name="smtp-sink-stop", daemon=True).start()

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, on_signal)
    try:
        with Sink(maildir, host=host, port=port) as sink:
            if ready is not None:
                ready(sink.url)
            stop.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def smtp_sink_command(
    maildir: Annotated[Path, typer.Option("--maildir", help="Maildir to store messages in (created if missing).")],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free port).")] = 8025,
) -> None:
    """A real SMTP server for development: stores each message it receives in a Maildir. Stop it with Ctrl-C."""

    def ready(url: str) -> None:
        sys.stdout.write(f"smtp-sink listening on {url}, storing to {maildir}\n")
        sys.stdout.flush()

    run_sink(host, port, maildir, ready=ready)
