"""Delivery over SMTP with smtplib: one reused connection, outcomes sorted into sent / retry / failed.

`smtp://[user:pass@]host:port` (plain), `smtp+starttls://...`, `smtps://...` (CONTRACT section 1).
A 4xx answer or a dropped connection is temporary (retry later); a 5xx is permanent.
Server replies are reduced to their code: they can quote the address.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from schoolpass.errors import SchoolpassError

SENT, TEMPORARY, PERMANENT = "sent", "temporary", "permanent"
_DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
# RFC 5321 4.5.2: a line of the data that starts with a period gets one more.
_DOT_AT_LINE_START = re.compile(rb"(?m)^\.")


@dataclass(frozen=True)
class SmtpServer:
    scheme: str
    host: str
    port: int
    user: str | None = None
    password: str | None = None

    @property
    def shown(self) -> str:
        """For messages: never the credentials."""
        return f"{self.scheme}://{self.host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpServer:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise SchoolpassError("SCHOOLPASS_SMTP_URL must start with smtp://, smtp+starttls:// or smtps://")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        raise SchoolpassError("SCHOOLPASS_SMTP_URL has an invalid port") from None
    if not parts.hostname:
        raise SchoolpassError("SCHOOLPASS_SMTP_URL names no host")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return SmtpServer(scheme, parts.hostname, port, user, password)


@dataclass(frozen=True)
class Delivery:
    outcome: str  # sent | temporary | permanent
    code: int | None = None
    what: str = ""  # a short description without personal data


class Mailer:
    """One SMTP connection, opened on first use and reopened after it drops."""

    def __init__(self, server: SmtpServer, timeout: float = 30.0) -> None:
        self.server = server
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None
        self._eight_bit = False
        self._size = False
        self._pipelining = False
        self._in_data = False  # between `begin` and `finish`: only dropping the connection ends it cleanly
        self.connections = 0

    def _connect(self) -> smtplib.SMTP:
        s = self.server
        if s.scheme == "smtps":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=self.timeout,
                                                  context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
        # The end of a message's data goes out as a small write of its own (`finish`): without this, it would
        # wait for the server's (delayed) acknowledgement of the data before it, ~40 ms a message.
        smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        smtp.ehlo()
        if s.scheme == "smtp+starttls":
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if s.user:
            smtp.login(s.user, s.password or "")
        self._eight_bit = smtp.has_extn("8bitmime")
        self._size = smtp.has_extn("size")
        self._pipelining = smtp.has_extn("pipelining")
        self.connections += 1
        return smtp

    def close(self) -> None:
        if self._smtp is not None and self._in_data:
            self._drop()  # a QUIT now would be read as message data; the unfinished message is discarded
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            except OSError:
                pass
            self._smtp = None
        self._in_data = False

    def send(self, sender: str, recipient: str, raw: bytes) -> Delivery:
        """Send one message to exactly one envelope recipient."""
        return self.begin(sender, recipient, raw) or self.finish()

    def begin(self, sender: str, recipient: str, raw: bytes) -> Delivery | None:
        """Send one message to exactly one envelope recipient, all but the end of its data: None when the
        server now holds the whole message and `finish` asks it to take it; else why it cannot be sent.

        Nothing is delivered before `finish`: a server discards data that never ends (the connection
        closes or drops first). Meanwhile the server reads the data, and the caller may do other work.
        """
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            smtp = self._smtp
            options = (["BODY=8BITMIME"] if self._eight_bit else []) + ([f"SIZE={len(raw)}"] if self._size else [])
            if self._pipelining:
                refused = self._envelope_pipelined(smtp, sender, recipient, options)
                if refused is not None:
                    return refused
            else:
                code, _ = smtp.mail(sender, options)
                if code != 250:
                    return self._refused(code, "sender refused")
                code, _ = smtp.rcpt(recipient)
                if code not in (250, 251):
                    return self._refused(code, "recipient refused")
                smtp.putcmd("data")
                code, _ = smtp.getreply()
                if code != 354:
                    return self._refused(code, "message refused")
            data = _DOT_AT_LINE_START.sub(b"..", raw)
            smtp.send(data if data.endswith(b"\r\n") else data + b"\r\n")
            self._in_data = True
            return None
        except smtplib.SMTPAuthenticationError as refused:
            self._drop()
            return Delivery(TEMPORARY, refused.smtp_code, "authentication failed")
        except smtplib.SMTPResponseException as refused:  # greeting, EHLO or STARTTLS refused
            self._drop()
            return _by_code(refused.smtp_code, "server refused")
        except (smtplib.SMTPException, OSError) as failure:
            return self._lost(failure)

    def _envelope_pipelined(self, smtp: smtplib.SMTP, sender: str, recipient: str,
                            options: list[str]) -> Delivery | None:
        """MAIL, RCPT and DATA in one write, then their three answers (RFC 2920): None once the server
        waits for the data; else why the message cannot be sent."""
        extra = "".join(f" {option}" for option in options)
        smtp.send(f"mail FROM:{smtplib.quoteaddr(sender)}{extra}\r\n"
                  f"rcpt TO:{smtplib.quoteaddr(recipient)}\r\ndata\r\n")
        mail, _ = smtp.getreply()
        rcpt, _ = smtp.getreply()
        data, _ = smtp.getreply()
        if data == 354 and (mail != 250 or rcpt not in (250, 251)):
            # A server that opens the data with no valid recipient: end it empty (nothing can be delivered).
            smtp.send(b".\r\n")
            smtp.getreply()
        if mail != 250:
            return self._refused(mail, "sender refused")
        if rcpt not in (250, 251):
            return self._refused(rcpt, "recipient refused")
        if data != 354:
            return self._refused(data, "message refused")
        return None

    def finish(self) -> Delivery:
        """End the data `begin` sent: the server's answer is whether it took the message."""
        try:
            self._smtp.send(b".\r\n")
            self._in_data = False
            code, _ = self._smtp.getreply()
        except (smtplib.SMTPException, OSError) as failure:
            return self._lost(failure)
        return Delivery(SENT, code) if code == 250 else _by_code(code, "message refused")

    def _refused(self, code: int, what: str) -> Delivery:
        """A refusal before the data: the server's transaction is reset, the connection kept."""
        if code == 421:  # the server is closing the connection
            self._drop()
            return Delivery(TEMPORARY, code, what)
        try:
            self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()
        return _by_code(code, what)

    def _lost(self, failure: Exception) -> Delivery:
        self._drop()
        if isinstance(failure, (smtplib.SMTPServerDisconnected, OSError)):
            return Delivery(TEMPORARY, None, f"connection lost ({type(failure).__name__})")
        return Delivery(TEMPORARY, None, f"SMTP error ({type(failure).__name__})")


def _by_code(code: int | None, what: str) -> Delivery:
    if code is not None and 500 <= code < 600:
        return Delivery(PERMANENT, code, what)
    return Delivery(TEMPORARY, code, what)
