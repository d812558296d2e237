"""Journeys in a real browser (headless Chromium): a parent opens a notice link and proves the birth date.

Each page is also checked with axe-core for WCAG 2.1 A/AA problems (tests/web/axe.py)."""

from __future__ import annotations

import re

from schoolpass.notices.sink import parse
from schoolpass.notices.tokens import find_tokens
from schoolpass.settings import load_settings
from tests.cli import run
from tests.notices.district import load_results, load_roster
from tests.notices.sink import running_sink
from tests.web.axe import check_accessibility, new_page
from tests.web.browser import screenshot
from tests.web.live_server import live_server

# One session-wide `browser` fixture for every browser test module (importing the fixture into each
# module would start a second Playwright in the same thread, which Playwright refuses).


def _link_for(sink, to: str, name: str) -> str:
    for raw in sink.raw_messages():
        message = parse(raw)
        if str(message["To"]) == to and name in str(message["Subject"]):
            text = message.get_body(("plain",)).get_content()
            (token,) = find_tokens(raw)
            return re.search(r"https?://\S+/r/" + re.escape(token), text).group(0)
    raise AssertionError("no such message")


def test_a_parent_opens_the_link_in_the_notice_and_proves_the_birth_date(db, tmp_path, capsys, browser,
                                                                         monkeypatch):
    load_roster(db.engine)
    load_results(db.engine, tmp_path, [("s-1", "Detected", "11/20/2021"), ("s-4", "Not Detected", "11/20/2021")])
    settings = load_settings(database_url=db.url)
    with live_server(settings) as base_url, running_sink(tmp_path) as sink:
        monkeypatch.setenv("SCHOOLPASS_BASE_URL", base_url)
        assert run(capsys, "--db", db.url, "daily", "--on", "2021-11-22", "--smtp", sink.url).code == 0
        spanish = _link_for(sink, "ana.garcia@example.net", "María")
        english = _link_for(sink, "grace.okafor@example.net", "Jide")
        assert spanish.startswith(base_url)

        page = new_page(browser)  # bypass_csp: axe-core is injected into our script-free pages
        page.goto(spanish)
        assert page.locator("h1").inner_text() == "Programa de pruebas escolares"
        assert "María G." in page.content() and "García" not in page.content()
        check_accessibility(page, f"link-form-es-{db.backend}")
        screenshot(page, f"link-form-es-{db.backend}")
        page.get_by_label("Fecha de nacimiento (AAAA-MM-DD)").fill("2013-04-03")
        page.get_by_role("button", name="Mostrar").click()
        assert "Intentos restantes: 9" in page.content()
        check_accessibility(page, f"link-form-error-es-{db.backend}")
        page.get_by_label("Fecha de nacimiento (AAAA-MM-DD)").fill("2013-04-02")
        with page.expect_navigation():
            page.keyboard.press("Enter")  # keyboard use: the form submits from the field
        assert "Positivo" in page.content() and "2021-11-20" in page.content()
        check_accessibility(page, f"link-details-es-{db.backend}")
        screenshot(page, f"link-details-es-{db.backend}")

        page.goto(english)
        assert "Jide O." in page.content()
        check_accessibility(page, f"link-form-en-{db.backend}")
        page.get_by_label("Date of birth (YYYY-MM-DD)").fill("2006-01-11")
        page.get_by_role("button", name="Show").click()
        assert "Negative" in page.content() and "Cleared for school" in page.content()
        check_accessibility(page, f"link-details-en-{db.backend}")
        screenshot(page, f"link-details-en-{db.backend}")
        page.context.close()
