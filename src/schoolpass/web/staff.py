"""The staff console (`/staff/`): sign-in, today's counts, people, the unmatched queue, follow-up, access log.

Who sees what (`ALLOWED`): every signed-in role sees the dashboard's counts; nurses and school
admins see only people in their schools; auditors see people's notices and accounting but no
status or results; viewers see counts only. Each request looks its session up in the database,
so sign-out, `staff disable` and role changes take effect at once. A person outside the scope
and an unknown id get the same 404, with nothing personal in it. Every view of a person's page
is written to the access log. Searches go by POST, so names never end up in URLs.
"""

from __future__ import annotations

import secrets
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection, Date, String, bindparam, select, text

from schoolpass.disclosure.accounting import WHAT, accounting
from schoolpass.disclosure.models import AccessLogEntry
from schoolpass.errors import NotFound, SchoolpassError
from schoolpass.notices.models import HELD, UNDELIVERABLE, OutboxMessage
from schoolpass.policy.statuses import STATUSES, day_report, status_of
from schoolpass.policy.store import policy_in_force
from schoolpass.results import queue
from schoolpass.results.models import LabResult
from schoolpass.roster.authorization import in_force
from schoolpass.roster.models import OrgVersion, PersonSchool, PersonVersion
from schoolpass.roster.names import fold_name
from schoolpass.storage.sql import typed
from schoolpass.web import accounts
from schoolpass.web.accounts import AUDITOR, DISTRICT_ADMIN, NURSE, SCHOOL_ADMIN, VIEWER, Account
from schoolpass.web.models import StaffAccount
from schoolpass.web.security import RateLimit, csrf_ok, csrf_token, set_csrf_cookie

router = APIRouter(prefix="/staff")
COOKIE = "sp_staff"
LOGIN_LIMIT, LOGIN_WINDOW = 10, 60.0  # sign-in attempts per client address per minute
SEARCH_LIMIT = 50
ALLOWED = {
    "dashboard": (DISTRICT_ADMIN, SCHOOL_ADMIN, NURSE, AUDITOR, VIEWER),
    "people": (DISTRICT_ADMIN, SCHOOL_ADMIN, NURSE, AUDITOR),
    "health": (DISTRICT_ADMIN, SCHOOL_ADMIN, NURSE),  # status and results on a person's page
    "unmatched": (DISTRICT_ADMIN, SCHOOL_ADMIN, NURSE),
    "follow-up": (DISTRICT_ADMIN, SCHOOL_ADMIN, NURSE),
    "access-log": (DISTRICT_ADMIN, AUDITOR),
    "results-new": (DISTRICT_ADMIN, SCHOOL_ADMIN, NURSE),  # single result entry (staff_actions.py)
    "reissue": (DISTRICT_ADMIN, SCHOOL_ADMIN, NURSE),  # re-issue a sent message's link, within the scope
    "daily": (DISTRICT_ADMIN,),  # the daily run's dry-run preview and the send button
    "breach-scope": (DISTRICT_ADMIN, AUDITOR),
    "ledger": (DISTRICT_ADMIN, AUDITOR),
}
NAV = (("dashboard", "/staff/", "Today"), ("people", "/staff/people", "People"),
       ("unmatched", "/staff/unmatched", "Unmatched results"), ("follow-up", "/staff/follow-up", "Follow-up"),
       ("results-new", "/staff/results/new", "Enter a result"), ("daily", "/staff/daily", "Daily run"),
       ("access-log", "/staff/access-log", "Access log"), ("breach-scope", "/staff/breach-scope", "Breach scope"),
       ("ledger", "/staff/ledger", "Ledger"))
SIGN_IN_FAILED = "Sign-in failed. Check your email, password and one-time code (if you use one)."
NOT_FOUND = "No such person in your schools."
COLORS = {"cleared": "#2e7d32", "test-due": "#f9a825", "isolating": "#c62828", "exempt": "#1565c0"}


# Plumbing ---------------------------------------------------------------------------------------

def _engine(request: Request):
    return request.app.state.engine


def _today(request: Request) -> date:
    return datetime.now(request.app.state.settings.zone).date()


def _policy(conn: Connection, request: Request):
    configured = request.app.state.settings.policy
    return policy_in_force(conn, Path(configured) if configured else None).policy


def _login_limit(request: Request) -> RateLimit:
    limit = getattr(request.app.state, "staff_logins", None)
    if limit is None:
        limit = request.app.state.staff_logins = RateLimit(limit=LOGIN_LIMIT, window=LOGIN_WINDOW)
    return limit


def _page(request: Request, template: str, me: Account | None, code: int = 200, **context) -> HTMLResponse:
    from schoolpass.web.app import TEMPLATES

    token = csrf_token(request)
    nav = [(href, label) for key, href, label in NAV if me is not None and me.role in ALLOWED[key]]
    response = TEMPLATES.TemplateResponse(
        request, f"staff/{template}", {"me": me, "csrf": token, "nav": nav, **context}, status_code=code)
    set_csrf_cookie(response, token, request.app.state.https)
    return response


def _message(request: Request, me: Account | None, code: int, message: str) -> HTMLResponse:
    return _page(request, "message.html", me, code, message=message)


def _guard(request: Request, area: str, post: bool = False) -> Account | Response:
    """The signed-in account allowed in `area`, or the response that refuses the request."""
    me = accounts.lookup_session(_engine(request), request.cookies.get(COOKIE))
    if me is None:
        if post:
            return _message(request, None, 403, "Please sign in again.")
        return RedirectResponse("/staff/login", status_code=303)
    if me.role not in ALLOWED[area]:
        return _message(request, me, 403, "Your role does not give access to this page.")
    return me


def _day(request: Request, on: str | None) -> date | None:
    if not on:
        return _today(request)
    try:
        return date.fromisoformat(on) if len(on) == 10 else None
    except ValueError:
        return None


def _person(conn: Connection, person_id: str, on: date):
    """(name, kind, school ids) of a student or staff member, from the record in force on `on`
    (else their latest), as the roster is known now; None for anyone else."""
    versions = conn.execute(
        select(PersonVersion.given_name, PersonVersion.family_name, PersonVersion.kind, PersonVersion.payload_hash,
               PersonVersion.valid_from, PersonVersion.valid_to)
        .where(PersonVersion.sourced_id == person_id, PersonVersion.rec_to.is_(None))
        .order_by(PersonVersion.valid_from.desc())
    ).all()
    if not versions:
        return None
    record = next((v for v in versions if v.valid_from <= on and (v.valid_to is None or v.valid_to > on)),
                  versions[0])
    if record.kind not in ("student", "staff"):
        return None
    schools = set(conn.execute(select(PersonSchool.org_sourced_id).where(
        PersonSchool.person_sourced_id == person_id, PersonSchool.payload_hash == record.payload_hash)).scalars())
    return f"{record.given_name} {record.family_name}", record.kind, schools


def _schools_of(conn: Connection, person_ids: set[str], on: date) -> dict[str, set[str]]:
    """Each person's schools on `on` (record in force then, as known now)."""
    if not person_ids:
        return {}
    statement = typed(f"""
        SELECT p.sourced_id, ps.org_sourced_id FROM person_versions p
        JOIN person_schools ps ON ps.person_sourced_id = p.sourced_id AND ps.payload_hash = p.payload_hash
        WHERE p.sourced_id IN :ids AND {in_force('p', None)}""", on=Date).bindparams(
        bindparam("ids", expanding=True, type_=String))
    found: dict[str, set[str]] = {}
    for person_id, school in conn.execute(statement, {"ids": sorted(person_ids), "on": on}):
        found.setdefault(person_id, set()).add(school)
    return found


def _org_names(conn: Connection) -> dict[str, str]:
    return {sid: name for sid, name in conn.execute(
        select(OrgVersion.sourced_id, OrgVersion.name).where(OrgVersion.rec_to.is_(None))
        .order_by(OrgVersion.valid_from))}


# Sign-in ----------------------------------------------------------------------------------------

@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    if accounts.lookup_session(_engine(request), request.cookies.get(COOKIE)) is not None:
        return RedirectResponse("/staff/", status_code=303)
    return _page(request, "login.html", None)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, email: str = Form(""), password: str = Form(""), code: str = Form(""),
          csrf: str = Form("")) -> Response:
    client = request.client.host if request.client else "unknown"
    if not _login_limit(request).allow(client):
        return _page(request, "login.html", None, 429,
                     error="Too many sign-in attempts from your connection. Wait a minute and try again.")
    if not csrf_ok(request, csrf):
        return _message(request, None, 403, "The form expired. Please reload the sign-in page and try again.")
    engine = _engine(request)
    account = accounts.authenticate(engine, email[:320], password[:1024], code[:16])
    if account is None:
        return _page(request, "login.html", None, 401, error=SIGN_IN_FAILED)
    accounts.revoke_session(engine, request.cookies.get(COOKIE))
    token = accounts.create_session(engine, account)
    response = RedirectResponse("/staff/", status_code=303)
    https = request.app.state.https
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=https, path="/staff")
    set_csrf_cookie(response, secrets.token_urlsafe(24), https)  # a new CSRF token for the signed-in session
    return response


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    if not csrf_ok(request, csrf):
        return _message(request, None, 403, "The form expired. Please reload the page and try again.")
    accounts.revoke_session(_engine(request), request.cookies.get(COOKIE))
    response = RedirectResponse("/staff/login", status_code=303)
    response.delete_cookie(COOKIE, path="/staff", httponly=True, samesite="strict",
                           secure=request.app.state.https)
    return response


# Dashboard --------------------------------------------------------------------------------------

# The day's report scores the whole district twice (26 s at 500,000 students): compute it once per
# state of the data and reuse it for every dashboard view until an import or a staff match changes it.
_REPORTS: dict[tuple, object] = {}
_DATA_VERSION = text("SELECT (SELECT max(id) FROM roster_imports), (SELECT max(id) FROM result_imports), "
                     "(SELECT max(id) FROM result_match_events)")


def _day_report(conn: Connection, day: date, policy):
    key = (str(conn.engine.url), day, policy, *conn.execute(_DATA_VERSION).one())
    report = _REPORTS.get(key)
    if report is None:
        if len(_REPORTS) >= 16:
            _REPORTS.clear()
        report = _REPORTS[key] = day_report(conn, day, policy)
    return report


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, on: str | None = None) -> Response:
    me = _guard(request, "dashboard")
    if isinstance(me, Response):
        return me
    day = _day(request, on)
    if day is None:
        return _message(request, me, 400, "The date must be written YYYY-MM-DD.")
    scope = me.scope
    with _engine(request).connect() as conn:
        report = _day_report(conn, day, _policy(conn, request))
        names = _org_names(conn)
    school_ids = set(report.by_school) if scope.all_schools else set(scope.schools)
    rows = []
    for school_id in sorted(school_ids, key=lambda s: (names.get(s, s), s)):
        counts = report.by_school.get(school_id, Counter())
        rows.append({"id": school_id, "name": names.get(school_id, school_id),
                     "counts": {s: counts.get(s, 0) for s in STATUSES},
                     "total": sum(counts.get(s, 0) for s in STATUSES)})
    if scope.all_schools:
        totals = {s: report.by_status.get(s, 0) for s in STATUSES}
    else:
        totals = {s: sum(r["counts"][s] for r in rows) for s in STATUSES}
    widest = max([r["total"] for r in rows] + [1])
    for r in rows:
        r["bars"] = [(s, r["counts"][s], 100.0 * r["counts"][s] / widest) for s in STATUSES if r["counts"][s]]
    changed = len(report.changed) if scope.all_schools else None
    return _page(request, "dashboard.html", me, day=day, rows=rows, totals=totals, statuses=STATUSES,
                 colors=COLORS, changed=changed, all_schools=scope.all_schools)


# People -----------------------------------------------------------------------------------------

@router.get("/people", response_class=HTMLResponse)
def people_form(request: Request) -> Response:
    me = _guard(request, "people")
    if isinstance(me, Response):
        return me
    return _page(request, "people.html", me, query="", found=None)


@router.post("/people", response_class=HTMLResponse)
def people_search(request: Request, q: str = Form(""), csrf: str = Form("")) -> Response:
    me = _guard(request, "people", post=True)
    if isinstance(me, Response):
        return me
    if not csrf_ok(request, csrf):
        return _message(request, me, 403, "The form expired. Please reload the page and try again.")
    query = q.strip()[:200]
    if not query:
        return _page(request, "people.html", me, query="", found=None)
    scope = me.scope
    folded = fold_name(query)
    like = "%" + folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    only = "" if scope.all_schools else """AND EXISTS (SELECT 1 FROM person_schools ps
        WHERE ps.person_sourced_id = p.sourced_id AND ps.payload_hash = p.payload_hash AND ps.org_sourced_id IN :schools)"""
    statement = typed(f"""
        SELECT p.sourced_id, p.given_name, p.family_name, p.kind FROM person_versions p
        WHERE {in_force('p', None)} AND p.kind IN ('student', 'staff')
          AND (p.sourced_id = :q OR p.identifier = :q
               OR (:folded <> '' AND (p.given_key || ' ' || p.family_key LIKE :like ESCAPE '\\'
                                      OR p.family_key || ' ' || p.given_key LIKE :like ESCAPE '\\')))
          {only}
        ORDER BY p.family_key, p.given_key, p.sourced_id""", on=Date)
    params = {"on": _today(request), "q": query, "folded": folded, "like": like}
    if not scope.all_schools:
        statement = statement.bindparams(bindparam("schools", expanding=True, type_=String))
        params["schools"] = sorted(scope.schools)
    with _engine(request).connect() as conn:
        rows = conn.execute(statement, params).all()
    found, seen = [], set()
    for r in rows:
        if r.sourced_id not in seen:
            seen.add(r.sourced_id)
            found.append({"id": r.sourced_id, "name": f"{r.given_name} {r.family_name}", "kind": r.kind})
    return _page(request, "people.html", me, query=query, found=found[:SEARCH_LIMIT],
                 more=len(found) > SEARCH_LIMIT)


@router.get("/people/{person_id}", response_class=HTMLResponse)
def person_page(request: Request, person_id: str, on: str | None = None) -> Response:
    me = _guard(request, "people")
    if isinstance(me, Response):
        return me
    day = _day(request, on)
    if day is None:
        return _message(request, me, 400, "The date must be written YYYY-MM-DD.")
    show_health = me.role in ALLOWED["health"]
    settings = request.app.state.settings
    with _engine(request).begin() as conn:
        person = _person(conn, person_id[:255], day)
        if person is None or not me.scope.covers(person[2]):
            return _message(request, me, 404, NOT_FOUND)
        name, kind, schools = person
        status = results = None
        if show_health:
            status = status_of(conn, person_id, day, _policy(conn, request))
            results = conn.execute(
                select(LabResult.id, LabResult.collected_on, LabResult.test_code, LabResult.result,
                       LabResult.lab, LabResult.accession, LabResult.match_method, LabResult.corrected)
                .where(LabResult.person_id == person_id)
                .order_by(LabResult.collected_on.desc(), LabResult.id.desc())
            ).all()
        messages = conn.execute(
            select(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.on_date, OutboxMessage.state,
                   OutboxMessage.recipient_id, OutboxMessage.address, OutboxMessage.sent_at, OutboxMessage.reason)
            .where(OutboxMessage.subject_id == person_id)
            .order_by(OutboxMessage.on_date.desc(), OutboxMessage.id.desc())
        ).all()
        disclosures = accounting(conn, person_id, settings.zone)
        conn.execute(AccessLogEntry.__table__.insert().values(
            at=datetime.now(UTC), actor=me.actor, action="staff-view", subject_id=person_id,
            detail=f"person page as {me.role}"))
        org_names = _org_names(conn)
    return _page(request, "person.html", me, person_id=person_id, name=name, kind=kind, day=day,
                 schools=[org_names.get(s, s) for s in sorted(schools)], show_health=show_health,
                 status=status, results=results, messages=messages, disclosures=disclosures, what=WHAT["en"],
                 can_reissue=me.role in ALLOWED["reissue"])


# Unmatched results ------------------------------------------------------------------------------

@router.get("/unmatched", response_class=HTMLResponse)
def unmatched_page(request: Request, matched: int | None = None) -> Response:
    me = _guard(request, "unmatched")
    if isinstance(me, Response):
        return me
    with _engine(request).connect() as conn:
        waiting = queue.unmatched(conn)
    return _page(request, "unmatched.html", me, waiting=waiting, matched=matched)


@router.post("/unmatched/{result_id}/match", response_class=HTMLResponse)
def match_result(request: Request, result_id: int, person_id: str = Form(""), csrf: str = Form("")) -> Response:
    me = _guard(request, "unmatched", post=True)
    if isinstance(me, Response):
        return me
    if not csrf_ok(request, csrf):
        return _message(request, me, 403, "The form expired. Please reload the page and try again.")
    engine = _engine(request)
    person_id = person_id.strip()[:255]
    with engine.connect() as conn:
        person = _person(conn, person_id, _today(request)) if person_id else None
    if person is None or not me.scope.covers(person[2]):
        return _message(request, me, 404, NOT_FOUND)
    try:
        queue.match(engine, result_id, person_id, by=me.email)
    except NotFound as missing:
        return _message(request, me, 404, str(missing))
    except SchoolpassError as refused:
        return _message(request, me, 409, str(refused))
    return RedirectResponse(f"/staff/unmatched?matched={result_id}", status_code=303)


# Follow-up --------------------------------------------------------------------------------------

@router.get("/follow-up", response_class=HTMLResponse)
def follow_up(request: Request) -> Response:
    """Messages that never had an address (held for staff, or no authorized address): call instead.
    Nothing is ever sent from this page."""
    me = _guard(request, "follow-up")
    if isinstance(me, Response):
        return me
    scope = me.scope
    today = _today(request)
    with _engine(request).connect() as conn:
        rows = conn.execute(
            select(OutboxMessage.id, OutboxMessage.subject_id, OutboxMessage.kind, OutboxMessage.on_date,
                   OutboxMessage.state, OutboxMessage.reason)
            .where(OutboxMessage.state.in_((HELD, UNDELIVERABLE)))
            .order_by(OutboxMessage.on_date.desc(), OutboxMessage.id.desc()).limit(2000)
        ).all()
        if not scope.all_schools:
            schools = _schools_of(conn, {r.subject_id for r in rows}, today)
            rows = [r for r in rows if scope.covers(schools.get(r.subject_id, ()))]
    return _page(request, "follow_up.html", me, rows=rows)


# Access log -------------------------------------------------------------------------------------

@router.get("/access-log", response_class=HTMLResponse)
def access_log(request: Request) -> Response:
    me = _guard(request, "access-log")
    if isinstance(me, Response):
        return me
    with _engine(request).connect() as conn:
        rows = conn.execute(
            select(AccessLogEntry.at, AccessLogEntry.actor, AccessLogEntry.action, AccessLogEntry.subject_id,
                   AccessLogEntry.detail).order_by(AccessLogEntry.id.desc()).limit(500)
        ).all()
        staff = {f"staff:{i}": email for i, email in conn.execute(select(StaffAccount.id, StaffAccount.email))}
    return _page(request, "access_log.html", me, rows=rows, staff=staff)


# The pages that act (single result entry, daily run, breach scope, ledger, link re-issue) live in
# staff_actions.py and register on this router.
from schoolpass.web import staff_actions  # noqa: E402,F401
