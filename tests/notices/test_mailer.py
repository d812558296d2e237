"""The mailer's two steps (all of a message but the end of its data, then the end) against a real sink, and the
sender's promise built on them: a message is taken by the server only after the one before it is recorded."""

from __future__ import annotations

import socket

from schoolpass.notices.sender import Sender
from schoolpass.notices.sink import split_envelope
from schoolpass.notices.smtp import PERMANENT, SENT, Mailer, parse_smtp_url
from schoolpass.settings import load_settings
from tests.cli import run
from tests.notices.district import load_results, load_roster
from tests.notices.sink import running_sink
from tests.notices.test_sink import SENDER, raw_message

EVERYONE = ["s-1", "s-2", "s-3", "s-4", "t-1"]


def test_a_message_sent_in_two_steps_arrives_byte_exact_with_its_dot_lines(tmp_path):
    raw = raw_message("parent.one@example.org", "Screening result", "..two dots\r\n.\r\none dot alone, then more")
    unterminated = b"Subject: no line end at the end\r\n\r\n.last line starts with a dot"
    with running_sink(tmp_path) as sink:
        mailer = Mailer(parse_smtp_url(sink.url))
        assert mailer.begin(SENDER, "parent.one@example.org", raw) is None
        assert sink.handler.accepted == 0  # the server holds the data but has not taken the message
        assert mailer.finish().outcome == SENT
        assert mailer.send(SENDER, "parent.two@example.org", unterminated).outcome == SENT
        mailer.close()
        stored = [split_envelope(m) for m in sink.raw_messages()]
    assert stored == [(["parent.one@example.org"], raw), (["parent.two@example.org"], unterminated + b"\r\n")]


def test_data_never_ended_is_not_delivered_and_closing_does_not_wait(tmp_path):
    with running_sink(tmp_path) as sink:
        mailer = Mailer(parse_smtp_url(sink.url), timeout=5)
        assert mailer.begin(SENDER, "parent.one@example.org", raw_message("parent.one@example.org", "s", "b")) is None
        mailer.close()  # a QUIT here would be taken as message data, and wait for an answer that never comes
        again = Mailer(parse_smtp_url(sink.url))
        assert again.send(SENDER, "parent.two@example.org", raw_message("parent.two@example.org", "s", "b")).outcome \
            == SENT
        again.close()
        assert [split_envelope(m)[0] for m in sink.raw_messages()] == [["parent.two@example.org"]]


def test_a_refused_recipient_fails_that_message_only_on_the_same_connection(tmp_path):
    with running_sink(tmp_path, reject_addresses={"gone@example.org"}) as sink:
        mailer = Mailer(parse_smtp_url(sink.url))
        refused = mailer.begin(SENDER, "gone@example.org", raw_message("gone@example.org", "s", "b"))
        assert (refused.outcome, refused.code) == (PERMANENT, 550)
        assert mailer.send(SENDER, "parent.one@example.org", raw_message("parent.one@example.org", "s", "b")).outcome \
            == SENT
        assert mailer.connections == 1
        mailer.close()
        assert [split_envelope(m)[0] for m in sink.raw_messages()] == [["parent.one@example.org"]]


def test_the_end_of_the_data_is_not_held_back_by_nagle(tmp_path):
    """`finish` writes 3 bytes on their own; with Nagle's algorithm on they would wait ~40 ms for an ACK."""
    with running_sink(tmp_path) as sink:
        mailer = Mailer(parse_smtp_url(sink.url))
        assert mailer.send(SENDER, "parent.one@example.org", raw_message("parent.one@example.org", "s", "b")).outcome \
            == SENT
        assert mailer._smtp.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        mailer.close()


def test_pipelined_and_lockstep_envelopes_deliver_and_refuse_the_same(tmp_path):
    """RFC 2920: MAIL, RCPT and DATA go in one write when the server offers PIPELINING, one by one when not."""
    from schoolpass.notices.sink import Faults, Sink

    outcomes = {}
    for pipelining in (True, False):
        with Sink(tmp_path / f"mail-{pipelining}", faults=Faults(reject_addresses={"gone@example.org"}),
                  pipelining=pipelining) as sink:
            mailer = Mailer(parse_smtp_url(sink.url))
            sent = [mailer.send(SENDER, address, raw_message(address, "s", "b"))
                    for address in ("parent.one@example.org", "gone@example.org", "parent.two@example.org")]
            assert mailer._pipelining is pipelining
            assert mailer.connections == 1
            mailer.close()
            outcomes[pipelining] = ([(d.outcome, d.code) for d in sent],
                                    [split_envelope(m) for m in sink.raw_messages()])
    assert outcomes[True] == outcomes[False]
    assert outcomes[True][0] == [(SENT, 250), (PERMANENT, 550), (SENT, 250)]
    assert [envelope for envelope, _ in outcomes[True][1]] == [["parent.one@example.org"], ["parent.two@example.org"]]


def test_the_sink_answers_without_nagle(tmp_path, monkeypatch):
    """Pipelined commands' answers are written one right after another; with Nagle on at the server, each
    would wait ~40 ms for the client's delayed acknowledgement."""
    from schoolpass.notices.sink import MaildirHandler

    seen = []
    plain = MaildirHandler.handle_EHLO

    async def watched(self, server, session, envelope, hostname, responses):
        sock = server.transport.get_extra_info("socket")
        seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        return await plain(self, server, session, envelope, hostname, responses)

    monkeypatch.setattr(MaildirHandler, "handle_EHLO", watched)
    with running_sink(tmp_path) as sink:
        mailer = Mailer(parse_smtp_url(sink.url))
        assert mailer.send(SENDER, "parent.one@example.org", raw_message("parent.one@example.org", "s", "b")).outcome \
            == SENT
        mailer.close()
    assert seen and all(seen)


def test_the_server_takes_a_message_only_after_the_one_before_is_recorded(db, tmp_path, capsys, monkeypatch):
    """At most one message is ever taken by the server and not yet in the ledger (the one a crash may resend):
    at the moment each message's data is ended, the ledger holds every message the server has taken."""
    load_roster(db.engine)
    load_results(db.engine, tmp_path, [(who, "Not Detected", "11/20/2021") for who in EVERYONE])
    monkeypatch.setenv("SCHOOLPASS_RETRY_BASE_SECONDS", "3600")
    planned = run(capsys, "--db", db.url, "daily", "--on", "2021-11-22", "--smtp", "smtp://127.0.0.1:9")
    assert planned.code == 4, planned.out + planned.err  # nobody listens there: everything waits for a retry
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE outbox SET next_attempt_at = NULL WHERE state = 'planned'")

    def ledger_entries() -> int:
        with db.engine.connect() as conn:
            return conn.exec_driver_sql("SELECT count(*) FROM ledger_entries").scalar_one()

    with running_sink(tmp_path) as sink:
        mailer = Mailer(parse_smtp_url(sink.url))
        seen: list[tuple[int, int]] = []
        finish = mailer.finish

        def checked_finish():
            seen.append((sink.handler.accepted, ledger_entries()))
            return finish()

        monkeypatch.setattr(mailer, "finish", checked_finish)
        report = Sender(db.engine, load_settings(database_url=db.url, smtp_url=sink.url), mailer, batch=2).drain()
        taken = sink.handler.accepted
    assert report.sent == taken == ledger_entries() >= 4
    assert seen == [(n, n) for n in range(taken)]
