"""The SMTP sink, exercised with real smtplib clients over loopback."""

from __future__ import annotations

import queue
import signal
import smtplib
import subprocess
import sys
import threading
import time
from email.message import EmailMessage

import pytest

from schoolpass.errors import SchoolpassError
from schoolpass.notices.sink import Faults, Sink, read_maildir, split_envelope, summarize
from tests.notices.sink import free_port, running_sink

SENDER = "notices@district.example"


def raw_message(to: str, subject: str, body: str, language: str = "en") -> bytes:
    """A message as exact bytes: CRLF line ends, 8-bit UTF-8 body, a dot-leading line (stuffed on the wire)."""
    lines = [
        f"From: Schoolpass <{SENDER}>",
        f"To: {to}",
        f"Subject: {subject}",
        f"Content-Language: {language}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        body,
        ".a line starting with a dot",
        "",
    ]
    return "\r\n".join(lines).encode("utf-8")


def test_advertises_8bitmime_smtputf8_and_a_1mb_size_limit(tmp_path):
    with running_sink(tmp_path) as sink, smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as client:
        client.ehlo()
        assert client.has_extn("8bitmime")
        assert client.has_extn("smtputf8")
        assert client.esmtp_features["size"] == str(1024 * 1024)
        assert sink.url == f"smtp://127.0.0.1:{sink.port}"


def test_messages_over_one_connection_are_stored_byte_exact(tmp_path):
    first = raw_message("parent.one@example.org", "Résultat du dépistage", "Bonjour — votre enfant est négatif.\r\n"
                        "Second line, ñ and 漢字.", language="fr")
    second = raw_message("Ünïcode Parent <élève@example.org>", "Screening result", "Hello, ☃.")
    with running_sink(tmp_path) as sink, smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as client:
        assert client.sendmail(SENDER, ["parent.one@example.org", "bcc@example.org"], first,
                               mail_options=["BODY=8BITMIME"]) == {}
        assert client.sendmail(SENDER, ["élève@example.org"], second,
                               mail_options=["BODY=8BITMIME", "SMTPUTF8"]) == {}
        assert (sink.handler.accepted, sink.handler.attempts) == (2, 2)

        stored = sink.raw_messages()
        assert stored == [
            b"X-Envelope-To: parent.one@example.org\r\nX-Envelope-To: bcc@example.org\r\n" + first,
            "X-Envelope-To: élève@example.org\r\n".encode() + second,
        ]
        assert split_envelope(stored[0]) == (["parent.one@example.org", "bcc@example.org"], first)

        parsed = sink.messages()
        assert parsed[0].get_all("X-Envelope-To") == ["parent.one@example.org", "bcc@example.org"]
        assert parsed[0]["To"].addresses[0].addr_spec == "parent.one@example.org"
        assert parsed[0].get_content().startswith("Bonjour — votre enfant est négatif.")
        assert parsed[1]["X-Envelope-To"] == parsed[1]["To"].addresses[0].addr_spec == "élève@example.org"

    assert summarize(sink.maildir) == [
        ("parent.one@example.org, bcc@example.org", "fr", "Résultat du dépistage"),
        ("élève@example.org", "en", "Screening result"),
    ]
    assert read_maildir(sink.maildir) == stored


def test_an_email_message_sent_with_send_message_round_trips(tmp_path):
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = "parent@example.org"
    message["Subject"] = "Prueba de detección"
    message["Content-Language"] = "es"
    message.set_content("Su hijo/a dio negativo. ¡Gracias!")
    with running_sink(tmp_path) as sink, smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as client:
        client.send_message(message)
        (received,) = sink.messages()
    assert received["Subject"] == "Prueba de detección"
    assert received["X-Envelope-To"] == "parent@example.org"
    assert received.get_content() == message.get_content()


def test_send_message_to_a_non_ascii_address_uses_smtputf8_and_the_headers_read_back(tmp_path):
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = "Zoë Müller <zoë.müller@example.org>"
    message["Subject"] = "Testergebnis"
    message.set_content("Negativ.")
    with running_sink(tmp_path) as sink, smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as client:
        client.send_message(message)  # adds SMTPUTF8 and BODY=8BITMIME, sends the headers as raw UTF-8
        (raw,) = sink.raw_messages()
        (received,) = sink.messages()
    assert "To: Zoë Müller <zoë.müller@example.org>".encode() in raw
    assert received["X-Envelope-To"] == received["To"].addresses[0].addr_spec == "zoë.müller@example.org"
    assert received["To"].addresses[0].display_name == "Zoë Müller"


def test_tempfail_answers_451_the_given_number_of_times(tmp_path):
    message = raw_message("parent@example.org", "Result", "Negative.")
    with running_sink(tmp_path, tempfail_next=2) as sink, \
            smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as client:
        for _ in range(2):
            with pytest.raises(smtplib.SMTPDataError) as failure:
                client.sendmail(SENDER, ["parent@example.org"], message, mail_options=["BODY=8BITMIME"])
            assert failure.value.smtp_code == 451
            assert failure.value.smtp_error == b"4.3.0 try again later"
            assert sink.raw_messages() == []
        client.sendmail(SENDER, ["parent@example.org"], message, mail_options=["BODY=8BITMIME"])
        assert (sink.handler.attempts, sink.handler.accepted, sink.faults.tempfail_next) == (3, 1, 0)
        assert len(sink.raw_messages()) == 1


def test_drop_closes_the_connection_without_reply_and_stores_nothing(tmp_path):
    message = raw_message("parent@example.org", "Result", "Negative.")
    with running_sink(tmp_path, drop_next=1) as sink:
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as client:
            with pytest.raises(smtplib.SMTPServerDisconnected):
                client.sendmail(SENDER, ["parent@example.org"], message)
        assert sink.raw_messages() == []
        assert (sink.handler.attempts, sink.handler.accepted, sink.faults.drop_next) == (1, 0, 0)
        # The server itself is fine: a new connection gets through.
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as client:
            client.sendmail(SENDER, ["parent@example.org"], message)
        assert len(sink.raw_messages()) == 1


def test_rejected_addresses_get_550_while_others_are_accepted(tmp_path):
    message = raw_message("family@example.org", "Result", "Negative.")
    with running_sink(tmp_path, reject_addresses={"Gone@Example.org"}) as sink, \
            smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail(SENDER, ["gone@EXAMPLE.org"], message)
        assert refused.value.recipients == {"gone@EXAMPLE.org": (550, b"5.1.1 mailbox unavailable")}

        # Same connection: a mixed envelope delivers to the others and reports the refused one.
        refusals = client.sendmail(SENDER, ["mum@example.org", "gone@example.org", "dad@example.org"], message)
        assert refusals == {"gone@example.org": (550, b"5.1.1 mailbox unavailable")}
        (stored,) = sink.messages()
        assert stored.get_all("X-Envelope-To") == ["mum@example.org", "dad@example.org"]


def test_faults_can_change_while_the_server_runs(tmp_path):
    message = raw_message("parent@example.org", "Result", "Negative.")
    with running_sink(tmp_path) as sink, smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as client:
        client.sendmail(SENDER, ["parent@example.org"], message)
        sink.faults.update(tempfail_next=1, delay_seconds=0.3)
        started = time.monotonic()
        with pytest.raises(smtplib.SMTPDataError):
            client.sendmail(SENDER, ["parent@example.org"], message)
        assert time.monotonic() - started >= 0.3
        sink.faults.update(delay_seconds=0)
        sink.faults.reject("parent@example.org")
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail(SENDER, ["parent@example.org"], message)
        assert len(sink.raw_messages()) == 1


def test_a_client_that_times_out_during_the_delay_leaves_nothing_stored(tmp_path):
    message = raw_message("parent@example.org", "Result", "Negative.")
    with running_sink(tmp_path, delay_seconds=1.0) as sink:
        client = smtplib.SMTP("127.0.0.1", sink.port, timeout=10)
        client.sock.settimeout(0.2)
        with pytest.raises((smtplib.SMTPServerDisconnected, TimeoutError)):
            client.sendmail(SENDER, ["parent@example.org"], message)
        client.close()
        time.sleep(1.2)
        assert sink.raw_messages() == []
        assert sink.handler.attempts == 1


def test_concurrent_connections_all_land(tmp_path):
    with running_sink(tmp_path, delay_seconds=0.05) as sink:
        def send(n: int) -> None:
            with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as client:
                for k in range(3):
                    to = f"parent{n}.{k}@example.org"
                    client.sendmail(SENDER, [to], raw_message(to, f"Result {n}.{k}", "Negative."))

        threads = [threading.Thread(target=send, args=(n,)) for n in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sink.handler.accepted == 15
        assert sorted(m["X-Envelope-To"] for m in sink.messages()) == sorted(
            f"parent{n}.{k}@example.org" for n in range(5) for k in range(3))
        assert all(m["X-Envelope-To"] == m["To"] for m in sink.messages())


def test_messages_over_1mb_are_refused(tmp_path):
    fits = raw_message("parent@example.org", "Big", "x" * 70 + ("\r\n" + "x" * 70) * 14_000)
    too_big = raw_message("parent@example.org", "Too big", "x" * 70 + ("\r\n" + "x" * 70) * 15_000)
    with running_sink(tmp_path) as sink, smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as client:
        client.sendmail(SENDER, ["parent@example.org"], fits)
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:  # smtplib declares SIZE=, refused at MAIL
            client.sendmail(SENDER, ["parent@example.org"], too_big)
        assert refused.value.smtp_code == 552
        assert len(sink.raw_messages()) == 1


def test_sink_with_a_fixed_port_and_an_existing_empty_folder(tmp_path):
    folder = tmp_path / "existing"
    folder.mkdir()
    port = free_port()
    with Sink(folder, port=port, faults=Faults()) as sink:
        assert sink.port == port
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail(SENDER, ["parent@example.org"], raw_message("parent@example.org", "Hi", "Hello."))
        assert len(sink.raw_messages()) == 1


def test_a_busy_port_is_a_clear_error(tmp_path):
    with running_sink(tmp_path) as sink:
        with pytest.raises(SchoolpassError, match=f"cannot listen on 127.0.0.1:{sink.port}"):
            Sink(tmp_path / "other", port=sink.port).start()


def _read_line(stream, timeout: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return ""


def test_the_cli_serves_until_sigterm(tmp_path):
    port = free_port()
    maildir = tmp_path / "mail"
    process = subprocess.Popen(
        [sys.executable, "-c",
         "from schoolpass.notices.sink import smtp_sink_command; import typer; typer.run(smtp_sink_command)",
         "--port", str(port), "--maildir", str(maildir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
    )
    try:
        line = _read_line(process.stdout, timeout=30)
        assert line == f"smtp-sink listening on smtp://127.0.0.1:{port}, storing to {maildir}\n", (
            line, process.poll())
        message = raw_message("parent@example.org", "Résultat", "Négatif.", language="fr")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail(SENDER, ["parent@example.org"], message, mail_options=["BODY=8BITMIME"])
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert read_maildir(maildir) == [b"X-Envelope-To: parent@example.org\r\n" + message]
    assert summarize(maildir) == [("parent@example.org", "fr", "Résultat")]
