"""What a notice says: the subject line and the two-part (text + HTML) body, as RFC 5322 bytes.

Minimum necessary: a message names its subject by given name and family-name initial only,
says at most what to do (view a new result; be tested by a date), never why. There are two
designs only: ``result`` for ``result-available`` and ``reminder`` for both ``test-overdue``
and ``exemption-ending``, so those two kinds render to identical bytes for identical inputs.

Messages are built as bytes directly (no ``email.message.EmailMessage``: it is ten times too
slow for a daily run): both parts are raw UTF-8 with ``Content-Transfer-Encoding: 8bit`` (the
sender uses SMTP ``BODY=8BITMIME``), so the link token appears un-encoded and
``tokens.find_tokens`` reads back exactly what the message points to.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from email.utils import format_datetime, formataddr, parseaddr

import jinja2

from schoolpass.notices import tokens

KINDS = ("result-available", "exemption-ending", "test-overdue")
LANGUAGES = ("en", "es")

# Both reminder kinds share one design: exemption-ending must read exactly like test-overdue.
_DESIGN = {
    "result-available": "result",
    "exemption-ending": "reminder",
    "test-overdue": "reminder",
}

# A given name longer than this is cut (keeps every line and part short whatever the roster says).
MAX_GIVEN_NAME = 64

# When the subject has no name at all on record.
_NO_NAME = {"en": "your student", "es": "su estudiante"}

_MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
           "septiembre", "octubre", "noviembre", "diciembre"),
}
_WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
}

# Zero-width (non-)joiners are part of how some names are written; other format characters
# (bidi overrides, BOM, ...) are dropped.
_KEEP_FORMAT = frozenset("\u200c\u200d")

# Characters that may not appear in an address header value we write as given.
_ADDRESS_FORBIDDEN = frozenset(' \t,;<>"()[]\\')

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("schoolpass.notices", "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False,
                                        default=False),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    auto_reload=False,
    undefined=jinja2.StrictUndefined,
)


@dataclass(frozen=True)
class Letter:
    kind: str              # "result-available" | "exemption-ending" | "test-overdue"
    language: str          # "en" | "es" (anything else -> "en")
    given_name: str
    family_name: str
    token: str             # from tokens.new_token()
    has_link: bool         # False when the subject has no birth date on record
    by_date: date | None   # reminder kinds: the date to be tested by (None: as soon as possible)


@functools.cache
def _template(name: str) -> jinja2.Template:
    return _env.get_template(name)


def _clean(text: str) -> str:
    """One line of printable text: control characters become spaces, whitespace runs one space."""
    if not (text.isascii() and text.isprintable()):
        text = unicodedata.normalize("NFC", text)
        kept = []
        for ch in text:
            category = unicodedata.category(ch)
            if category in ("Cc", "Zl", "Zp"):
                kept.append(" ")
            elif category in ("Cs", "Co") or (category == "Cf" and ch not in _KEEP_FORMAT):
                continue
            else:
                kept.append(ch)
        text = "".join(kept)
    return " ".join(text.split())


def _initial(family: str) -> str:
    for ch in family:
        if ch.isalpha():
            break
    else:
        ch = family[0]
    upper = ch.upper()
    return (upper if len(upper) == 1 else ch) + "."


def display_name(given_name: str, family_name: str) -> str:
    """Given name and family-name initial: ("María", "González") -> "María G."."""
    given = _clean(given_name or "")
    if len(given) > MAX_GIVEN_NAME:
        given = given[:MAX_GIVEN_NAME].rstrip()
    family = _clean(family_name or "")
    if not family:
        return given
    initial = _initial(family)
    return f"{given} {initial}" if given else initial


def _language(language: str) -> str:
    code = (language or "").strip().lower().replace("_", "-").split("-", 1)[0]
    return code if code in LANGUAGES else "en"


def _design(kind: str) -> str:
    try:
        return _DESIGN[kind]
    except KeyError:
        raise ValueError(f"unknown notice kind: {kind!r}") from None


def _format_date(day: date, language: str) -> str:
    weekday = _WEEKDAYS[language][day.weekday()]
    month = _MONTHS[language][day.month - 1]
    if language == "es":
        return f"{weekday} {day.day} de {month} de {day.year}"
    return f"{weekday}, {month} {day.day}, {day.year}"


def _name_for(letter: Letter, language: str) -> str:
    name = display_name(letter.given_name, letter.family_name) or _NO_NAME[language]
    # A name must never read as a second link or reference code (the guard and the ledger
    # take the disclosed subject from the tokens found in the bytes).
    if tokens.REFERENCE_PREFIX in name:
        name = name.replace(tokens.REFERENCE_PREFIX, tokens.REFERENCE_PREFIX[:-1] + "\u2011")
    if tokens.LINK_PATH in name:
        name = name.replace(tokens.LINK_PATH, tokens.LINK_PATH[:-1] + "\u2215")
    return name


def _context(letter: Letter, language: str, base_url: str | None) -> dict:
    by_date = letter.by_date if _design(letter.kind) == "reminder" else None
    return {
        "lang": language,
        "name": _name_for(letter, language),
        "by_date": _format_date(by_date, language) if by_date is not None else None,
        "link": tokens.link_for(base_url, letter.token) if letter.has_link and base_url is not None
        else None,
        "reference": tokens.reference_for(letter.token),
    }


def _subject(design: str, language: str, context: dict) -> str:
    return " ".join(_template(f"{design}.{language}.subject.txt").render(context).split())


def subject_line(letter: Letter) -> str:
    """The Subject exactly as ``render`` writes it (before RFC 2047 encoding)."""
    language = _language(letter.language)
    return _subject(_design(letter.kind), language, _context(letter, language, None))


def _header_value(name: str, value: str) -> str:
    if any(ch in value for ch in "\r\n\0") or not value.isprintable():
        raise ValueError(f"{name} header contains control characters: {value!r}")
    return value


def _address(name: str, value: str) -> str:
    """A bare addr-spec (no display name), exactly one."""
    value = _header_value(name, value.strip())
    if value.count("@") < 1 or any(ch in _ADDRESS_FORBIDDEN for ch in value):
        raise ValueError(f"{name} must be exactly one bare address: {value!r}")
    return value


def _mailbox(name: str, value: str) -> str:
    """From/Reply-To: an address, with an optional display name (RFC 2047 when non-ASCII)."""
    value = _header_value(name, value.strip())
    if value.isascii():
        return value
    display, addr = parseaddr(value)
    if not addr or not addr.isascii():
        raise ValueError(f"{name} is not a usable address: {value!r}")
    return formataddr((display, addr), charset="utf-8")


# RFC 2047 payload per encoded word: 39 bytes -> 52 base64 characters, so the first line
# ("Subject: " + one word) stays under 78 characters.
_WORD_BYTES = 39


def _encoded_subject(subject: str) -> str:
    """The Subject field body: as is when plain ASCII, else RFC 2047 UTF-8 base64 words.

    Decodes to exactly what ``email.header.Header(subject, "utf-8").encode()`` would, at a
    hundredth of its cost (Header takes ~165 us, more than a whole render's budget). Words
    split on character boundaries only and are folded one per line.
    """
    if subject.isascii() and "=?" not in subject and len(subject) <= 900:
        return subject
    data = subject.encode("utf-8")
    words = []
    start, end = 0, len(data)
    while start < end:
        cut = min(start + _WORD_BYTES, end)
        while cut < end and 0x80 <= data[cut] < 0xC0:  # never split a UTF-8 sequence
            cut -= 1
        words.append("=?utf-8?b?" + base64.b64encode(data[start:cut]).decode("ascii") + "?=")
        start = cut
    return "\r\n ".join(words)


def render(letter: Letter, *, base_url: str, message_id: str, sender: str, to: str,
           reply_to: str | None, sent_date: datetime) -> bytes:
    """The complete message (RFC 5322, CRLF line endings, two 8bit UTF-8 parts)."""
    language = _language(letter.language)
    design = _design(letter.kind)
    context = _context(letter, language, base_url)
    subject = _subject(design, language, context)
    context["subject"] = subject
    text = _template(f"{design}.{language}.txt").render(context)
    html = _template(f"{design}.{language}.html").render(context)

    message_id = _header_value("Message-ID", message_id.strip())
    if not (message_id.startswith("<") and message_id.endswith(">")):
        message_id = f"<{message_id}>"
    boundary = "=_sp_" + hashlib.sha1(message_id.encode("utf-8")).hexdigest()
    while boundary in text or boundary in html:  # only a hostile name could do this
        boundary += "_"

    headers = [
        f"From: {_mailbox('From', sender)}",
        f"To: {_address('To', to)}",
    ]
    if reply_to:
        headers.append(f"Reply-To: {_mailbox('Reply-To', reply_to)}")
    headers += [
        f"Subject: {_encoded_subject(subject)}",
        f"Date: {format_datetime(sent_date)}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        f"Content-Language: {language}",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
    ]
    raw = (
        "\r\n".join(headers)
        + f"\r\n\r\n--{boundary}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        + text.replace("\n", "\r\n")
        + f"\r\n--{boundary}\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        + html.replace("\n", "\r\n")
        + f"\r\n--{boundary}--\r\n"
    ).encode("utf-8")
    found = tokens.find_tokens(raw)
    if found != {letter.token}:
        raise ValueError(f"rendered message carries tokens {sorted(found)!r}, not exactly its own")
    return raw
