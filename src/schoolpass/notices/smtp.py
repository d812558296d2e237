"""Delivery over SMTP with smtplib: one reused connection, outcomes sorted into sent / retry / failed.

`smtp://[user:pass@]host:port` (plain), `smtp+starttls://...`, `smtps://...` (CONTRACT section 1).
A 4xx answer or a dropped connection is temporary (retry later); a 5xx is permanent.
Server replies are reduced to their code: they can quote the address.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from schoolpass.errors import SchoolpassError

SENT, TEMPORARY, PERMANENT = "sent", "temporary", "permanent"
_DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


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
        self.connections = 0

    def _connect(self) -> smtplib.SMTP:
        s = self.server
        if s.scheme == "smtps":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=self.timeout,
                                                  context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
        smtp.ehlo()
        if s.scheme == "smtp+starttls":
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if s.user:
            smtp.login(s.user, s.password or "")
        self._eight_bit = smtp.has_extn("8bitmime")
        self.connections += 1
        return smtp

    def close(self) -> None:
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

    def send(self, sender: str, recipient: str, raw: bytes) -> Delivery:
        """Send one message to exactly one envelope recipient."""
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            options = ["BODY=8BITMIME"] if self._eight_bit else []
            self._smtp.sendmail(sender, [recipient], raw, mail_options=options)
            return Delivery(SENT, 250)
        except smtplib.SMTPRecipientsRefused as refused:
            code = next(iter(refused.recipients.values()))[0] if refused.recipients else None
            return _by_code(code, "recipient refused")
        except smtplib.SMTPSenderRefused as refused:
            return _by_code(refused.smtp_code, "sender refused")
        except smtplib.SMTPDataError as refused:
            return _by_code(refused.smtp_code, "message refused")
        except smtplib.SMTPAuthenticationError as refused:
            self._drop()
            return Delivery(TEMPORARY, refused.smtp_code, "authentication failed")
        except smtplib.SMTPResponseException as refused:
            self._drop()
            return _by_code(refused.smtp_code, "server refused")
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError, socket.timeout) as lost:
            self._drop()
            return Delivery(TEMPORARY, None, f"connection lost ({type(lost).__name__})")
        except smtplib.SMTPException as failure:
            self._drop()
            return Delivery(TEMPORARY, None, f"SMTP error ({type(failure).__name__})")


def _by_code(code: int | None, what: str) -> Delivery:
    if code is not None and 500 <= code < 600:
        return Delivery(PERMANENT, code, what)
    return Delivery(TEMPORARY, code, what)
