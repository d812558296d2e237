"""The family page keeps what it worked out per state of the data: any change shows on the next request.

Each test first loads the pages (so they are kept), then changes the data the way the district does
(a roster import, a results import, a staff unmatch, a stored policy) and expects the very next
request to show the change. Without the data version in the key, each of them would fail.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from schoolpass.policy.model import default_policy_text
from schoolpass.policy.store import store_policy
from schoolpass.results.models import LabResult
from schoolpass.results.queue import unmatch
from schoolpass.settings import load_settings
from schoolpass.web import family
from schoolpass.web.app import create_app
from tests.notices.district import ZONE, correct_custody, load_results, load_roster

ANA = "ana.garcia@example.net"
ISOLATING, CLEARED = "Debe quedarse en casa", "Puede asistir a la escuela"
TEST_DUE, EXEMPT = "Debe hacerse una prueba", "Por ahora no necesita hacerse pruebas"


def _today():
    return datetime.now(ZoneInfo(ZONE)).date()


def _day(n: int) -> str:
    return (_today() - timedelta(days=n)).strftime("%m/%d/%Y")


@pytest.fixture
def ana(db, tmp_path):
    """Ana (p-1) signed in: parent of s-1 (positive two days ago) and s-2 (negative yesterday)."""
    load_roster(db.engine)
    load_results(db.engine, tmp_path, [("s-1", "Detected", _day(2)), ("s-2", "Not Detected", _day(1))])
    app = create_app(load_settings(database_url=db.url))
    token = family.create_link(db.engine, ANA, datetime.now(UTC))
    client = TestClient(app)
    assert client.get(f"/family/enter/{token}", follow_redirects=False).status_code == 303
    return app, client


def _rows(client: TestClient) -> dict[str, str]:
    """Subject id → the status line the home page shows for them."""
    page = client.get("/family/home")
    assert page.status_code == 200
    return dict(re.findall(r'<li><a href="/family/people/([^"]+)">.*?</a>.*?:\s*(.*?)</li>', page.text, re.S))


def _kept(app) -> int:
    families = getattr(app.state, "families", None)
    return len(families.families) if families else 0


def test_the_page_is_kept_and_answered_from_memory(ana, monkeypatch):
    app, client = ana
    first = _rows(client)
    assert set(first) == {"s-1", "s-2"} and _kept(app) == 1
    calls = []
    real = family.authorized_subjects
    monkeypatch.setattr(family, "authorized_subjects", lambda *a: calls.append(a) or real(*a))
    assert _rows(client) == first and _rows(client) == first
    assert calls == []  # nothing changed: the rule was not evaluated again
    assert client.get("/family/people/s-1").status_code == 200 and calls == []


def test_a_custody_change_shows_at_once(ana, db, tmp_path):
    app, client = ana
    assert set(_rows(client)) == {"s-1", "s-2"}
    assert client.get("/family/people/s-1").status_code == 200
    correct_custody(db.engine, tmp_path, as_of=_today().isoformat())  # s-1 is no longer Ana's, from today
    assert set(_rows(client)) == {"s-2"}
    assert client.get("/family/people/s-1").status_code == 404
    assert client.get("/family/pass/s-1").status_code == 404


def test_a_new_result_shows_at_once(ana, db, tmp_path):
    app, client = ana
    assert CLEARED in _rows(client)["s-2"]
    # Collected at midnight: not in the future, at whatever time of day the test runs.
    load_results(db.engine, tmp_path, [("s-2", "Detected", _day(0))], name="today.csv", at="00:00")
    assert ISOLATING in _rows(client)["s-2"]


def test_a_staff_unmatch_shows_at_once(ana, db):
    app, client = ana
    assert ISOLATING in _rows(client)["s-1"]
    with db.engine.connect() as conn:
        (result_id,) = conn.execute(select(LabResult.id).where(LabResult.person_id == "s-1")).scalars()
    unmatch(db.engine, result_id, by="nurse")
    assert TEST_DUE in _rows(client)["s-1"]


def test_a_stored_policy_shows_at_once(ana, db, tmp_path):
    app, client = ana
    assert ISOLATING in _rows(client)["s-1"]
    shorter = tmp_path / "policy.yaml"
    shorter.write_text(default_policy_text().replace("isolation_days: 10", "isolation_days: 1"), encoding="utf-8")
    store_policy(db.engine, Path(shorter))
    assert EXEMPT in _rows(client)["s-1"]


def test_a_revoked_or_expired_session_is_refused_at_once(ana, db):
    app, client = ana
    assert _rows(client)
    from sqlalchemy import update

    from schoolpass.web.family_models import FamilySession

    with db.engine.begin() as conn:
        conn.execute(update(FamilySession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert client.get("/family/home", follow_redirects=False).status_code == 303
    with db.engine.begin() as conn:
        conn.execute(update(FamilySession).values(expires_at=datetime.now(UTC) + timedelta(hours=1),
                                                  revoked_at=datetime.now(UTC)))
    assert client.get("/family/home", follow_redirects=False).status_code == 303


def test_each_request_gets_its_own_form_token(ana):
    app, client = ana
    first = client.get("/family/home").text
    other = TestClient(app, cookies={family.COOKIE: client.cookies[family.COOKIE], "sp_csrf": "x<y\"z"})
    second = other.get("/family/home").text
    token = client.cookies["sp_csrf"]
    assert f'name="csrf" value="{token}"' in first
    assert 'name="csrf" value="x&lt;y&#34;z"' in second and "x<y" not in second  # escaped like the template does
    assert family._CSRF_SLOT not in first + second
