"""The family portal and the daily pass gate, on both databases.

Dates come from the real today in the district zone (the portal always works on today).
Sample roster: Ana García (p-1, Spanish) is the parent of s-1 and s-2; Roberto Díaz (p-2) is
s-1's guardian, marked deny; s-3, s-4 and t-1 belong to other families or to themselves.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from schoolpass.settings import load_settings
from schoolpass.web import accounts, family
from schoolpass.web.app import create_app
from schoolpass.web.family_models import Attestation, FamilySession, FamilySignInLink
from tests.notices.district import ZONE, load_results, load_roster
from tests.notices.sink import running_sink
from tests.web.staff_setup import PASSWORD, cheap_hasher, csrf_of, personal_values, sign_in

ANA, ROBERTO = "ana.garcia@example.net", "roberto.diaz@example.net"
PERSONAL = personal_values()
TOKEN = re.compile(r"sp1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def _personal_in(body: str) -> list[str]:
    return [v for v in PERSONAL if re.search(rf"(?<!\w){re.escape(v)}(?!\w)", body)]


def _raw_key(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                              serialization.NoEncryption())).decode()


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch):
    monkeypatch.setattr(accounts, "_hasher", cheap_hasher())


@pytest.fixture
def portal(db, tmp_path):
    """The sample district with s-1 positive two days ago and s-2 negative yesterday; yields (app, sink, key)."""
    today = datetime.now(ZoneInfo(ZONE)).date()
    day = lambda n: (today - timedelta(days=n)).strftime("%m/%d/%Y")  # noqa: E731
    load_roster(db.engine)
    load_results(db.engine, tmp_path, [("s-1", "Detected", day(2)), ("s-2", "Not Detected", day(1))])
    accounts.add_account(db.engine, "gate@district.example.org", "viewer", PASSWORD)
    key = Ed25519PrivateKey.generate()
    with running_sink(tmp_path) as sink:
        app = create_app(load_settings(database_url=db.url, smtp_url=sink.url, pass_private_key=_raw_key(key),
                                       base_url="http://testserver"))
        yield app, sink, key, db


def _ask_link(client: TestClient, address: str):
    page = client.get("/family/")
    assert page.status_code == 200
    return client.post("/family/", data={"email": address, "csrf": csrf_of(page.text)})


def _links(sink) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for message in sink.messages():
        body = message.get_content()
        found.setdefault(str(message["To"]).lower(), []).extend(re.findall(r"/family/enter/([A-Za-z0-9_-]+)", body))
    return found


def _signed_in_family(app, sink, address: str = ANA) -> TestClient:
    client = TestClient(app)
    assert _ask_link(client, address).status_code == 200
    token = _links(sink)[address][-1]
    entered = client.get(f"/family/enter/{token}", follow_redirects=False)
    assert entered.status_code == 303 and entered.headers["location"] == "/family/home"
    return client


def _session_for(app, db, address: str) -> TestClient:
    """A signed-in family client without an email (for addresses the portal never emails)."""
    token = family.create_link(db.engine, address, datetime.now(UTC))
    client = TestClient(app)
    assert client.get(f"/family/enter/{token}", follow_redirects=False).status_code == 303
    return client


def _staff(app) -> TestClient:
    client = TestClient(app)
    assert sign_in(client, "gate@district.example.org").status_code == 303
    return client


def _gate(client: TestClient, token: str):
    page = client.get("/gate/")
    assert page.status_code == 200 and 'name="token"' in page.text and "autofocus" in page.text
    return client.post("/gate/", data={"token": token, "csrf": csrf_of(page.text)})


def test_sign_in_answers_the_same_and_emails_only_a_roster_address(portal):
    app, sink, _, _ = portal
    client = TestClient(app)
    known = _ask_link(client, "Ana.Garcia@Example.net")
    unknown = _ask_link(client, "nobody@example.net")
    denied = _ask_link(client, ROBERTO)  # on the roster, but authorized for nobody
    assert known.status_code == unknown.status_code == denied.status_code == 200
    assert known.text == unknown.text == denied.text
    assert "a link is on its way" in known.text
    messages = sink.messages()
    assert len(messages) == 1
    (message,) = messages
    assert str(message["To"]).lower() == ANA
    assert message["Message-ID"] and message["Date"] and message.get_content_type() == "text/plain"
    assert "http://testserver/family/enter/" in message.get_content()
    assert "María" not in message.get_content() and "Luis" not in message.get_content()


def test_sign_in_without_smtp_sends_nothing_and_answers_the_same(db):
    load_roster(db.engine)
    app = create_app(load_settings(database_url=db.url))
    client = TestClient(app)
    answer = _ask_link(client, ANA)
    assert answer.status_code == 200 and "a link is on its way" in answer.text
    with db.engine.connect() as conn:
        assert conn.execute(select(FamilySignInLink)).first() is None


def test_sign_in_is_rate_limited_per_client(portal):
    app, _, _, _ = portal
    client = TestClient(app)
    codes = [_ask_link(client, f"x{n}@example.net").status_code for n in range(family.SIGN_IN_LIMIT + 1)]
    assert codes[-1] == 429 and set(codes[:-1]) == {200}


def test_the_link_works_once_and_sets_a_strict_cookie(portal):
    app, sink, _, db = portal
    client = TestClient(app)
    _ask_link(client, ANA)
    (token,) = _links(sink)[ANA]
    entered = client.get(f"/family/enter/{token}", follow_redirects=False)
    assert entered.status_code == 303
    cookie = entered.headers["set-cookie"].lower()
    assert cookie.startswith("sp_family=") and "httponly" in cookie and "samesite=strict" in cookie
    assert "path=/family" in cookie and "secure" not in cookie  # plain http in tests
    assert client.get("/family/home").status_code == 200
    again = TestClient(app).get(f"/family/enter/{token}", follow_redirects=False)
    assert again.status_code == 410 and "family_sessions" not in again.text
    with db.engine.connect() as conn:
        stored = [*conn.execute(select(FamilySignInLink.token_hash)).scalars(),
                  *conn.execute(select(FamilySession.id)).scalars()]
    assert len(stored) == 2 and all(token not in value for value in stored)  # only hashes are kept


def test_the_link_expires_after_15_minutes(portal):
    app, sink, _, db = portal
    client = TestClient(app)
    _ask_link(client, ANA)
    (token,) = _links(sink)[ANA]
    with db.engine.begin() as conn:
        conn.execute(update(FamilySignInLink).values(created_at=datetime.now(UTC) - timedelta(minutes=15, seconds=1)))
    assert client.get(f"/family/enter/{token}", follow_redirects=False).status_code == 410
    assert client.get("/family/home", follow_redirects=False).status_code == 303


def test_a_family_sees_only_whom_it_is_authorized_for(portal):
    app, sink, _, db = portal
    ana = _signed_in_family(app, sink)
    home = ana.get("/family/home")
    assert home.status_code == 200 and 'lang="es"' in home.text
    assert "/family/people/s-1" in home.text and "/family/people/s-2" in home.text
    assert "María García" in home.text and "Luis García" in home.text
    assert "Debe quedarse en casa" in home.text and "Puede asistir a la escuela" in home.text  # isolating, cleared
    for other in ("s-3", "s-4", "t-1", "p-1", "nobody"):
        assert other not in home.text
        refused = ana.get(f"/family/people/{other}")
        assert refused.status_code == 404 and not _personal_in(refused.text)
        assert ana.get(f"/family/pass/{other}").status_code == 404
        page = ana.get("/family/people/s-2")
        posted = ana.post(f"/family/people/{other}", data={"csrf": csrf_of(page.text), "fever": "no",
                                                          "cough": "no", "contact": "no"})
        assert posted.status_code == 404 and not _personal_in(posted.text)
    page = ana.get("/family/people/s-1")
    assert page.status_code == 200 and "María García" in page.text and "Positivo" in page.text

    roberto = _session_for(app, db, ROBERTO)
    nobody = roberto.get("/family/home")
    assert nobody.status_code == 200 and "/family/people/" not in nobody.text and "María" not in nobody.text
    for subject in ("s-1", "s-2"):
        refused = roberto.get(f"/family/people/{subject}")
        assert refused.status_code == 404 and not _personal_in(refused.text)

    stranger = TestClient(app)
    assert stranger.get("/family/home", follow_redirects=False).status_code == 303
    assert stranger.get("/family/people/s-1", follow_redirects=False).status_code == 303
    refused = stranger.post("/family/people/s-1", data={"fever": "no", "cough": "no", "contact": "no"})
    assert refused.status_code == 403 and not _personal_in(refused.text)


def _attest(client: TestClient, subject: str, **answers):
    page = client.get(f"/family/people/{subject}")
    return client.post(f"/family/people/{subject}", data={"csrf": csrf_of(page.text), **answers},
                       follow_redirects=False)


def test_attestation_and_a_clear_status_give_a_pass_that_the_gate_accepts(portal):
    app, sink, key, db = portal
    ana = _signed_in_family(app, sink)
    assert "/family/pass/s-2" not in ana.get("/family/people/s-2").text
    assert ana.get("/family/pass/s-2").status_code == 403  # no attestation yet
    assert _attest(ana, "s-2", fever="no", cough="").status_code == 400  # every question needs an answer
    assert _attest(ana, "s-2", fever="no", cough="no", contact="no").status_code == 303
    assert _attest(ana, "s-2", fever="yes", cough="no", contact="no").status_code == 303  # the first answer stands
    with db.engine.connect() as conn:
        (stored,) = conn.execute(select(Attestation.answers, Attestation.address_key)).all()
    assert stored.address_key == ANA and '"fever": false' in stored.answers
    page = ana.get("/family/people/s-2")
    assert "/family/pass/s-2" in page.text
    shown = ana.get("/family/pass/s-2")
    assert shown.status_code == 200 and 'src="data:image/svg+xml' in shown.text
    (token,) = set(TOKEN.findall(shown.text))

    # Isolating s-1: attested, still no pass.
    assert _attest(ana, "s-1", fever="no", cough="no", contact="no").status_code == 303
    assert "/family/pass/s-1" not in ana.get("/family/people/s-1").text
    assert ana.get("/family/pass/s-1").status_code == 403

    gate = _staff(app)
    valid = _gate(gate, token)
    assert valid.status_code == 200 and "valid today" in valid.text and "not valid" not in valid.text
    assert "Luis G." in valid.text and "Harbor Elementary" in valid.text and "García" not in valid.text

    prefix, payload, signature = token.split(".")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    forged = raw.replace(b"Luis", b"Luke")
    tampered = f"{prefix}.{base64.urlsafe_b64encode(forged).rstrip(b'=').decode()}.{signature}"
    today = datetime.now(ZoneInfo(ZONE)).date()
    yesterday = family.sign_pass(key, "s-2", "Luis", "G", "Harbor Elementary", today - timedelta(days=1))
    tomorrow = family.sign_pass(key, "s-2", "Luis", "G", "Harbor Elementary", today + timedelta(days=1))
    other_key = family.sign_pass(Ed25519PrivateKey.generate(), "s-2", "Luis", "G", "Harbor Elementary", today)
    for bad in (tampered, yesterday, tomorrow, other_key, token[:-2], "hello", ""):
        answer = _gate(gate, bad)
        assert answer.status_code in (200, 422) and "valid today" not in answer.text
        if answer.status_code == 200:
            assert "not valid" in answer.text and "Luis" not in answer.text


def test_the_gate_verifies_with_the_public_key_alone(db, tmp_path):
    """A gate-only deployment holds the public key (PEM) and no private key: it checks passes, issues none."""
    load_roster(db.engine)
    accounts.add_account(db.engine, "gate@district.example.org", "viewer", PASSWORD)
    key = Ed25519PrivateKey.generate()
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    app = create_app(load_settings(database_url=db.url, pass_public_key=public_pem))
    today = datetime.now(ZoneInfo(ZONE)).date()
    token = family.sign_pass(key, "s-2", "Luis", "G", "Harbor Elementary", today)
    gate = _staff(app)
    assert "valid today" in _gate(gate, token).text
    ana = _session_for(app, db, ANA)
    refused = ana.get("/family/pass/s-2")
    assert refused.status_code == 503 and "daily pass not configured" in refused.text


def test_without_a_key_pass_and_gate_are_disabled(db):
    load_roster(db.engine)
    accounts.add_account(db.engine, "gate@district.example.org", "viewer", PASSWORD)
    app = create_app(load_settings(database_url=db.url))
    gate = _staff(app)
    assert "daily pass not configured" in gate.get("/gate/").text
    ana = _session_for(app, db, ANA)
    assert "daily pass not configured" in ana.get("/family/pass/s-2").text


def test_the_gate_requires_a_staff_session(portal):
    app, sink, key, _ = portal
    token = family.sign_pass(key, "s-2", "Luis", "G", "Harbor Elementary", datetime.now(ZoneInfo(ZONE)).date())
    anonymous = TestClient(app)
    assert anonymous.get("/gate/", follow_redirects=False).status_code == 303
    refused = anonymous.get("/staff/gate/", follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"] == "/staff/login"
    posted = anonymous.post("/staff/gate/", data={"token": token, "csrf": "x"})
    assert posted.status_code == 403 and "valid today" not in posted.text and "Luis" not in posted.text
    assert not _personal_in(posted.text)
    ana = _signed_in_family(app, sink)  # a family session is not a staff session
    assert ana.get("/staff/gate/", follow_redirects=False).status_code == 303
    staff = _staff(app)
    page = staff.get("/staff/gate/")
    assert staff.post("/staff/gate/", data={"token": token, "csrf": "wrong"}).status_code == 403
    assert "valid today" in staff.post("/staff/gate/", data={"token": token, "csrf": csrf_of(page.text)}).text
