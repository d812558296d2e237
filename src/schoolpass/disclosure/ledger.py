"""The disclosure ledger: append (in the send transaction), verify, head, export.

Each entry's `hash` is the SHA-256 (hex) of the UTF-8 JSON of its other fields, keys
sorted, no spaces; `prev_hash` is the hash of the entry before (64 zeros for seq 1). Any
changed, deleted, inserted or reordered entry breaks the chain at the first bad `seq`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Connection, select, text

from schoolpass.disclosure.models import GENESIS, LedgerHead
from schoolpass.processes import worker_connection, worker_context, worker_url, workers_can_see
from schoolpass.storage.sql import for_drivers

CHANNEL_EMAIL = "email"
PURPOSE = "public health: school testing program notice"
FIELDS = ("seq", "sent_at", "on_date", "notice_id", "message_id", "kind", "subject_id", "recipient_id",
          "address", "channel", "purpose", "content_sha256", "prev_hash")


def instant_text(moment: datetime) -> str:
    """UTC ISO 8601 with microseconds and Z: sorts as text, hashes the same everywhere."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# The hashed fields in sorted-key order, and the canonical JSON written directly: the same text as
# json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False) (a property test
# holds them equal), at a fraction of the cost, since `ledger verify` hashes every entry.
SORTED = tuple(sorted(FIELDS))
_INTEGERS = ("notice_id", "seq")
assert SORTED.index("notice_id") == 5 and SORTED.index("seq") == 11, "canonical() below is unrolled for this order"
_TEMPLATE = "{" + ",".join(f'"{k}":%d' if k in _INTEGERS else f'"{k}":%s' for k in SORTED) + "}"
_q = json.encoder.encode_basestring  # what json.dumps uses with ensure_ascii=False (C accelerated)


def canonical(v: tuple) -> str:
    """The canonical JSON of an entry's hashed fields, given in SORTED order (on_date as text)."""
    return _TEMPLATE % (_q(v[0]), _q(v[1]), _q(v[2]), _q(v[3]), _q(v[4]), v[5], _q(v[6]), _q(v[7]), _q(v[8]),
                        _q(v[9]), _q(v[10]), v[11], _q(v[12]))


def entry_hash(fields: dict) -> str:
    return hashlib.sha256(canonical(tuple(fields[k] for k in SORTED)).encode("utf-8")).hexdigest()


# Appends happen once per message sent, on the sender's critical path: they go straight to the driver
# (statements fixed per database), which costs a third of going through SQLAlchemy's execution.
_COLUMNS = (*FIELDS, "hash")
# PostgreSQL: senders append one at a time, each locking the head row (SQLite's writer holds its lock).
_READ_HEAD = {"sqlite": "SELECT seq, hash FROM ledger_head WHERE id = 1",
              "postgresql": "SELECT seq, hash FROM ledger_head WHERE id = 1 FOR UPDATE"}
_INSERT = for_drivers(f"INSERT INTO ledger_entries ({', '.join(_COLUMNS)}) "
                      f"VALUES ({', '.join(':' + c for c in _COLUMNS)})")
_MOVE_HEAD = for_drivers("UPDATE ledger_head SET seq = :seq, hash = :hash WHERE id = 1")


def append(conn: Connection, *, sent_at: datetime, on_date: date, notice_id: int, message_id: str, kind: str,
           subject_id: str, recipient_id: str, address: str, content_sha256: str,
           channel: str = CHANNEL_EMAIL, purpose: str = PURPOSE) -> dict:
    """Append one entry in the caller's transaction (which must commit with the message's `sent`)."""
    dialect = conn.dialect.name
    postgres = dialect == "postgresql"
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(_READ_HEAD[dialect])
        seq, prev = cursor.fetchone()
        fields = {"seq": seq + 1, "sent_at": instant_text(sent_at), "on_date": on_date.isoformat(),
                  "notice_id": notice_id, "message_id": message_id, "kind": kind, "subject_id": subject_id,
                  "recipient_id": recipient_id, "address": address, "channel": channel, "purpose": purpose,
                  "content_sha256": content_sha256, "prev_hash": prev}
        fields["hash"] = entry_hash(fields)
        # A date column: the ISO text on SQLite (as SQLAlchemy's Date writes it), a date on PostgreSQL.
        cursor.execute(_INSERT[dialect], {**fields, "on_date": on_date} if postgres else fields)
        cursor.execute(_MOVE_HEAD[dialect], {"seq": fields["seq"], "hash": fields["hash"]})
    finally:
        cursor.close()
    return fields


def head(conn: Connection) -> tuple[int, str]:
    """(seq, hash) of the chain's last entry, as recorded by appends; (0, 64 zeros) when empty."""
    row = conn.execute(select(LedgerHead.seq, LedgerHead.hash).where(LedgerHead.id == 1)).first()
    return (row.seq, row.hash) if row else (0, GENESIS)


def _rows(conn: Connection, where: str = "", params: dict | None = None) -> Iterator[dict]:
    columns = ", ".join((*FIELDS, "hash"))
    result = conn.execution_options(stream_results=True, yield_per=20000).execute(
        text(f"SELECT {columns} FROM ledger_entries {where} ORDER BY seq"), params or {})
    for row in result:
        entry = dict(zip((*FIELDS, "hash"), row))
        day = entry["on_date"]
        entry["on_date"] = day.isoformat() if isinstance(day, date) else day
        yield entry


def entries(conn: Connection) -> Iterator[dict]:
    """Every entry, oldest first, with the fields of `ledger export --json`."""
    return _rows(conn)


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None


def _sorted_rows(conn: Connection, after: int | None = None, upto: int | None = None) -> Iterator[tuple]:
    """(SORTED fields..., hash) of the entries with after < seq <= upto (None: unbounded) by seq, straight from
    the driver (the verify hot path)."""
    where = " AND ".join(([f"seq > {int(after)}"] if after is not None else [])
                         + ([f"seq <= {int(upto)}"] if upto is not None else []))
    sql = f"SELECT {', '.join(SORTED)}, hash FROM ledger_entries {'WHERE ' + where if where else ''} ORDER BY seq"
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        with raw.cursor(name="ledger_verify") as cursor:  # server-side: stream, never the whole table in memory
            cursor.itersize = 20000
            cursor.execute(sql)
            yield from cursor
    else:
        cursor = raw.cursor()
        try:
            cursor.execute(sql)
            while batch := cursor.fetchmany(20000):
                yield from batch
        finally:
            cursor.close()


_SEQ, _PREV, _DAY = SORTED.index("seq"), SORTED.index("prev_hash"), SORTED.index("on_date")

# From this many entries, verify walks the chain in two parts at once, one in a second process (2 cores:
# ~5 s instead of ~10 s per million entries where SHA-256 has no hardware help).
PARALLEL_FROM = 200_000


@dataclass(frozen=True)
class _Part:
    """What walking one part of the chain found: entries that held, the last of them, where it broke."""

    count: int
    last_seq: int
    last_hash: str
    kept_seen: bool
    first_bad_seq: int | None = None
    problem: str | None = None


def _walk(rows: Iterator[tuple], expected_seq: int, prev: str, kept: str | None, upto: int | None) -> _Part:
    """Walk entries from `expected_seq` on, `prev` being the hash of the entry before; stop at the first that
    does not hold. With `upto`, the part must end exactly there (an entry missing at its end shows)."""
    count, kept_seen = 0, False
    sha256 = hashlib.sha256
    for row in rows:
        seq, digest = row[_SEQ], row[-1]
        if seq != expected_seq:
            return _Part(count, expected_seq - 1, prev, kept_seen, expected_seq,
                         f"entry {expected_seq} is missing (next is {seq})" if seq > expected_seq
                         else f"entry {seq} is out of order")
        if row[_PREV] != prev:
            return _Part(count, seq - 1, prev, kept_seen, seq, "prev_hash does not match the entry before")
        values = row[:-1]
        if not isinstance(values[_DAY], str):
            values = values[:_DAY] + (values[_DAY].isoformat(),) + values[_DAY + 1:]
        if sha256(canonical(values).encode("utf-8")).hexdigest() != digest:
            return _Part(count, seq - 1, prev, kept_seen, seq, "hash does not match the entry's fields")
        prev, expected_seq, count = digest, seq + 1, count + 1
        if prev == kept:
            kept_seen = True
    if upto is not None and expected_seq - 1 != upto:
        return _Part(count, expected_seq - 1, prev, kept_seen, expected_seq,
                     f"entry {expected_seq} is missing (next is after {upto})")
    return _Part(count, expected_seq - 1, prev, kept_seen)


def _walk_part(url: str, after: int, upto: int | None, kept: str | None) -> _Part:
    """One later part of the chain, in a process of its own: from the entry after `after`, chained to the hash
    stored in entry `after` (whether that entry itself holds is the earlier part's to say)."""
    with worker_connection(url) as conn:
        stored = conn.execute(text("SELECT hash FROM ledger_entries WHERE seq = :s"), {"s": after}).scalar()
        return _walk(_sorted_rows(conn, after, upto), after + 1, stored or "", kept, upto)


def _parts_of(conn: Connection, parts: int | None) -> list[int]:
    """The last seq of each part but the last (empty: one part)."""
    last = conn.execute(text("SELECT max(seq) FROM ledger_entries")).scalar() or 0
    if parts is None:
        parts = 2 if last >= PARALLEL_FROM and workers_can_see(conn) else 1
    return sorted({last * i // parts for i in range(1, parts)} - {0})


def verify(conn: Connection, kept_head: str | None = None, parts: int | None = None) -> Verification:
    """Walk the chain; name the first entry that does not hold, and check the chain's end.

    `kept_head`: a head printed earlier by `ledger head` and kept elsewhere; the chain must
    still pass through it (later appends are fine, rewriting up to it is not).
    `parts`: walk the chain in this many parts at once, all but the first in processes of their
    own (default: two from PARALLEL_FROM entries on); the answer is the same.
    """
    kept = kept_head.strip().lower() if kept_head is not None else None
    cuts = _parts_of(conn, parts)
    found: list[_Part] = []
    if cuts:
        url = worker_url(conn)
        spans = list(zip(cuts, [*cuts[1:], None]))
        with ProcessPoolExecutor(len(spans), mp_context=worker_context()) as pool:
            later = [pool.submit(_walk_part, url, after, upto, kept) for after, upto in spans]
            found.append(_walk(_sorted_rows(conn, None, cuts[0]), 1, GENESIS, kept, cuts[0]))
            found.extend(part.result() for part in later)
    else:
        found.append(_walk(_sorted_rows(conn), 1, GENESIS, kept, None))
    count, kept_seen = 0, kept == GENESIS
    for part in found:
        count += part.count
        kept_seen = kept_seen or part.kept_seen
        if part.problem is not None:
            return Verification(False, count, part.last_seq, part.last_hash, part.first_bad_seq, part.problem)
    last_seq, prev = found[-1].last_seq, found[-1].last_hash
    recorded_seq, recorded_hash = head(conn)
    if (recorded_seq, recorded_hash) != (last_seq, prev):
        bad = min(recorded_seq, last_seq) + 1
        return Verification(False, count, last_seq, prev, bad,
                            f"the chain ends at entry {last_seq} but appends recorded entry {recorded_seq}")
    if kept is not None and not kept_seen:
        return Verification(False, count, last_seq, prev, None,
                            "the kept head is not in the chain: entries up to it were changed or removed")
    return Verification(True, count, last_seq, prev)
