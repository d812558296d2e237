"""The disclosure guard in the send path: rendering and planning bugs injected through the real code paths.

Each test breaks one thing on purpose and runs the real `daily`/`send` against a real sink;
the broken message must not reach the sink, must be recorded as blocked, and the rest go on.
"""

from __future__ import annotations

from schoolpass.notices import planning, sender
from schoolpass.notices.content import render as real_render
from schoolpass.notices.guard import read_back
from schoolpass.notices.sink import split_envelope
from schoolpass.roster.authorization import Addressee
from tests.cli import run
from tests.notices.district import load_results, load_roster
from tests.notices.sink import running_sink
from tests.roster.exports import read_sample, write_export

EVERYONE = ["s-1", "s-2", "s-3", "s-4", "t-1"]


def _district(db, tmp_path):
    load_roster(db.engine)
    load_results(db.engine, tmp_path, [(who, "Not Detected", "11/20/2021") for who in EVERYONE])


def _states(db) -> dict[str, str]:
    with db.engine.connect() as conn:
        return {f"{s}>{a}": state for s, a, state in conn.exec_driver_sql(
            "SELECT subject_id, address, state FROM outbox")}


def _envelopes(sink) -> list[str]:
    return sorted(",".join(split_envelope(raw)[0]) for raw in sink.raw_messages())


def _break_render_for(subject_name: str, change):
    """A render that damages the message whose subject line names `subject_name` (e.g. 'María G.')."""

    def broken(letter, **kw):
        raw = real_render(letter, **kw)
        return change(raw, letter, kw) if letter.given_name + " " in subject_name + " " else raw

    return broken


def _daily(db, capsys, sink):
    return run(capsys, "--db", db.url, "daily", "--on", "2021-11-22", "--smtp", sink.url)


def test_a_cc_added_by_a_rendering_bug_is_blocked(db, tmp_path, capsys, monkeypatch):
    _district(db, tmp_path)
    add_cc = lambda raw, letter, kw: raw.replace(b"\r\nSubject:", b"\r\nCc: emeka.okafor@example.net\r\nSubject:", 1)
    monkeypatch.setattr(sender, "render", _break_render_for("Jide O.", add_cc))
    with running_sink(tmp_path) as sink:
        result = _daily(db, capsys, sink)
        assert result.code == 0, result.err
        assert "emeka.okafor@example.net" not in " ".join(_envelopes(sink))
        assert len(sink.raw_messages()) == 4
    assert _states(db)["s-4>grace.okafor@example.net"] == "blocked"
    assert "blocked by the guard 1" in result.out


def test_a_list_of_addresses_in_one_to_is_blocked(db, tmp_path, capsys, monkeypatch):
    _district(db, tmp_path)
    two = lambda raw, letter, kw: raw.replace(b"\r\nTo: " + kw["to"].encode(),
                                              b"\r\nTo: " + kw["to"].encode() + b", linh.nguyen@example.net", 1)
    monkeypatch.setattr(sender, "render", _break_render_for("Thao N.", two))
    with running_sink(tmp_path) as sink:
        assert _daily(db, capsys, sink).code == 0
        assert all("linh.nguyen" not in e for e in _envelopes(sink))
        assert all(b"linh.nguyen" not in raw for raw in sink.raw_messages())
    assert _states(db)["s-3>tnguyen@students.example.org"] == "blocked"


def test_a_template_rendered_with_another_subjects_data_is_blocked(db, tmp_path, capsys, monkeypatch):
    """The message to Grace (about Jide) is rendered with María's name: the guard sees the mismatch."""
    _district(db, tmp_path)

    def other_subject(letter, **kw):
        if letter.given_name == "Jide":
            from dataclasses import replace

            letter = replace(letter, given_name="María", family_name="García")
        return real_render(letter, **kw)

    monkeypatch.setattr(sender, "render", other_subject)
    with running_sink(tmp_path) as sink:
        assert _daily(db, capsys, sink).code == 0
        assert all("grace.okafor" not in e for e in _envelopes(sink))
    assert _states(db)["s-4>grace.okafor@example.net"] == "blocked"


def test_a_link_token_of_another_message_is_blocked(db, tmp_path, capsys, monkeypatch):
    """Rendering with a token cached from the previous message: it would disclose another child."""
    _district(db, tmp_path)
    previous: list[str] = []

    def stale_token(letter, **kw):
        from dataclasses import replace

        token = letter.token
        if previous:
            letter = replace(letter, token=previous[-1])
        previous.append(token)
        return real_render(letter, **kw)

    monkeypatch.setattr(sender, "render", stale_token)
    with running_sink(tmp_path) as sink:
        assert _daily(db, capsys, sink).code == 0
        assert len(sink.raw_messages()) == 1  # only the first message carried its own token
    assert sorted(_states(db).values()) == ["blocked"] * 4 + ["sent"]


def test_a_custody_change_after_planning_blocks_the_stale_message(db, tmp_path, capsys, monkeypatch):
    """Planned while p-1 was linked to s-1; the link ends before sending: that message is blocked, s-2's goes."""
    _district(db, tmp_path)
    monkeypatch.setenv("SCHOOLPASS_RETRY_BASE_SECONDS", "3600")
    planned = run(capsys, "--db", db.url, "daily", "--on", "2021-11-22", "--smtp", "smtp://127.0.0.1:9")  # no server
    assert planned.code == 4, planned.err  # everything waits for a retry
    users = read_sample("users.csv")
    for user in users:
        if user["sourcedId"] == "s-1":
            user["agentSourcedIds"] = "p-2"
        if user["sourcedId"] == "p-1":
            user["agentSourcedIds"] = "s-2"
    from datetime import date

    from schoolpass.roster.importer import import_roster

    import_roster(db.engine, write_export(tmp_path / "custody", users=users), date(2021, 11, 21))
    with db.engine.begin() as conn:  # the connection failures above scheduled retries: make them due now
        conn.exec_driver_sql("UPDATE outbox SET next_attempt_at = NULL WHERE state = 'planned'")
    with running_sink(tmp_path) as sink:
        result = run(capsys, "--db", db.url, "send", "--smtp", sink.url)
        assert result.code == 0, result.err
        about = sorted(str(read_back(split_envelope(raw)[1]).subject) for raw in sink.raw_messages())
    states = _states(db)
    assert states["s-1>ana.garcia@example.net"] == "blocked"
    assert states["s-2>ana.garcia@example.net"] == "sent"
    assert not any(s.startswith("María G.") or "María G." in s for s in about)


def test_the_whole_run_check_stops_a_plan_with_an_unauthorized_address(db, tmp_path, capsys, monkeypatch):
    """A join bug adds the denied guardian's address: exit 3, nothing sent, the run's messages blocked."""
    _district(db, tmp_path)
    real = planning.notice_addresses

    def leaky(conn, on, subject_ids=None, known_after=None):
        found = real(conn, on, subject_ids, known_after)
        found.setdefault("s-1", []).append(Addressee("p-2", "roberto.diaz@example.net", "roberto.diaz@example.net", "es"))
        return found

    monkeypatch.setattr(planning, "notice_addresses", leaky)
    with running_sink(tmp_path) as sink:
        result = _daily(db, capsys, sink)
        assert result.code == 3
        assert "whole-run check" in result.err and "roberto" not in result.err
        assert sink.raw_messages() == []
    assert set(_states(db).values()) == {"blocked"}


def test_the_whole_run_check_stops_a_plan_that_doubles_a_notice(db, tmp_path, capsys, monkeypatch):
    """A recipient list that is not reset between subjects: the same address twice for one subject."""
    _district(db, tmp_path)
    real = planning.notice_addresses

    def doubled(conn, on, subject_ids=None, known_after=None):
        found = real(conn, on, subject_ids, known_after)
        grace = found["s-4"][0]
        found["s-4"].append(Addressee(grace.recipient_id, grace.address.upper(), grace.address_key + " ", "en"))
        return found

    monkeypatch.setattr(planning, "notice_addresses", doubled)
    with running_sink(tmp_path) as sink:
        result = _daily(db, capsys, sink)
        assert result.code == 3, result.out + result.err
        assert sink.raw_messages() == []
