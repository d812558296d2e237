"""The staff console on both databases: accounts, sessions, roles and scopes, and every route as every role."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from schoolpass.disclosure.models import AccessLogEntry
from schoolpass.results.models import LabResult, MatchEvent
from schoolpass.settings import load_settings
from schoolpass.web import accounts
from schoolpass.web.app import create_app
from schoolpass.web.models import StaffAccount, StaffSession
from tests.cli import run
from tests.notices.sink import running_sink
from tests.web.staff_setup import (PASSWORD, STAFF, cheap_hasher, csrf_of, load_district, personal_values,
                                   sign_in)

PERSONAL = personal_values()


def _personal_in(body: str) -> list[str]:
    return [v for v in PERSONAL if re.search(rf"(?<!\w){re.escape(v)}(?!\w)", body)]


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch):
    monkeypatch.setattr(accounts, "_hasher", cheap_hasher())


@pytest.fixture
def console(db, tmp_path, capsys):
    """The sample district after a daily run, with one account per role; yields (app, district)."""
    with running_sink(tmp_path) as sink:
        district = load_district(db, tmp_path, capsys, sink.url)
    app = create_app(load_settings(database_url=db.url))
    yield app, district


def _client(app, who: str | None = None) -> TestClient:
    client = TestClient(app)
    if who is not None:
        assert sign_in(client, who).status_code == 303
    return client


def _add(capsys, monkeypatch, db, *args, password=PASSWORD):
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return run(capsys, "--db", db.url, "staff", "add", *args, "--password-stdin")


# Accounts from the command line ----------------------------------------------------------------

def test_staff_add_and_disable_from_the_command_line(db, capsys, monkeypatch):
    from tests.notices.district import load_roster

    load_roster(db.engine)
    made = _add(capsys, monkeypatch, db, "Nurse.Kim@Harbor.example.org", "--role", "nurse", "--school", "sch-1")
    assert made.code == 0 and "nurse for sch-1" in made.out
    assert _add(capsys, monkeypatch, db, "viewer@example.org", "--role", "viewer").code == 0
    with db.engine.connect() as conn:
        row = conn.execute(select(StaffAccount).where(StaffAccount.role == "nurse")).one()
    assert row.email == "nurse.kim@harbor.example.org"  # lower-cased
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash

    refusals = [
        (("nurse.kim@harbor.example.org", "--role", "nurse", "--school", "sch-1"), PASSWORD, "already exists"),
        (("short@example.org", "--role", "auditor"), "too-short", "at least 12 characters"),
        (("n2@example.org", "--role", "nurse"), PASSWORD, "needs at least one --school"),
        (("sa@example.org", "--role", "school-admin", "--school", "sch-9"), PASSWORD, "no org with sourcedId sch-9"),
        (("v2@example.org", "--role", "viewer", "--school", "sch-1"), PASSWORD, "covers every school"),
        (("x@example.org", "--role", "janitor"), PASSWORD, "unknown role"),
        (("not-an-email", "--role", "viewer"), PASSWORD, "email address"),
    ]
    for args, password, why in refusals:
        refused = _add(capsys, monkeypatch, db, *args, password=password)
        assert refused.code == 1 and why in refused.err, (args, refused.err)
        assert len(refused.err.strip().splitlines()) == 1 and "Traceback" not in refused.err
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    no_tty = run(capsys, "--db", db.url, "staff", "add", "a@example.org", "--role", "viewer")
    assert no_tty.code == 1 and "--password-stdin" in no_tty.err

    assert accounts.authenticate(db.engine, "NURSE.KIM@harbor.example.org", PASSWORD) is not None
    done = run(capsys, "--db", db.url, "staff", "disable", "nurse.kim@harbor.example.org")
    assert done.code == 0 and "disabled" in done.out
    assert accounts.authenticate(db.engine, "nurse.kim@harbor.example.org", PASSWORD) is None
    missing = run(capsys, "--db", db.url, "staff", "disable", "nobody@example.org")
    assert missing.code == 1 and "no staff account" in missing.err

    changed = run(capsys, "--db", db.url, "staff", "role", "viewer@example.org", "--role", "nurse",
                  "--school", "sch-2", "--school", "sch-1")
    assert changed.code == 0 and "now nurse for sch-1, sch-2" in changed.out


def test_totp_is_asked_at_sign_in_when_set_up(db, capsys, monkeypatch):
    from tests.notices.district import load_roster

    load_roster(db.engine)
    made = _add(capsys, monkeypatch, db, "otp@example.org", "--role", "auditor", "--totp")
    assert made.code == 0
    uri = next(line for line in made.out.splitlines() if line.startswith("otpauth://"))
    secret = pyotp.parse_uri(uri).secret
    app = create_app(load_settings(database_url=db.url))
    client = TestClient(app)
    without = sign_in(client, "otp@example.org")
    wrong = sign_in(client, "otp@example.org", code="000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    assert without.status_code == wrong.status_code == 401
    assert sign_in(client, "otp@example.org", code=pyotp.TOTP(secret).now()).status_code == 303
    assert client.get("/staff/access-log").status_code == 200


# Sessions ---------------------------------------------------------------------------------------

def test_sign_in_sets_a_strict_session_cookie_and_sign_out_ends_it(console):
    app, _ = console
    client = TestClient(app)
    assert client.get("/staff/", follow_redirects=False).headers["location"] == "/staff/login"
    signed = sign_in(client, "nurse")
    assert signed.status_code == 303 and signed.headers["location"] == "/staff/"
    cookie = next(c for c in signed.headers.get_list("set-cookie") if c.startswith("sp_staff="))
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower() and "path=/staff" in cookie.lower()
    assert "secure" not in cookie.lower()  # plain http base URL
    token = client.cookies.get("sp_staff")
    home = client.get("/staff/")
    assert home.status_code == 200 and "Harbor Elementary" in home.text
    assert "default-src 'none'" in home.headers["Content-Security-Policy"] and "<script" not in home.text
    assert home.headers["Cache-Control"] == "no-store"
    out = client.post("/staff/logout", data={"csrf": csrf_of(home.text)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/staff/login"
    assert client.get("/staff/", follow_redirects=False).status_code == 303
    replay = TestClient(app, cookies={"sp_staff": token})
    assert replay.get("/staff/", follow_redirects=False).status_code == 303  # the old token is dead


def test_secure_cookies_behind_https(console):
    app, district = console
    https_app = create_app(load_settings(database_url=district.db.url, base_url="https://schoolpass.example.org"))
    client = TestClient(https_app, base_url="https://testserver")
    signed = sign_in(client, "viewer")
    cookies = signed.headers.get_list("set-cookie")
    assert cookies and all("secure" in c.lower() for c in cookies)
    assert "Strict-Transport-Security" in signed.headers


def test_wrong_password_and_unknown_email_get_the_same_page(console):
    app, _ = console
    client = TestClient(app)
    wrong = sign_in(client, "nurse", password="not the password at all")
    unknown = sign_in(client, "nobody@harbor.example.org")
    disabled_email = STAFF["viewer"][0]
    accounts.disable_account(console[1].db.engine, disabled_email)
    disabled = sign_in(client, "viewer")
    assert wrong.status_code == unknown.status_code == disabled.status_code == 401
    strip = lambda page: re.sub(r'name="csrf" value="[^"]*"', "", page.text)  # noqa: E731
    assert strip(wrong) == strip(unknown) == strip(disabled)
    assert "sp_staff" not in client.cookies


def test_sign_in_is_rate_limited_per_client_address(console):
    app, _ = console
    client = TestClient(app)
    for _ in range(10):
        assert sign_in(client, "nurse", password="wrong password guess").status_code == 401
    limited = sign_in(client, "nurse")  # even the right password, for a minute
    assert limited.status_code == 429 and "sp_staff" not in client.cookies


def test_disable_ends_a_live_session_at_once(console, capsys):
    app, district = console
    client = _client(app, "nurse")
    assert client.get("/staff/people/s-1").status_code == 200
    assert run(capsys, "--db", district.db.url, "staff", "disable", STAFF["nurse"][0]).code == 0
    assert client.get("/staff/people/s-1", follow_redirects=False).status_code == 303
    with district.db.engine.connect() as conn:
        assert all(s.revoked_at is not None for s in conn.execute(select(StaffSession)).all()
                   if s.account_id == district.ids["nurse"])


def test_a_role_change_takes_effect_at_once(console):
    app, district = console
    client = _client(app, "nurse")
    assert client.get("/staff/people/s-1").status_code == 200
    accounts.set_role(district.db.engine, STAFF["nurse"][0], "viewer")
    assert client.get("/staff/people/s-1").status_code == 403
    accounts.set_role(district.db.engine, STAFF["nurse"][0], "nurse", ["sch-2"])
    assert client.get("/staff/people/s-1").status_code == 404
    assert client.get("/staff/people/s-3").status_code == 200


def test_sessions_end_after_30_idle_minutes_and_12_hours(console):
    from datetime import UTC, datetime

    engine = console[1].db.engine
    account = accounts.authenticate(engine, STAFF["nurse"][0], PASSWORD)
    start = datetime(2021, 11, 22, 8, 0, tzinfo=UTC)
    token = accounts.create_session(engine, account, now=start)
    assert accounts.lookup_session(engine, token, now=start + timedelta(minutes=29)) is not None
    assert accounts.lookup_session(engine, token, now=start + timedelta(minutes=29 + 31)) is None  # idle
    token = accounts.create_session(engine, account, now=start)
    for minutes in range(20, 12 * 60, 20):  # busy all day
        assert accounts.lookup_session(engine, token, now=start + timedelta(minutes=minutes)) is not None
    assert accounts.lookup_session(engine, token, now=start + timedelta(hours=12)) is None  # absolute


# Scopes and roles -------------------------------------------------------------------------------

def test_a_nurse_sees_her_school_only(console):
    app, _ = console
    client = _client(app, "nurse")
    page = client.get("/staff/people/s-1", params={"on": "2021-11-22"})
    assert page.status_code == 200
    assert "María García" in page.text and "isolating" in page.text and "positive" in page.text
    assert "ana.garcia@example.net" in page.text  # the accounting names the recipient
    outside = client.get("/staff/people/s-3")
    assert outside.status_code == 404 and _personal_in(outside.text) == []
    unknown = client.get("/staff/people/zz-404")
    assert unknown.status_code == 404 and unknown.text.replace("zz-404", "s-3") == outside.text.replace(
        "zz-404", "s-3")  # outside the scope looks like nobody at all
    home = client.get("/staff/", params={"on": "2021-11-22"})
    assert "Harbor Elementary" in home.text and "Vista High School" not in home.text
    assert re.search(r"<td class=\"n\">1</td>", home.text)  # s-1 isolating in Harbor Elementary


def test_search_stays_within_the_scope_and_keeps_names_out_of_urls(console):
    app, _ = console
    nurse = _client(app, "nurse")
    form = nurse.get("/staff/people")
    assert 'method="post"' in form.text
    found = nurse.post("/staff/people", data={"q": "garcia", "csrf": csrf_of(form.text)})
    assert found.status_code == 200
    assert 'href="/staff/people/s-1"' in found.text and 'href="/staff/people/s-2"' in found.text
    by_id = nurse.post("/staff/people", data={"q": "900001", "csrf": csrf_of(form.text)})
    assert 'href="/staff/people/s-1"' in by_id.text and "s-2" not in by_id.text
    other = _client(app, "nurse-2")
    none = other.post("/staff/people", data={"q": "García", "csrf": csrf_of(other.get("/staff/people").text)})
    assert none.status_code == 200 and "Nobody in your schools matches" in none.text
    assert _personal_in(none.text.replace('value="García"', "")) == []  # only the query itself, echoed
    admin = _client(app, "district-admin")
    everyone = admin.post("/staff/people", data={"q": "o", "csrf": csrf_of(admin.get("/staff/people").text)})
    assert {"s-3", "s-4"} <= set(re.findall(r'href="/staff/people/([^"]+)"', everyone.text))


def test_an_auditor_sees_accounting_but_no_results(console):
    app, _ = console
    page = _client(app, "auditor").get("/staff/people/s-1", params={"on": "2021-11-22"})
    assert page.status_code == 200
    assert "Accounting of disclosures" in page.text and "ana.garcia@example.net" in page.text
    assert "result-available" in page.text  # the kind of notice, never its content
    for health in ("positive", "isolating", "Results", "Detected", "2021-11-20", "Status on"):
        assert health not in page.text, health


def test_a_viewer_sees_counts_only(console):
    app, _ = console
    client = _client(app, "viewer")
    home = client.get("/staff/", params={"on": "2021-11-22"})
    assert home.status_code == 200 and "Vista High School" in home.text and _personal_in(home.text) == []
    assert 'href="/staff/people"' not in home.text
    for path in ("/staff/people", "/staff/people/s-1", "/staff/unmatched", "/staff/follow-up", "/staff/access-log"):
        refused = client.get(path)
        assert refused.status_code == 403 and _personal_in(refused.text) == [], path


def test_every_view_of_a_person_is_logged(console):
    app, district = console
    _client(app, "nurse").get("/staff/people/s-1")
    _client(app, "auditor").get("/staff/people/s-3")
    _client(app, "nurse").get("/staff/people/s-3")  # refused: not a view
    with district.db.engine.connect() as conn:
        rows = conn.execute(select(AccessLogEntry.actor, AccessLogEntry.action, AccessLogEntry.subject_id)
                            .where(AccessLogEntry.action == "staff-view").order_by(AccessLogEntry.id)).all()
    assert [tuple(r) for r in rows] == [(f"staff:{district.ids['nurse']}", "staff-view", "s-1"),
                                        (f"staff:{district.ids['auditor']}", "staff-view", "s-3")]
    log = _client(app, "auditor").get("/staff/access-log")
    assert log.status_code == 200 and STAFF["nurse"][0] in log.text and "staff-view" in log.text


def test_the_unmatched_queue_is_resolved_by_hand_within_the_scope(console):
    app, district = console
    nurse = _client(app, "nurse")
    queue = nurse.get("/staff/unmatched")
    assert queue.status_code == 200 and "Zabriskie" in queue.text
    action = f"/staff/unmatched/{district.unmatched_id}/match"
    csrf = csrf_of(queue.text)
    outside = nurse.post(action, data={"person_id": "s-3", "csrf": csrf})
    assert outside.status_code == 404 and _personal_in(outside.text) == []
    contact = nurse.post(action, data={"person_id": "p-1", "csrf": csrf})
    assert contact.status_code == 404
    done = nurse.post(action, data={"person_id": "s-2", "csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/staff/unmatched?matched={district.unmatched_id}"
    assert "Zabriskie" not in nurse.get(done.headers["location"]).text
    with district.db.engine.connect() as conn:
        assert conn.execute(select(LabResult.person_id).where(LabResult.id == district.unmatched_id)).scalar() == "s-2"
        event = conn.execute(select(MatchEvent.by, MatchEvent.person_id)).one()
    assert tuple(event) == (STAFF["nurse"][0], "s-2")
    again = nurse.post(action, data={"person_id": "s-2", "csrf": csrf})
    assert again.status_code == 409 and "already matched" in again.text


def test_follow_up_lists_held_and_undeliverable_notices_in_the_scope_without_sending(console):
    app, _ = console
    nurse = _client(app, "nurse").get("/staff/follow-up")
    assert nurse.status_code == 200
    assert 'href="/staff/people/s-2"' in nurse.text and "held" in nurse.text and "s-4" not in nurse.text
    admin = _client(app, "district-admin").get("/staff/follow-up")
    assert "s-2" in admin.text and "s-4" in admin.text and "undeliverable" in admin.text
    forms = re.findall(r'<form method="post" action="([^"]+)"', admin.text)
    assert forms == ["/staff/logout"]  # nothing is sent from this page


def test_forms_without_the_csrf_token_are_refused(console):
    app, district = console
    fresh = TestClient(app)
    fresh.get("/staff/login")
    bad_login = fresh.post("/staff/login", data={"email": STAFF["nurse"][0], "password": PASSWORD})
    assert bad_login.status_code == 403 and "sp_staff" not in fresh.cookies
    client = _client(app, "nurse")
    assert client.post("/staff/people", data={"q": "garcia"}).status_code == 403
    assert client.post("/staff/people", data={"q": "garcia", "csrf": "forged"}).status_code == 403
    assert client.post(f"/staff/unmatched/{district.unmatched_id}/match",
                       data={"person_id": "s-1", "csrf": "forged"}).status_code == 403
    assert client.post("/staff/logout", data={}).status_code == 403
    assert client.get("/staff/").status_code == 200  # still signed in


# Every route as every role ----------------------------------------------------------------------

ROLES = ("district-admin", "school-admin", "nurse", "auditor", "viewer", None, "nurse-2")
# (method, path) -> expected status for each of ROLES (None = not signed in). 303 = off to the sign-in page.
WALK = {
    ("GET", "/staff/"):                  (200, 200, 200, 200, 200, 303, 200),
    ("GET", "/staff/people"):            (200, 200, 200, 200, 403, 303, 200),
    ("POST", "/staff/people"):           (200, 200, 200, 200, 403, 403, 200),
    ("GET", "/staff/people/s-1"):        (200, 200, 200, 200, 403, 303, 404),
    ("GET", "/staff/people/t-1"):        (200, 200, 200, 200, 403, 303, 404),
    ("GET", "/staff/people/s-3"):        (200, 404, 404, 200, 403, 303, 200),
    ("GET", "/staff/people/p-1"):        (404, 404, 404, 404, 403, 303, 404),  # contacts have no page
    ("GET", "/staff/people/nobody"):     (404, 404, 404, 404, 403, 303, 404),
    ("GET", "/staff/unmatched"):         (200, 200, 200, 403, 403, 303, 200),
    ("POST", "/staff/unmatched/999999/match"): (404, 404, 404, 403, 403, 403, 404),
    ("GET", "/staff/follow-up"):         (200, 200, 200, 403, 403, 303, 200),
    ("GET", "/staff/access-log"):        (200, 403, 403, 200, 403, 303, 403),
    ("GET", "/staff/results/new"):       (200, 200, 200, 403, 403, 303, 200),
    ("POST", "/staff/results/new"):      (400, 400, 400, 403, 403, 403, 400),  # the walk's form is incomplete
    ("GET", "/staff/daily"):             (200, 403, 403, 403, 403, 303, 403),
    ("POST", "/staff/daily/send"):       (409, 403, 403, 403, 403, 403, 403),  # no SMTP configured
    ("GET", "/staff/breach-scope"):      (200, 403, 403, 200, 403, 303, 403),
    ("POST", "/staff/breach-scope"):     (200, 403, 403, 200, 403, 403, 403),
    ("GET", "/staff/ledger"):            (200, 403, 403, 200, 403, 303, 403),
    ("POST", "/staff/follow-up/999999/reissue"): (404, 404, 404, 403, 403, 403, 404),
    ("GET", "/staff/login"):             (303, 303, 303, 303, 303, 200, 303),
}


def test_every_route_as_every_role(console):
    app, district = console
    problems = []
    views = 0
    for column, role in enumerate(ROLES):
        client = _client(app, role)
        csrf = client.cookies.get("sp_csrf") or csrf_of(client.get("/staff/login").text)
        for (method, path), expected in WALK.items():
            if method == "GET":
                answer = client.get(path, follow_redirects=False)
            else:
                data = {"csrf": csrf, "q": "garcia", "person_id": "s-1", "from": "2021-11-01", "to": "2021-11-30"}
                answer = client.post(path, data=data, follow_redirects=False)
            want = expected[column]
            if answer.status_code != want:
                problems.append(f"{method} {path} as {role}: {answer.status_code}, expected {want}")
            if answer.status_code in (303, 401, 403, 404) and _personal_in(answer.text):
                problems.append(f"{method} {path} as {role}: personal data {_personal_in(answer.text)}")
            if role == "viewer" and _personal_in(answer.text):
                problems.append(f"{method} {path} as viewer: personal data {_personal_in(answer.text)}")
            if answer.status_code == 303:
                assert answer.headers["location"] in ("/staff/", "/staff/login")
            views += method == "GET" and path.startswith("/staff/people/") and answer.status_code == 200
    assert problems == []
    with district.db.engine.connect() as conn:
        logged = conn.execute(select(AccessLogEntry.id).where(AccessLogEntry.action == "staff-view")).all()
    assert len(logged) == views


# Pages that act: single result entry, the daily run, breach scope, the ledger, link re-issue -----

def _main(page) -> str:
    """The page without its header (which names the signed-in staff member)."""
    return page.text.split("<main>", 1)[1]


def _entry(client, **fields):
    from datetime import datetime, timedelta

    from schoolpass.settings import load_settings as settings

    form = client.get("/staff/results/new")
    assert form.status_code == 200 and 'name="accession" type="text" value="SITE-' in form.text
    collected = (datetime.now(settings().zone) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    accession = form.text.split('name="accession" type="text" value="', 1)[1].split('"', 1)[0]
    data = {"csrf": csrf_of(form.text), "patient_id": "", "given": "", "family": "", "birth_date": "",
            "test": "94558-4", "result": "positive", "collected": collected, "accession": accession,
            "lab": "SCHOOL-SITE", **fields}
    return client.post("/staff/results/new", data=data), accession


def test_a_nurse_enters_one_result_and_it_takes_the_notices_path(console):
    app, district = console
    nurse = _client(app, "nurse")
    done, accession = _entry(nurse, patient_id="s-1")
    assert done.status_code == 200 and "Result recorded" in done.text
    assert re.search(r"Matched by id</th><td class=\"n\">1</td>", done.text)
    with district.db.engine.connect() as conn:
        row = conn.execute(select(LabResult.person_id, LabResult.result, LabResult.lab, LabResult.match_method)
                           .where(LabResult.accession == accession)).one()
    assert row.person_id == "s-1" and row.result == "positive" and row.lab == "SCHOOL-SITE"
    preview = _client(app, "district-admin").get("/staff/daily")
    assert preview.status_code == 200
    assert re.search(r"<td>result-available</td><td>s-1</td>", preview.text)
    # Outside her schools: recorded, and nobody is named.
    outside, accession = _entry(nurse, patient_id="s-3", result="negative")
    assert outside.status_code == 200 and "it waits for district staff" in outside.text
    assert "s-3" not in _main(outside) and _personal_in(outside.text) == [] and "Matched by" not in outside.text
    with district.db.engine.connect() as conn:
        assert conn.execute(select(LabResult.person_id).where(LabResult.accession == accession)).scalar() == "s-3"
    bad, _ = _entry(nurse, patient_id="s-1", test="not-a-code", collected="yesterday")
    assert bad.status_code == 400 and "Choose one of the program" in bad.text and "YYYY-MM-DDTHH:MM" in bad.text
    forged = nurse.post("/staff/results/new", data={"patient_id": "s-1", "csrf": "forged"})
    assert forged.status_code == 403


def test_the_daily_preview_shows_ids_only_and_send_without_smtp_sends_nothing(console):
    from schoolpass.notices.models import NoticeRun, OutboxMessage

    app, district = console
    _entry(_client(app, "nurse"), patient_id="s-1")
    admin = _client(app, "district-admin")
    preview = admin.get("/staff/daily")
    assert preview.status_code == 200 and "Whole-run check: passed" in preview.text
    body = _main(preview)
    assert "@" not in body and _personal_in(body) == [] and "s-1" in body
    with district.db.engine.connect() as conn:
        before = (conn.execute(select(OutboxMessage.id, OutboxMessage.state).order_by(OutboxMessage.id)).all(),
                  conn.execute(select(NoticeRun.id)).all())
    refused = admin.post("/staff/daily/send", data={"csrf": csrf_of(preview.text)})
    assert refused.status_code == 409 and "no SMTP server configured" in refused.text
    with district.db.engine.connect() as conn:
        after = (conn.execute(select(OutboxMessage.id, OutboxMessage.state).order_by(OutboxMessage.id)).all(),
                 conn.execute(select(NoticeRun.id)).all())
    assert after == before
    assert admin.post("/staff/daily/send", data={"csrf": "forged"}).status_code == 403


def test_daily_send_with_smtp_runs_today(console, tmp_path):
    app, district = console
    _entry(_client(app, "nurse"), patient_id="s-1")
    with running_sink(tmp_path) as sink:
        smtp_app = create_app(load_settings(database_url=district.db.url, smtp_url=sink.url))
        admin = _client(smtp_app, "district-admin")
        page = admin.get("/staff/daily")
        sent = admin.post("/staff/daily/send", data={"csrf": csrf_of(page.text)})
    assert sent.status_code == 200 and re.search(r"Sent</th><td class=\"n\">[1-9]", sent.text)
    assert "@" not in _main(sent) and _personal_in(sent.text) == []


def test_breach_scope_lists_an_unauthorized_disclosure_for_an_auditor(console):
    from datetime import UTC, date, datetime

    from schoolpass.disclosure.ledger import append
    from schoolpass.notices.models import Notice

    app, district = console
    with district.db.engine.begin() as conn:
        notice_id = conn.execute(select(Notice.id).where(Notice.subject_id == "s-1")).scalars().first()
        entry = append(conn, sent_at=datetime(2021, 11, 22, 17, 0, tzinfo=UTC), on_date=date(2021, 11, 22),
                       notice_id=notice_id, message_id="<injected@test>", kind="result-available", subject_id="s-1",
                       recipient_id="p-9", address="snoop@elsewhere.example", content_sha256="0" * 64)
    auditor = _client(app, "auditor")
    form = auditor.get("/staff/breach-scope")
    assert form.status_code == 200 and '<form method="post" action="/staff/breach-scope"' in form.text
    found = auditor.post("/staff/breach-scope", data={"from": "2021-11-01", "to": "2021-11-30",
                                                      "csrf": csrf_of(form.text)})
    assert found.status_code == 200
    assert "snoop@elsewhere.example" in found.text and f"<td>{entry['seq']}</td>" in found.text
    assert "Notice to HHS within 60 days" in found.text
    bad = auditor.post("/staff/breach-scope", data={"from": "2021-11-30", "to": "2021-11-01",
                                                    "csrf": csrf_of(form.text)})
    assert bad.status_code == 400
    nurse = _client(app, "nurse")
    assert nurse.get("/staff/breach-scope").status_code == 403
    refused = nurse.post("/staff/breach-scope", data={"from": "2021-11-01", "to": "2021-11-30",
                                                      "csrf": nurse.cookies.get("sp_csrf")})
    assert refused.status_code == 403 and "snoop" not in refused.text
    ledger = auditor.get("/staff/ledger")
    assert ledger.status_code == 200 and "The hash chain holds" in ledger.text


def test_reissue_revokes_the_old_link_and_sends_again(console):
    from schoolpass.notices.models import PLANNED, SENT, LinkToken, OutboxMessage

    app, district = console
    with district.db.engine.connect() as conn:
        row = conn.execute(select(OutboxMessage.id).where(
            OutboxMessage.subject_id == "s-1", OutboxMessage.kind == "result-available",
            OutboxMessage.state == SENT)).scalars().first()
        assert conn.execute(select(LinkToken.token_hash).where(
            LinkToken.message_row == row, LinkToken.revoked_at.is_(None))).first() is not None
    action = f"/staff/follow-up/{row}/reissue"
    assert action not in _client(app, "auditor").get("/staff/people/s-1").text
    other = _client(app, "nurse-2")
    outside = other.post(action, data={"csrf": csrf_of(other.get("/staff/").text)})
    assert outside.status_code == 404 and _personal_in(outside.text) == []
    nurse = _client(app, "nurse")
    page = nurse.get("/staff/people/s-1")
    assert f'action="{action}"' in page.text
    done = nurse.post(action, data={"csrf": csrf_of(page.text)})
    assert done.status_code == 200 and "next send" in done.text
    with district.db.engine.connect() as conn:
        tokens = conn.execute(select(LinkToken.revoked_at).where(LinkToken.message_row == row)).scalars().all()
        message = conn.execute(select(OutboxMessage.state, OutboxMessage.reason).where(OutboxMessage.id == row)).one()
    assert tokens and all(t is not None for t in tokens)
    assert message.state == PLANNED and STAFF["nurse"][0] in message.reason
    again = nurse.post(action, data={"csrf": csrf_of(page.text)})
    assert again.status_code == 409  # not sent (yet): no link to re-issue


def test_the_dashboard_report_is_computed_once_per_state_of_the_data(console, monkeypatch):
    """Scoring the district is expensive: views reuse it until a staff match (or an import) changes the data."""
    from schoolpass.web import staff

    app, district = console
    calls = []
    real = staff.day_report
    monkeypatch.setattr(staff, "day_report", lambda *a: calls.append(a[1]) or real(*a))
    monkeypatch.setattr(staff, "_REPORTS", {})
    admin, nurse = _client(app, "district-admin"), _client(app, "nurse")
    first = admin.get("/staff/", params={"on": "2021-11-22"})
    assert nurse.get("/staff/", params={"on": "2021-11-22"}).status_code == 200
    assert admin.get("/staff/", params={"on": "2021-11-22"}).text == first.text
    assert len(calls) == 1
    queue = nurse.get("/staff/unmatched")
    nurse.post(f"/staff/unmatched/{district.unmatched_id}/match",
               data={"person_id": "s-2", "csrf": csrf_of(queue.text)}, follow_redirects=False)
    admin.get("/staff/", params={"on": "2021-11-22"})
    assert len(calls) == 2  # the match changed statuses: computed again
