"""Journeys in a real browser (headless Chromium) against the live app, on both databases:
a nurse resolves an unmatched result; a parent signs in, attests with the keyboard and shows the pass;
the gate verifies it. Screenshots go to test-artifacts/; every page is checked with axe-core (WCAG 2.1 AA).

Dates come from the real today in the district zone (the portal and the gate always work on today).
"""

from __future__ import annotations

import base64
import re
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from schoolpass.results.importer import import_results
from schoolpass.results.models import LabResult
from schoolpass.settings import load_settings
from schoolpass.web import accounts
from tests.notices.district import ZONE, load_results, load_roster
from tests.notices.sink import running_sink
from tests.results.files import person, simplereport
from tests.web.axe import check_accessibility, new_page
from tests.web.browser import screenshot
from tests.web.live_server import live_server
from tests.web.staff_setup import PASSWORD, cheap_hasher

# One session-wide `browser` fixture for every browser test module (importing the fixture into each
# module would start a second Playwright in the same thread, which Playwright refuses).

ANA = "ana.garcia@example.net"
NURSE = "nurse@harbor.example.org"
GATE = "gate@district.example.org"
TOKEN = re.compile(r"sp1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch):
    monkeypatch.setattr(accounts, "_hasher", cheap_hasher())


def _day(n: int) -> str:
    """n days before the real today in the district zone, as MM/DD/YYYY."""
    return (datetime.now(ZoneInfo(ZONE)).date() - timedelta(days=n)).strftime("%m/%d/%Y")


def _raw_key(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                              serialization.NoEncryption())).decode()


def _staff_sign_in(page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/staff/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def test_a_nurse_resolves_an_unmatched_result_in_the_browser(db, tmp_path, browser):
    load_roster(db.engine)
    # Luis García's result, but the lab misspelled his name and used an id the roster does not know.
    path = simplereport(tmp_path / "misspelled.csv", [person(
        "555123", "Luiz", "Garsia", "09/17/2011", "T-misspelled-1", test_result="Not Detected",
        specimen_collection_date=f"{_day(1)} 08:00", test_result_date=f"{_day(1)} 09:00", order_test_date=_day(1),
        testing_lab_specimen_received_date=_day(1), date_result_released=_day(1), test_result_status="F")])
    import_results(db.engine, path, "auto", ZoneInfo(ZONE))
    with db.engine.connect() as conn:
        (result_id,) = conn.execute(select(LabResult.id).where(LabResult.person_id.is_(None))).scalars().all()
    accounts.add_account(db.engine, NURSE, "nurse", PASSWORD, ["sch-1"])

    with live_server(load_settings(database_url=db.url)) as base_url:
        page = new_page(browser)
        page.goto(f"{base_url}/staff/login")
        check_accessibility(page, f"staff-login-{db.backend}")
        screenshot(page, f"nurse-1-login-{db.backend}")
        _staff_sign_in(page, base_url, NURSE)
        assert page.url == f"{base_url}/staff/" and "Program status on" in page.content()
        check_accessibility(page, f"staff-dashboard-{db.backend}")
        screenshot(page, f"nurse-2-dashboard-{db.backend}")

        page.goto(f"{base_url}/staff/unmatched")
        assert "Garsia" in page.content() and "555123" in page.content()
        check_accessibility(page, f"staff-unmatched-{db.backend}")
        screenshot(page, f"nurse-3-unmatched-{db.backend}")
        page.get_by_label(f"sourcedId for result {result_id}").fill("s-2")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.url == f"{base_url}/staff/unmatched?matched={result_id}"
        assert page.get_by_role("status").inner_text() == f"Result {result_id} is now matched."
        assert "Garsia" not in page.content() and "The queue is empty." in page.content()
        screenshot(page, f"nurse-4-matched-{db.backend}")

        page.goto(f"{base_url}/staff/people/s-2")
        assert page.locator("h1").inner_text() == "Luis García"
        row = page.locator("tr", has_text="T-misspelled-1")
        assert row.count() == 1 and "staff" in row.inner_text() and "negative" in row.inner_text().lower()
        check_accessibility(page, f"staff-person-{db.backend}")
        screenshot(page, f"nurse-5-person-{db.backend}")
        page.context.close()


def _sign_in_link(sink, address: str) -> str:
    deadline = time.monotonic() + 10  # the portal sends the email after answering
    while time.monotonic() < deadline:
        for message in sink.messages():
            if str(message["To"]).lower() == address:
                return re.search(r"/family/enter/[A-Za-z0-9_-]+", message.get_content()).group(0)
        time.sleep(0.1)
    raise AssertionError(f"no sign-in email to {address}")


def _tab_to(page, selector: str, limit: int = 40) -> None:
    """Press Tab until the element matching selector has the focus (keyboard only)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_a_parent_shows_the_pass_and_the_gate_verifies_it(db, tmp_path, browser):
    load_roster(db.engine)
    load_results(db.engine, tmp_path, [("s-2", "Not Detected", _day(1))])
    accounts.add_account(db.engine, GATE, "viewer", PASSWORD)
    key = Ed25519PrivateKey.generate()
    with running_sink(tmp_path) as sink:
        settings = load_settings(database_url=db.url, smtp_url=sink.url, pass_private_key=_raw_key(key))
        with live_server(settings) as base_url:
            token = _parent_journey(browser, base_url, sink, db.backend)
            _gate_journey(browser, base_url, token, db.backend)


def _parent_journey(browser, base_url: str, sink, backend: str) -> str:
    english = new_page(browser, locale="en-US")
    english.goto(f"{base_url}/family/")
    assert english.get_by_label("Email address").count() == 1
    check_accessibility(english, f"family-sign-in-en-{backend}")
    english.context.close()

    page = new_page(browser, locale="es-ES")
    page.goto(f"{base_url}/family/")
    assert page.locator("html").get_attribute("lang") == "es"
    check_accessibility(page, f"family-sign-in-es-{backend}")
    screenshot(page, f"parent-1-sign-in-es-{backend}")
    page.get_by_label("Correo electrónico").fill(ANA)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    link = _sign_in_link(sink, ANA)
    page.goto(base_url + link)
    assert page.url == f"{base_url}/family/home"
    assert "Luis García" in page.content() and "Puede asistir a la escuela" in page.content()
    check_accessibility(page, f"family-home-es-{backend}")
    screenshot(page, f"parent-2-home-es-{backend}")

    with page.expect_navigation():
        page.get_by_role("link", name="Luis García").click()
    assert page.url == f"{base_url}/family/people/s-2"
    assert page.get_by_role("link", name="Mostrar el pase de hoy").count() == 0  # not attested yet
    check_accessibility(page, f"family-person-es-{backend}")
    screenshot(page, f"parent-3-person-es-{backend}")

    # The symptom check with the keyboard alone: Tab into each question, the arrow key picks "No", Enter sends.
    for question in ("fever", "cough", "contact"):
        _tab_to(page, f'input[name="{question}"]')
        page.keyboard.press("ArrowRight")
        assert page.locator(f'input[name="{question}"][value="no"]').is_checked()
    assert page.locator('input[type="radio"][value="yes"]:checked').count() == 0
    _tab_to(page, 'form[action="/family/people/s-2"] button[type="submit"]')
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "El control de síntomas de hoy quedó registrado." in page.content()
    check_accessibility(page, f"family-person-attested-es-{backend}")
    screenshot(page, f"parent-4-attested-es-{backend}")

    _tab_to(page, 'a[href="/family/pass/s-2"]')
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == f"{base_url}/family/pass/s-2"
    assert page.locator("h2").inner_text() == "Pase diario" and "Luis G." in page.content()
    assert page.locator('img[src^="data:image/svg+xml"]').count() == 1
    token = page.get_by_text(TOKEN).inner_text().strip()
    assert TOKEN.fullmatch(token)
    check_accessibility(page, f"family-pass-es-{backend}")
    screenshot(page, f"parent-5-pass-es-{backend}")
    page.context.close()
    return token


def _gate_journey(browser, base_url: str, token: str, backend: str) -> None:
    page = new_page(browser)
    _staff_sign_in(page, base_url, GATE)
    page.goto(f"{base_url}/staff/gate/")
    assert page.evaluate("document.activeElement.id") == "token"  # autofocus: the scanner types straight in
    check_accessibility(page, f"gate-{backend}")
    screenshot(page, f"gate-1-ready-{backend}")

    page.keyboard.type(token)  # as a keyboard-wedge scanner does
    with page.expect_navigation():
        page.keyboard.press("Enter")
    shown = page.get_by_role("status").inner_text()
    assert "valid today" in shown and "not valid" not in shown
    assert "Luis G." in shown and "Harbor Elementary" in shown
    assert "García" not in page.content() and "s-2" not in page.content() and "Luis García" not in page.content()
    check_accessibility(page, f"gate-valid-{backend}")
    screenshot(page, f"gate-2-valid-{backend}")

    prefix, payload, signature = token.split(".")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    tampered = f"{prefix}.{base64.urlsafe_b64encode(raw.replace(b'Luis', b'Luke')).rstrip(b'=').decode()}.{signature}"
    page.get_by_label("Scan a pass (or type its code)").focus()
    page.keyboard.type(tampered)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    shown = page.get_by_role("status").inner_text()
    assert "not valid" in shown and "valid today" not in page.content() and "Luis" not in page.content()
    check_accessibility(page, f"gate-not-valid-{backend}")
    screenshot(page, f"gate-3-not-valid-{backend}")
    page.context.close()
