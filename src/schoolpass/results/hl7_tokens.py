"""A small, lazy HL7 v2 tokenizer: segments from a stream, messages from segments, values from fields.

Only what a reader asks for is split: a segment is split into fields, and a field into
repetitions, components and subcomponents only when its value is read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

CHUNK = 1 << 20  # characters read (or gathered from lines) at a time
BATCH_SEGMENTS = frozenset({"FHS", "BHS", "BTS", "FTS"})  # batch envelope: not part of any message
SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}\Z")


class Encoding:
    """The delimiters of one message (MSH-1 and MSH-2) and how its escape sequences read."""

    __slots__ = ("field", "component", "repetition", "escape", "subcomponent", "escapes")

    def __init__(self, field: str, component: str, repetition: str, escape: str, subcomponent: str):
        self.field = field
        self.component = component
        self.repetition = repetition
        self.escape = escape
        self.subcomponent = subcomponent
        self.escapes = {"F": field, "S": component, "R": repetition, "E": escape, "T": subcomponent,
                        "H": "", "N": "", ".br": "\n", ".sp": "\n"}


_encodings: dict[str, Encoding] = {}


def read_encoding(msh: str) -> Encoding | None:
    """The delimiters declared by an MSH segment, or None when MSH-1/MSH-2 are not usable."""
    if len(msh) < 8 or not msh.startswith("MSH"):
        return None
    field = msh[3]
    end = msh.find(field, 4)
    chars = msh[4:] if end == -1 else msh[4:end]
    if len(chars) not in (4, 5):  # v2.7+ may add a truncation character
        return None
    key = field + chars[:4]
    found = _encodings.get(key)
    if found is None:
        if len(set(key)) != 5 or any(c.isalnum() or c.isspace() for c in key):
            return None
        found = _encodings[key] = Encoding(field, chars[0], chars[1], chars[2], chars[3])
    return found


def _chunks(source: Iterable[str] | str) -> Iterator[str]:
    """The source's text in pieces of about CHUNK characters, whatever its line structure."""
    if isinstance(source, str):
        source = (source,)
    read = getattr(source, "read", None)
    if read is not None:
        while chunk := read(CHUNK):
            yield chunk
        return
    gathered: list[str] = []
    size = 0
    for piece in source:
        if len(piece) > CHUNK:  # e.g. a CR-only file read as one huge "line"
            if gathered:
                yield "".join(gathered)
                gathered, size = [], 0
            for start in range(0, len(piece), CHUNK):
                yield piece[start:start + CHUNK]
            continue
        gathered.append(piece)
        size += len(piece)
        if size >= CHUNK:
            yield "".join(gathered)
            gathered, size = [], 0
    if gathered:
        yield "".join(gathered)


def iter_segments(source: Iterable[str] | str) -> Iterator[str]:
    """Non-blank segments, whether they end in CR, LF or CRLF (a byte order mark is dropped)."""
    pending: list[str] = []  # the start of a segment whose end has not been read yet
    first = True
    for chunk in _chunks(source):
        if first:
            chunk = chunk.removeprefix("\ufeff")
            first = False
        if "\r" not in chunk and "\n" not in chunk:
            pending.append(chunk)
            continue
        if pending:
            pending.append(chunk)
            chunk = "".join(pending)
        parts = chunk.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        last = parts.pop()
        pending = [last] if last else []
        for part in parts:
            if part and not part.isspace():
                yield part
    tail = "".join(pending)
    if tail and not tail.isspace():
        yield tail


def iter_messages(segments: Iterable[str]) -> Iterator[list[str]]:
    """Segment lists, one per message: each starts at an MSH segment.

    Text before the first MSH (or after a batch trailer) is handed over as a message of its own,
    holding only its first segment, so that the reader can report it.
    """
    current: list[str] | None = None
    collecting = False  # whether segments go to the current message (not after leading junk)
    for segment in segments:
        head = segment[:3]
        if head == "MSH":
            if current:
                yield current
            current = [segment]
            collecting = True
        elif collecting:
            if head in BATCH_SEGMENTS and not segment[3:4].isalnum():
                yield current
                current, collecting = None, False
            else:
                current.append(segment)
        elif current is None and not (head in BATCH_SEGMENTS and not segment[3:4].isalnum()):
            current = [segment]
    if current:
        yield current


def split_fields(segment: str, enc: Encoding) -> list[str]:
    """The raw fields of a segment, indexed by field number (MSH-1 is the field separator)."""
    fields = segment.split(enc.field)
    if fields[0] == "MSH":
        fields.insert(1, enc.field)
    return fields


_segment_ids: set[str] = set()


def is_segment_id(name: str) -> bool:
    """Whether a segment identifier looks like one: three capitals or digits, a capital first."""
    if name in _segment_ids:
        return True
    if SEGMENT_ID.match(name) is None:
        return False
    _segment_ids.add(name)
    return True


def field(fields: list[str], number: int) -> str:
    """Raw field `number` ("" when absent)."""
    return fields[number] if number < len(fields) else ""


def repetitions(raw: str, enc: Encoding) -> list[str]:
    """The raw repetitions of a field (none when the field is empty)."""
    return raw.split(enc.repetition) if raw else []


def component(raw: str, enc: Encoding, number: int = 1, sub: int = 1) -> str:
    """Unescaped subcomponent `sub` of component `number` of one repetition (or of a whole field,
    read as its first repetition). As in the `hl7` package, a deeper value reads as its first part."""
    if not raw:
        return ""
    if enc.repetition in raw:
        raw = raw.split(enc.repetition, 1)[0]
    if enc.component in raw:
        parts = raw.split(enc.component)
        if number > len(parts):
            return ""
        raw = parts[number - 1]
    elif number != 1:
        return ""
    if enc.subcomponent in raw:
        parts = raw.split(enc.subcomponent)
        if sub > len(parts):
            return ""
        raw = parts[sub - 1]
    elif sub != 1:
        return ""
    return unescape(raw, enc) if enc.escape in raw else raw


def unescape(text: str, enc: Encoding) -> str:
    r"""Replace escape sequences: \F\ \S\ \T\ \R\ \E\, \Xhh..\ (hex), formatting ones; drop unknown ones."""
    parts = text.split(enc.escape)
    if len(parts) % 2 == 0:  # an escape character without its closing one stays as it is
        parts[-2:] = [parts[-2] + enc.escape + parts[-1]]
    out = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            out.append(part)
        elif part in enc.escapes:
            out.append(enc.escapes[part])
        elif part[:1] == "X":
            out.append(_hex(part[1:]))
    return "".join(out)


def _hex(digits: str) -> str:
    try:
        data = bytes.fromhex(digits)
    except ValueError:
        return ""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")
