"""A sink that answers 451, drops connections, or refuses one address with 550 (real SMTP, both databases)."""

from __future__ import annotations

import json

from tests.cli import run
from tests.notices.district import load_results, load_roster
from tests.notices.sink import running_sink

EVERYONE = ["s-1", "s-2", "s-3", "s-4", "t-1"]


def _day(db, tmp_path, capsys, sink, monkeypatch, **env):
    monkeypatch.setenv("SCHOOLPASS_RETRY_BASE_SECONDS", "0")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    load_roster(db.engine)
    load_results(db.engine, tmp_path, [(who, "Not Detected", "11/20/2021") for who in EVERYONE])
    return run(capsys, "--db", db.url, "daily", "--on", "2021-11-22", "--smtp", sink.url)


def _outbox(db):
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(
            "SELECT address, state, attempts FROM outbox ORDER BY address, subject_id")]


def _ledger(db, capsys):
    return [json.loads(line) for line in run(capsys, "--db", db.url, "ledger", "export", "--json").out.splitlines()]


def test_a_server_answering_451_for_a_while_gets_everything_in_the_end(db, tmp_path, capsys, monkeypatch):
    with running_sink(tmp_path, tempfail_next=4) as sink:
        result = _day(db, tmp_path, capsys, sink, monkeypatch)
        assert result.code == 0, result.err
        assert len({m["Message-ID"] for m in sink.messages()}) == 5
        assert sink.handler.attempts == 9  # four refusals, then five deliveries
    assert {state for _, state, _ in _outbox(db)} == {"sent"}
    assert len(_ledger(db, capsys)) == 5


def test_dropped_connections_are_reopened_and_nothing_is_lost(db, tmp_path, capsys, monkeypatch):
    with running_sink(tmp_path, drop_next=3) as sink:
        result = _day(db, tmp_path, capsys, sink, monkeypatch)
        assert result.code == 0, result.err
        assert sorted(m["Message-ID"] for m in sink.messages()) == sorted(e["message_id"] for e in _ledger(db, capsys))
        assert len(sink.messages()) == 5
    assert {state for _, state, _ in _outbox(db)} == {"sent"}


def test_a_550_for_one_address_fails_that_message_only(db, tmp_path, capsys, monkeypatch):
    with running_sink(tmp_path, reject_addresses={"Grace.Okafor@example.net"}) as sink:
        result = _day(db, tmp_path, capsys, sink, monkeypatch)
        assert result.code == 0, result.err  # a 5xx is a final outcome
        delivered = sorted(str(m["To"]) for m in sink.messages())
    assert delivered == ["ana.garcia@example.net", "ana.garcia@example.net", "kwhite@staff.example.org",
                         "tnguyen@students.example.org"]
    outbox = _outbox(db)
    assert ("grace.okafor@example.net", "failed", 1) in outbox
    assert [s for a, s, _ in outbox if a != "grace.okafor@example.net"] == ["sent"] * 4
    assert "failed 1" in result.out
    assert "grace.okafor" not in {e["address"] for e in _ledger(db, capsys)}


def test_retries_stop_after_the_configured_attempts(db, tmp_path, capsys, monkeypatch):
    with running_sink(tmp_path, tempfail_next=1000) as sink:
        result = _day(db, tmp_path, capsys, sink, monkeypatch, SCHOOLPASS_RETRY_ATTEMPTS="3")
        assert result.code == 0, result.err
        assert sink.handler.accepted == 0
    assert [(s, n) for _, s, n in _outbox(db)] == [("failed", 3)] * 5
    assert _ledger(db, capsys) == []


def test_retries_due_later_are_left_for_a_later_send(db, tmp_path, capsys, monkeypatch):
    with running_sink(tmp_path, tempfail_next=1) as sink:
        monkeypatch.setenv("SCHOOLPASS_RETRY_BASE_SECONDS", "3600")
        load_roster(db.engine)
        load_results(db.engine, tmp_path, [("t-1", "Not Detected", "11/20/2021")] +
                     [(who, "Not Detected", "11/20/2021") for who in EVERYONE if who != "t-1"])
        result = run(capsys, "--db", db.url, "daily", "--on", "2021-11-22", "--smtp", sink.url)
        assert result.code == 4, result.err  # one message waits for its retry
        assert "still wait" in result.err
        assert sink.handler.accepted == 4
        with db.engine.begin() as conn:  # an hour later
            conn.exec_driver_sql("UPDATE outbox SET next_attempt_at = NULL WHERE state = 'planned'")
        again = run(capsys, "--db", db.url, "send", "--smtp", sink.url)
        assert again.code == 0, again.err
        assert sink.handler.accepted == 5
