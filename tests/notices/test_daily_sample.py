"""End to end on the shared sample roster: `daily` against a real SMTP sink, on both databases."""

from __future__ import annotations

import json

from schoolpass.notices.sink import parse, split_envelope
from tests.cli import run
from tests.notices.district import load_results, load_roster
from tests.notices.sink import running_sink

EVERYONE = ["s-1", "s-2", "s-3", "s-4", "t-1"]


def delivered(sink) -> list[tuple[str, str, str]]:
    """(envelope recipient, To, Content-Language) of every message the sink stored."""
    found = []
    for raw in sink.raw_messages():
        envelope, _ = split_envelope(raw)
        message = parse(raw)
        found.append((",".join(envelope), str(message["To"]), str(message["Content-Language"])))
    return sorted(found)


def test_every_notice_reaches_exactly_the_authorized_addresses(db, tmp_path, capsys):
    load_roster(db.engine)
    load_results(db.engine, tmp_path, [(who, "Not Detected", "11/20/2021") for who in EVERYONE])
    with running_sink(tmp_path) as sink:
        result = run(capsys, "--db", db.url, "daily", "--on", "2021-11-22", "--smtp", sink.url)
        assert result.code == 0, result.err
        got = delivered(sink)
    assert got == sorted([
        # s-1 and s-2 are siblings: p-1 hears about each in its own message; p-2 (deny) hears nothing.
        ("ana.garcia@example.net", "ana.garcia@example.net", "es"),
        ("ana.garcia@example.net", "ana.garcia@example.net", "es"),
        # s-4: the parent only, never the relative.
        ("grace.okafor@example.net", "grace.okafor@example.net", "en"),
        # t-1 is staff: herself. s-3 is 18 on the run date: herself, no longer her parent.
        ("kwhite@staff.example.org", "kwhite@staff.example.org", "en"),
        ("tnguyen@students.example.org", "tnguyen@students.example.org", "en"),
    ])
    entries = [json.loads(line) for line in run(capsys, "--db", db.url, "ledger", "export", "--json").out.splitlines()]
    assert sorted((e["subject_id"], e["recipient_id"], e["address"]) for e in entries) == [
        ("s-1", "p-1", "ana.garcia@example.net"), ("s-2", "p-1", "ana.garcia@example.net"),
        ("s-3", "s-3", "tnguyen@students.example.org"), ("s-4", "p-4", "grace.okafor@example.net"),
        ("t-1", "t-1", "kwhite@staff.example.org")]
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert run(capsys, "--db", db.url, "ledger", "verify").code == 0


def test_a_second_run_sends_nothing_new(db, tmp_path, capsys):
    load_roster(db.engine)
    load_results(db.engine, tmp_path, [(who, "Not Detected", "11/20/2021") for who in EVERYONE])
    with running_sink(tmp_path) as sink:
        assert run(capsys, "--db", db.url, "daily", "--on", "2021-11-22", "--smtp", sink.url).code == 0
        again = run(capsys, "--db", db.url, "daily", "--on", "2021-11-22", "--smtp", sink.url)
        next_day = run(capsys, "--db", db.url, "daily", "--on", "2021-11-23", "--smtp", sink.url)
        assert again.code == 0 and next_day.code == 0
        assert "already given by earlier runs: 5" in again.out
        assert len(sink.raw_messages()) == 5


def test_before_her_18th_birthday_the_parent_hears(db, tmp_path, capsys):
    load_roster(db.engine, as_of="2021-06-01")
    load_results(db.engine, tmp_path, [("s-3", "Not Detected", "06/28/2021")])
    with running_sink(tmp_path) as sink:
        assert run(capsys, "--db", db.url, "daily", "--on", "2021-06-29", "--smtp", sink.url).code == 0
    entries = [json.loads(line) for line in run(capsys, "--db", db.url, "ledger", "export", "--json").out.splitlines()]
    about_her = [(e["kind"], e["address"]) for e in entries if e["subject_id"] == "s-3"]
    assert about_her == [("result-available", "linh.nguyen@example.net")]


def test_dry_run_prints_ids_only_and_leaves_no_trace(db, tmp_path, capsys):
    load_roster(db.engine)
    load_results(db.engine, tmp_path, [(who, "Not Detected", "11/20/2021") for who in EVERYONE])
    result = run(capsys, "--db", db.url, "daily", "--on", "2021-11-22", "--dry-run")
    assert result.code == 0, result.err
    assert "result-available" in result.out and "about s-1 to p-1" in result.out
    assert "@" not in result.out and "García" not in result.out
    with db.engine.connect() as conn:
        for table in ("notice_runs", "notices", "outbox", "link_tokens", "ledger_entries"):
            assert conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() == 0, table
    # And a real run afterwards plans everything.
    with running_sink(tmp_path) as sink:
        assert run(capsys, "--db", db.url, "daily", "--on", "2021-11-22", "--smtp", sink.url).code == 0
        assert len(sink.raw_messages()) == 5


def test_without_an_smtp_server_nothing_is_planned_or_sent(db, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SCHOOLPASS_SMTP_URL", raising=False)
    load_roster(db.engine)
    result = run(capsys, "--db", db.url, "daily", "--on", "2021-11-22")
    assert result.code == 1 and "no SMTP server configured" in result.err
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM notices").scalar() == 0


def test_held_and_undeliverable_notices_are_never_sent_elsewhere(db, tmp_path, capsys):
    from tests.roster.exports import read_sample, write_export

    users = read_sample("users.csv")
    for user in users:
        if user["sourcedId"] == "s-4":
            user["metadata.healthNotices"] = "deny"  # protective custody: held for staff
        if user["sourcedId"] == "t-1":
            user["email"] = ""  # no address on record: undeliverable
    export = write_export(tmp_path / "roster", users=users)
    load_roster(db.engine, path=export)
    load_results(db.engine, tmp_path, [(who, "Not Detected", "11/20/2021") for who in EVERYONE])
    with running_sink(tmp_path) as sink:
        result = run(capsys, "--db", db.url, "daily", "--on", "2021-11-22", "--smtp", sink.url)
        assert result.code == 0, result.err
        addresses = {to for _, to, _ in delivered(sink)}
    assert addresses == {"ana.garcia@example.net", "tnguyen@students.example.org"}
    assert "held 1" in result.out and "undeliverable 1" in result.out
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT subject_id, state, address FROM outbox WHERE subject_id IN ('s-4', 't-1') "
                                    "ORDER BY subject_id").all()
    assert [tuple(r) for r in rows] == [("s-4", "held", None), ("t-1", "undeliverable", None)]
