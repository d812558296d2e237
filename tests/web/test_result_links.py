"""The result link page, on both databases: name only before the birth date, details after, 410/423/404."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from schoolpass.notices.links import reissue
from schoolpass.notices.sink import parse
from schoolpass.notices.tokens import find_tokens
from schoolpass.settings import load_settings
from schoolpass.web.app import create_app
from tests.cli import run
from tests.notices.district import load_results, load_roster
from tests.notices.sink import running_sink


@pytest.fixture
def sent(db, tmp_path, capsys):
    """The sample district after one daily run; yields (client, {address-subject: token}, sink)."""
    load_roster(db.engine)
    load_results(db.engine, tmp_path, [("s-1", "Detected", "11/20/2021"), ("s-2", "Not Detected", "11/20/2021")])
    with running_sink(tmp_path) as sink:
        assert run(capsys, "--db", db.url, "daily", "--on", "2021-11-22", "--smtp", sink.url).code == 0
        tokens = {}
        for raw in sink.raw_messages():
            message = parse(raw)
            (token,) = find_tokens(raw)
            tokens[(str(message["To"]), str(message["Subject"]))] = token
        app = create_app(load_settings(database_url=db.url))
        with TestClient(app) as client:
            yield client, tokens, sink, db


def _token(tokens, to, name):
    return next(t for (address, subject), t in tokens.items() if address == to and name in subject)


def _submit(client, token, birth_date):
    page = client.get(f"/r/{token}")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    return client.post(f"/r/{token}", data={"birth_date": birth_date, "csrf": csrf})


def test_before_the_proof_only_the_given_name_and_initial_show(sent):
    client, tokens, _, _ = sent
    page = client.get(f"/r/{_token(tokens, 'ana.garcia@example.net', 'María')}")
    assert page.status_code == 200
    assert "María G." in page.text and "García" not in page.text
    assert "2013" not in page.text and "Positiv" not in page.text and "isolat" not in page.text.lower()
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_the_right_birth_date_shows_the_details_and_is_logged(sent):
    client, tokens, _, db = sent
    answer = _submit(client, _token(tokens, "ana.garcia@example.net", "María"), "2013-04-02")
    assert answer.status_code == 200
    assert "Positivo" in answer.text and "2021-11-20" in answer.text  # Spanish: the recipient's language
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT actor, action, subject_id FROM access_log").all()
    assert [tuple(r) for r in rows] == [("result-link", "result-link-view", "s-1")]


def test_ten_wrong_birth_dates_lock_the_link(sent):
    client, tokens, _, _ = sent
    token = _token(tokens, "ana.garcia@example.net", "Luis")
    first = _submit(client, token, "2011-09-18")
    assert first.status_code == 200 and "Intentos restantes: 9" in first.text
    for _ in range(8):
        _submit(client, token, "nonsense")
    last = client.post(f"/r/{token}", data={"birth_date": "2000-01-01", "csrf": client.cookies.get("sp_csrf")})
    assert last.status_code == 423
    assert client.get(f"/r/{token}").status_code == 423
    again = client.post(f"/r/{token}", data={"birth_date": "2011-09-17", "csrf": client.cookies.get("sp_csrf")})
    assert again.status_code == 423 and "Luis" not in again.text and "Negativ" not in again.text


def test_links_expire_ten_days_after_the_send(sent):
    from sqlalchemy import select, update

    from schoolpass.notices.models import OutboxMessage

    client, tokens, _, db = sent
    token = _token(tokens, "ana.garcia@example.net", "María")
    assert client.get(f"/r/{token}").status_code == 200
    with db.engine.begin() as conn:
        for row_id, sent_at in conn.execute(select(OutboxMessage.id, OutboxMessage.sent_at)).all():
            conn.execute(update(OutboxMessage).where(OutboxMessage.id == row_id)
                         .values(sent_at=sent_at - timedelta(days=10)))
    gone = client.get(f"/r/{token}")
    assert gone.status_code == 410 and "María" not in gone.text


def test_unknown_tokens_and_missing_csrf_are_refused(sent):
    client, tokens, _, _ = sent
    assert client.get("/r/" + "A" * 32).status_code == 404
    assert client.get("/r/%00%ff").status_code == 404
    token = _token(tokens, "ana.garcia@example.net", "María")
    refused = client.post(f"/r/{token}", data={"birth_date": "2013-04-02", "csrf": "forged"})
    assert refused.status_code == 403 and "María" not in refused.text
    assert client.get("/healthz").json() == {"status": "ok"}


def test_staff_reissue_replaces_the_link_and_the_message_goes_out_again(sent, capsys):
    client, tokens, sink, db = sent
    old = _token(tokens, "ana.garcia@example.net", "María")
    before = len(run(capsys, "--db", db.url, "ledger", "export", "--json").out.splitlines())
    with db.engine.begin() as conn:
        from sqlalchemy import text

        row = conn.execute(text("SELECT o.id FROM outbox o WHERE o.subject_id = 's-1'")).scalar_one()
        reissue(conn, row, "nurse.kim", "localhost")
    assert client.get(f"/r/{old}").status_code == 410
    assert run(capsys, "--db", db.url, "send", "--smtp", sink.url).code == 0
    newest = sink.raw_messages()[-1]
    (token,) = find_tokens(newest)
    assert token != old and client.get(f"/r/{token}").status_code == 200
    entries = run(capsys, "--db", db.url, "ledger", "export", "--json").out.splitlines()
    assert len(entries) == before + 1  # the re-issued message is a new disclosure
