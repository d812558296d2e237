"""The disclosure ledger's hash chain: what `ledger verify` catches, and what `ledger export --json` shows.

The ledger is built with `schoolpass.disclosure.ledger.append`, one entry per transaction as the
sender does, then tampered with in SQL as someone with database access could. `verify` must name
the first entry that does not hold (`entry N` on stderr, non-zero exit).

What the chain cannot catch on its own: someone who changes an entry and then recomputes every
hash after it (and the recorded head) leaves a chain that is consistent with itself, so plain
`ledger verify` passes. Only a head printed earlier by `ledger head` and kept outside the database
exposes it: `ledger verify --head OLD` fails because the chain no longer passes through OLD. A head
kept from before later, honest appends still verifies.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from schoolpass.disclosure import ledger
from tests.cli import run

GENESIS = "0" * 64
EXPORT_FIELDS = {"seq", "sent_at", "on_date", "notice_id", "message_id", "kind", "subject_id", "recipient_id",
                 "address", "channel", "purpose", "content_sha256", "prev_hash", "hash"}

# (subject, recipient, address): families, staff, an adult student, and a non-ASCII address.
PEOPLE = [
    ("s-1", "p-1", "ana.garcia@example.net"),
    ("s-2", "p-1", "ana.garcia@example.net"),
    ("s-3", "s-3", "tnguyen@students.example.org"),
    ("s-4", "p-4", "grace.okafor@example.net"),
    ("t-1", "t-1", "kwhite@staff.example.org"),
    ("s-7", "p-9", "familia.muñoz@ejemplo.es"),
]
KINDS = ("result-available", "test-overdue", "exemption-ending")
PACIFIC = timezone(timedelta(hours=-8))


def independent_hash(entry: dict) -> str:
    """SHA-256 of the UTF-8 JSON of every field but `hash`, keys sorted, no spaces (CONTRACT section 4)."""
    fields = {k: v for k, v in entry.items() if k != "hash"}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def append_entries(engine, count: int, start: int = 0) -> list[dict]:
    """`count` entries, one transaction each, as a day's sends would make them."""
    made = []
    base = datetime(2021, 11, 22, 7, 30, 0, 123456, tzinfo=UTC)
    for i in range(start, start + count):
        subject, recipient, address = PEOPLE[i % len(PEOPLE)]
        sent_at = base + timedelta(seconds=17 * i, microseconds=i)
        if i % 5 == 3:
            sent_at = sent_at.astimezone(PACIFIC)  # stored as UTC whatever the caller's zone
        with engine.begin() as conn:
            made.append(ledger.append(
                conn, sent_at=sent_at, on_date=date(2021, 11, 22) + timedelta(days=i // 8), notice_id=100 + i,
                message_id=f"<{hashlib.md5(str(i).encode()).hexdigest()}@schoolpass.example>",
                kind=KINDS[i % 3], subject_id=subject, recipient_id=recipient, address=address,
                content_sha256=hashlib.sha256(f"message {i}".encode()).hexdigest()))
    return made


@pytest.fixture
def chain(db):
    """A ledger of 20 entries."""
    made = append_entries(db.engine, 20)
    assert [e["seq"] for e in made] == list(range(1, 21))
    return made


def verify(capsys, db, *more: str):
    return run(capsys, "--db", db.url, "ledger", "verify", *more)


def head(capsys, db) -> str:
    result = run(capsys, "--db", db.url, "ledger", "head")
    assert result.code == 0, result.err
    return result.out.strip()


def export(capsys, db) -> list[dict]:
    result = run(capsys, "--db", db.url, "ledger", "export", "--json")
    assert result.code == 0, result.err
    return [json.loads(line) for line in result.out.splitlines()]


def sql(db, statement: str, **params) -> None:
    with db.engine.begin() as conn:
        conn.execute(text(statement), params)


def stored(db, seq: int) -> dict:
    with db.engine.connect() as conn:
        return next(e for e in ledger.entries(conn) if e["seq"] == seq)


def shift_seqs(db, first: int, by: int) -> None:
    """seq += by for every entry from `first` on (in two steps: the primary key is checked row by row)."""
    sql(db, "UPDATE ledger_entries SET seq = seq + 100000 WHERE seq >= :first", first=first)
    sql(db, "UPDATE ledger_entries SET seq = seq - 100000 + :by WHERE seq >= 100000", by=by)


def insert_entry(db, entry: dict) -> None:
    columns = sorted(EXPORT_FIELDS)
    values = {**entry, "on_date": date.fromisoformat(entry["on_date"])}
    sql(db, f"INSERT INTO ledger_entries ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})",
        **{c: values[c] for c in columns})


def assert_fails_at(result, seq: int) -> None:
    assert result.code != 0, result.out
    assert f"entry {seq}" in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err


# --- an honest chain ----------------------------------------------------------------------------------------

def test_an_untouched_chain_verifies(db, capsys, chain):
    result = verify(capsys, db)
    assert result.code == 0, result.err
    assert "20 entries" in result.out and chain[-1]["hash"] in result.out
    assert head(capsys, db) == chain[-1]["hash"]


def test_an_empty_ledger_verifies_and_its_head_is_genesis(db, capsys):
    assert verify(capsys, db).code == 0
    assert head(capsys, db) == GENESIS
    assert verify(capsys, db, "--head", GENESIS).code == 0


def test_export_json_has_exactly_the_contract_fields_and_hashes_recompute(db, capsys, chain):
    entries = export(capsys, db)
    assert len(entries) == 20
    for entry in entries:
        assert set(entry) == EXPORT_FIELDS, sorted(set(entry) ^ EXPORT_FIELDS)
        assert entry["hash"] == independent_hash(entry), entry["seq"]
        assert datetime.fromisoformat(entry["sent_at"].replace("Z", "+00:00")).utcoffset() == timedelta(0)
        assert entry["sent_at"].endswith("Z")
        assert date.fromisoformat(entry["on_date"])
        assert entry["message_id"].startswith("<") and entry["message_id"].endswith(">")
    assert [e["seq"] for e in entries] == list(range(1, 21))
    assert entries[0]["prev_hash"] == GENESIS
    assert [e["prev_hash"] for e in entries[1:]] == [e["hash"] for e in entries[:-1]]
    # What export shows is what append wrote (and returned), the non-ASCII address included.
    assert entries == chain
    assert any("ñ" in e["address"] for e in entries)
    # An entry appended in another time zone is shown in UTC: 07:30:51 UTC, not 23:30 the day before.
    assert entries[3]["sent_at"] == "2021-11-22T07:30:51.123459Z"


def test_a_head_kept_before_later_appends_still_verifies(db, capsys):
    append_entries(db.engine, 10)
    kept = head(capsys, db)
    append_entries(db.engine, 10, start=10)
    assert head(capsys, db) != kept
    result = verify(capsys, db, "--head", kept)
    assert result.code == 0, result.err
    assert verify(capsys, db, "--head", kept.upper()).code == 0  # as someone may have copied it


def test_a_head_that_was_never_in_the_chain_fails(db, capsys, chain):
    result = verify(capsys, db, "--head", hashlib.sha256(b"not a head").hexdigest())
    assert result.code != 0 and "head" in result.err


# --- tampering ----------------------------------------------------------------------------------------------

def test_a_changed_field_is_caught_at_its_entry(db, capsys, chain):
    sql(db, "UPDATE ledger_entries SET address = 'someone.else@example.com' WHERE seq = 7")
    assert_fails_at(verify(capsys, db), 7)


@pytest.mark.parametrize("column, value", [("subject_id", "s-9"), ("kind", "test-overdue"),
                                           ("sent_at", "2021-11-22T07:32:42.123462Z"), ("notice_id", 999)])
def test_any_changed_field_is_caught(db, capsys, chain, column, value):
    if chain[12][column] == value:
        value = "s-8" if column == "subject_id" else "result-available"
    sql(db, f"UPDATE ledger_entries SET {column} = :value WHERE seq = 13", value=value)
    assert_fails_at(verify(capsys, db), 13)


def test_a_deleted_entry_is_caught(db, capsys, chain):
    sql(db, "DELETE FROM ledger_entries WHERE seq = 7")
    assert_fails_at(verify(capsys, db), 7)


def test_a_deleted_last_entry_is_caught_by_the_recorded_head(db, capsys, chain):
    """The chain 1..19 holds by itself; the head row (still saying entry 20) gives it away."""
    sql(db, "DELETE FROM ledger_entries WHERE seq = 20")
    with db.engine.connect() as conn:
        assert ledger.head(conn) == (20, chain[-1]["hash"])
    assert_fails_at(verify(capsys, db), 20)


def test_a_forged_entry_inserted_with_a_self_consistent_hash_is_caught(db, capsys, chain):
    """Entries 7.. renumbered 8.., a forgery at 7 chained to entry 6: entry 8's prev_hash no longer matches."""
    shift_seqs(db, 7, 1)
    forged = {**chain[5], "seq": 7, "notice_id": 555, "subject_id": "s-3", "recipient_id": "p-3",
              "address": "linh.nguyen@example.net", "message_id": "<forged@schoolpass.example>",
              "prev_hash": chain[5]["hash"]}
    forged["hash"] = independent_hash(forged)
    insert_entry(db, forged)
    sql(db, "UPDATE ledger_head SET seq = 21 WHERE id = 1")  # a careful forger keeps the head consistent
    assert stored(db, 7) == forged
    assert_fails_at(verify(capsys, db), 8)


def test_two_swapped_entries_are_caught(db, capsys, chain):
    sql(db, "UPDATE ledger_entries SET seq = -7 WHERE seq = 7")
    sql(db, "UPDATE ledger_entries SET seq = 7 WHERE seq = 8")
    sql(db, "UPDATE ledger_entries SET seq = 8 WHERE seq = -7")
    assert stored(db, 7)["hash"] == chain[7]["hash"]
    assert_fails_at(verify(capsys, db), 7)


def test_a_rewritten_chain_is_caught_only_by_a_kept_head(db, capsys, chain):
    """Change entry 7, recompute every hash from there on and the head row: self-consistent again.

    Plain `verify` cannot tell (documented limitation); `verify --head OLD`, with OLD printed by
    `ledger head` before the rewrite and kept elsewhere, can.
    """
    kept = head(capsys, db)
    assert verify(capsys, db, "--head", kept).code == 0
    rewritten = [dict(e) for e in chain]
    rewritten[6]["address"] = "someone.else@example.com"
    for i in range(6, 20):
        rewritten[i]["prev_hash"] = rewritten[i - 1]["hash"]
        rewritten[i]["hash"] = independent_hash(rewritten[i])
    sql(db, "DELETE FROM ledger_entries WHERE seq >= 7")
    for entry in rewritten[6:]:
        insert_entry(db, entry)
    sql(db, "UPDATE ledger_head SET hash = :hash WHERE id = 1", hash=rewritten[-1]["hash"])

    plain = verify(capsys, db)
    assert plain.code == 0, plain.err  # the chain holds by itself: this is what a kept head is for
    with_head = verify(capsys, db, "--head", kept)
    assert with_head.code != 0
    assert "head" in with_head.err and len(with_head.err.strip().splitlines()) == 1
    # A head kept before the changed entry (entry 6's) is still in the chain: the rewrite is after it.
    assert verify(capsys, db, "--head", chain[5]["hash"]).code == 0


def test_a_truncated_chain_with_its_head_row_moved_back_is_caught_only_by_a_kept_head(db, capsys, chain):
    """Delete the last entries and set the head row to the new last one: consistent again, except with a kept head."""
    kept = head(capsys, db)
    sql(db, "DELETE FROM ledger_entries WHERE seq >= 18")
    sql(db, "UPDATE ledger_head SET seq = 17, hash = :hash WHERE id = 1", hash=chain[16]["hash"])
    assert verify(capsys, db).code == 0
    assert verify(capsys, db, "--head", kept).code != 0


# --- the chain walked in parts at once (large ledgers): the same answer as one walk ------------------------

TAMPERINGS = {
    "untouched": [],
    "changed at a cut": ["UPDATE ledger_entries SET address = 'x@example.com' WHERE seq = 10"],
    "changed after a cut": ["UPDATE ledger_entries SET kind = 'test-overdue' WHERE seq = 11 AND kind <> 'test-overdue'",
                            "UPDATE ledger_entries SET notice_id = 999 WHERE seq = 11"],
    "deleted at a cut": ["DELETE FROM ledger_entries WHERE seq = 10"],
    "deleted after a cut": ["DELETE FROM ledger_entries WHERE seq = 11"],
    "deleted first": ["DELETE FROM ledger_entries WHERE seq = 1"],
    "deleted last": ["DELETE FROM ledger_entries WHERE seq = 20"],
    "hash rewritten at a cut": ["UPDATE ledger_entries SET hash = '" + "1" * 64 + "' WHERE seq = 10"],
    "seq 0 forged": ["UPDATE ledger_entries SET seq = 0 WHERE seq = 1"],
    "swapped across a cut": ["UPDATE ledger_entries SET seq = -10 WHERE seq = 10",
                             "UPDATE ledger_entries SET seq = 10 WHERE seq = 11",
                             "UPDATE ledger_entries SET seq = 11 WHERE seq = -10"],
}


@pytest.mark.parametrize("tampering", sorted(TAMPERINGS))
def test_walking_the_chain_in_parts_gives_the_same_answer(db, chain, tampering):
    for statement in TAMPERINGS[tampering]:
        sql(db, statement)
    kept = chain[14]["hash"]
    with db.engine.connect() as conn:
        answers = {parts: (ledger.verify(conn, parts=parts), ledger.verify(conn, kept, parts=parts))
                   for parts in (1, 2, 3)}
    assert (answers[1][0].ok, answers[1][1].ok) == ((True, True) if tampering == "untouched" else (False, False))
    for parts, answer in answers.items():
        assert [a.first_bad_seq for a in answer] == [a.first_bad_seq for a in answers[1]], (tampering, parts)
        assert [a.ok for a in answer] == [a.ok for a in answers[1]], (tampering, parts)
        if tampering == "untouched":
            assert answer == answers[1]
