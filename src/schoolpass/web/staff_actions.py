"""Staff console pages that act: single result entry, the daily run, breach scope, ledger check, link re-issue.

Thin pages: parse the form, call the service, render. They share `staff.py`'s plumbing and register on
its router (imported at the end of `staff.py`). Role checks go through `staff.ALLOWED`; every form
carries the CSRF token; refusals and unknown ids answer without personal data.

- `/staff/results/new`: one result from a school testing site, written as a one-row SimpleReport CSV
  and imported through `import_results`, so it takes the same parsing, matching, policy and notices
  path as any lab file. A nurse or school admin whose entry matched somebody outside their schools
  is told only that it was recorded and waits for district staff.
- `/staff/daily`: today's dry run (counts, whole-run check, ids only); `/staff/daily/send` the real run
  with the configured SMTP server (none configured: the error, nothing planned or sent).
- `/staff/breach-scope`: dates go in a POST form, never the URL.
- `/staff/follow-up/{row}/reissue`: a sent message's link is re-issued; it goes out on the next send.
"""

from __future__ import annotations

import csv
import re
import secrets
import tempfile
from collections import Counter
from datetime import date, datetime
from pathlib import Path

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from schoolpass.disclosure.breach import breach_scope
from schoolpass.disclosure.ledger import verify
from schoolpass.errors import InputRejected, NotFound, SchoolpassError
from schoolpass.notices.daily import mailer_for, run_daily
from schoolpass.notices.links import reissue
from schoolpass.notices.models import SENT, OutboxMessage
from schoolpass.notices.planning import message_domain
from schoolpass.policy.store import policy_in_force
from schoolpass.results.importer import import_results
from schoolpass.results.models import LabResult
from schoolpass.web.staff import _engine, _guard, _message, _page, _person, _schools_of, _today, router
from schoolpass.web.security import csrf_ok

EXPIRED = "The form expired. Please reload the page and try again."
RESULTS = {"positive": "10828004", "negative": "260385009", "inconclusive": "419984006"}  # SNOMED CT
DEFAULT_LAB = "SCHOOL-SITE"
PREVIEW_ROWS = 200
WAITS = "The result was recorded; it waits for district staff."
# The SimpleReport columns schoolpass reads (CONTRACT section 3), plus the optional status.
COLUMNS = ("patient_id", "patient_last_name", "patient_first_name", "patient_dob", "patient_sex",
           "accession_number", "test_performed_code", "test_result", "specimen_collection_date",
           "test_result_date", "testing_lab_clia", "test_result_status")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?$")


def _in_force(conn, request: Request):
    configured = request.app.state.settings.policy
    return policy_in_force(conn, Path(configured) if configured else None)


# Single result entry ---------------------------------------------------------------------------

def _blank_entry() -> dict:
    return {"patient_id": "", "given": "", "family": "", "birth_date": "", "test": "", "result": "",
            "collected": "", "accession": "SITE-" + secrets.token_hex(4).upper(), "lab": DEFAULT_LAB}


def _entry_page(request: Request, me, codes, entry: dict, code: int = 200, errors=(), outcome=None) -> HTMLResponse:
    return _page(request, "result_new.html", me, code, entry=entry, codes=codes, results=tuple(RESULTS),
                 errors=list(errors), outcome=outcome)


def _check_entry(entry: dict, codes, today: date, zone) -> list[str]:
    errors = []
    if not entry["patient_id"] and not (entry["given"] and entry["family"] and entry["birth_date"]):
        errors.append("Give the student's sourcedId or lab patient id, or the full name with the birth date.")
    if entry["birth_date"]:
        try:
            if date.fromisoformat(entry["birth_date"]) > today:
                errors.append("The birth date is in the future.")
        except ValueError:
            errors.append("The birth date must be written YYYY-MM-DD.")
    if entry["test"] not in codes:
        errors.append("Choose one of the program's tests.")
    if entry["result"] not in RESULTS:
        errors.append("Choose positive, negative or inconclusive.")
    if not _DATETIME.match(entry["collected"]):
        errors.append("The collection date and time must be written YYYY-MM-DDTHH:MM.")
    else:
        try:
            if datetime.fromisoformat(entry["collected"]).replace(tzinfo=zone) > datetime.now(zone):
                errors.append("The collection time is in the future.")
        except ValueError:
            errors.append("The collection date and time must be written YYYY-MM-DDTHH:MM.")
    if not entry["accession"]:
        errors.append("The accession number is empty.")
    if not entry["lab"]:
        errors.append("The performing lab's CLIA is empty.")
    return errors


def _checked_post(request: Request, key: str, csrf: str):
    """The signed-in account allowed `key`, posting with a valid CSRF token; else the refusal to send."""
    me = _guard(request, key, post=True)
    if isinstance(me, Response):
        return me
    if not csrf_ok(request, csrf):
        return _message(request, me, 403, EXPIRED)
    return me


@router.get("/results/new", response_class=HTMLResponse)
def result_form(request: Request) -> Response:
    me = _guard(request, "results-new")
    if isinstance(me, Response):
        return me
    with _engine(request).connect() as conn:
        codes = sorted(_in_force(conn, request).policy.test_codes)
    return _entry_page(request, me, codes, _blank_entry())


@router.post("/results/new", response_class=HTMLResponse)
def result_entry(request: Request, patient_id: str = Form(""), given: str = Form(""), family: str = Form(""),
                 birth_date: str = Form(""), test: str = Form(""), result: str = Form(""),
                 collected: str = Form(""), accession: str = Form(""), lab: str = Form(""),
                 csrf: str = Form("")) -> Response:
    me = _checked_post(request, "results-new", csrf)
    if isinstance(me, Response):
        return me
    settings = request.app.state.settings
    engine = _engine(request)
    entry = {"patient_id": patient_id.strip()[:64], "given": given.strip()[:100], "family": family.strip()[:100],
             "birth_date": birth_date.strip()[:10], "test": test.strip()[:32], "result": result.strip(),
             "collected": collected.strip()[:19], "accession": accession.strip()[:64], "lab": lab.strip()[:64]}
    with engine.connect() as conn:
        policy = _in_force(conn, request).policy
    codes = sorted(policy.test_codes)
    errors = _check_entry(entry, codes, _today(request), settings.zone)
    if errors:
        return _entry_page(request, me, codes, entry, 400, errors)
    now = datetime.now(settings.zone)
    row = {"patient_id": entry["patient_id"], "patient_last_name": entry["family"],
           "patient_first_name": entry["given"], "patient_dob": entry["birth_date"], "patient_sex": "",
           "accession_number": entry["accession"], "test_performed_code": entry["test"],
           "test_result": RESULTS[entry["result"]], "specimen_collection_date": entry["collected"].replace(" ", "T"),
           "test_result_date": now.strftime("%Y-%m-%dT%H:%M"), "testing_lab_clia": entry["lab"],
           "test_result_status": "F"}
    with tempfile.TemporaryDirectory(prefix="schoolpass-entry-") as folder:
        path = Path(folder) / "single-entry.csv"
        with open(path, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerow(row)
        try:
            summary = import_results(engine, path, "simplereport-csv", settings.zone, test_codes=policy.test_codes)
        except InputRejected as refused:
            problems = [p.what for p in refused.problems]
            return _entry_page(request, me, codes, entry, 400, problems)
        except SchoolpassError as refused:
            return _entry_page(request, me, codes, entry, 400, [str(refused).replace(str(path), "the entry")])
    with engine.connect() as conn:
        stored = conn.execute(select(LabResult.id, LabResult.person_id).where(
            LabResult.lab == entry["lab"], LabResult.accession == entry["accession"],
            LabResult.test_code == entry["test"])).first()
        person = _person(conn, stored.person_id, _today(request)) if stored and stored.person_id else None
    if stored is not None and stored.person_id and not me.scope.all_schools:
        if person is None or not me.scope.covers(person[2]):
            return _entry_page(request, me, codes, _blank_entry(), outcome={"waits": WAITS})
    outcome = {"matched_by_id": summary.matched_by_id, "matched_by_name": summary.matched_by_name,
               "unmatched": summary.unmatched, "duplicates": summary.duplicates, "new": summary.new,
               "corrected": summary.corrected, "result_id": stored.id if stored else None,
               "person_id": stored.person_id if stored else None}
    return _entry_page(request, me, codes, _blank_entry(), outcome=outcome)


# The daily run ---------------------------------------------------------------------------------

def _counts(report) -> dict:
    plan = report.plan
    return {"statuses": sorted(plan.statuses.items()), "notices": sorted(plan.notices.items()),
            "messages": sorted(plan.messages.items()), "already_given": plan.already_given}


@router.get("/daily", response_class=HTMLResponse)
def daily_preview(request: Request) -> Response:
    me = _guard(request, "daily")
    if isinstance(me, Response):
        return me
    settings = request.app.state.settings
    engine = _engine(request)
    day = _today(request)
    with engine.connect() as conn:
        in_force = _in_force(conn, request)
    report = run_daily(engine, settings, day, in_force, dry_run=True)
    by_kind_state = sorted(Counter((kind, state) for kind, _, _, state in report.preview).items())
    violations = [(v.message_row, v.subject_id) for v in report.violations]
    return _page(request, "daily.html", me, day=day, counts=_counts(report), by_kind_state=by_kind_state,
                 violations=violations, preview=report.preview[:PREVIEW_ROWS], total=len(report.preview),
                 limit=PREVIEW_ROWS, smtp=bool(settings.smtp_url))


@router.post("/daily/send", response_class=HTMLResponse)
def daily_send(request: Request, csrf: str = Form("")) -> Response:
    me = _checked_post(request, "daily", csrf)
    if isinstance(me, Response):
        return me
    settings = request.app.state.settings
    engine = _engine(request)
    day = _today(request)
    try:
        mailer = mailer_for(settings)
    except SchoolpassError as refused:
        return _message(request, me, 409, f"Not sent: {refused}.")
    with engine.connect() as conn:
        in_force = _in_force(conn, request)
    try:
        report = run_daily(engine, settings, day, in_force, mailer=mailer)
    except SchoolpassError as refused:
        return _message(request, me, 409, f"Not sent: {refused}.")
    send = report.send
    return _page(request, "daily_sent.html", me, day=day, run_id=report.plan.run_id, counts=_counts(report),
                 stopped=report.stopped, violations=len(report.violations), blocked=report.blocked_by_check,
                 send=send, outbox=sorted(send.outbox.items()) if send else [])


# Breach scope and the ledger -------------------------------------------------------------------

@router.get("/breach-scope", response_class=HTMLResponse)
def breach_form(request: Request) -> Response:
    me = _guard(request, "breach-scope")
    if isinstance(me, Response):
        return me
    return _page(request, "breach.html", me, first="", last="", scope=None)


@router.post("/breach-scope", response_class=HTMLResponse)
def breach_page(request: Request, first: str = Form("", alias="from"), last: str = Form("", alias="to"),
                csrf: str = Form("")) -> Response:
    me = _checked_post(request, "breach-scope", csrf)
    if isinstance(me, Response):
        return me
    first, last = first.strip()[:10], last.strip()[:10]
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        return _page(request, "breach.html", me, 400, first=first, last=last, scope=None,
                     error="Both dates must be written YYYY-MM-DD.")
    if start > end:
        return _page(request, "breach.html", me, 400, first=first, last=last, scope=None,
                     error="The window's first day comes after its last day.")
    with _engine(request).connect() as conn:
        scope = breach_scope(conn, start, end).as_dict()
    return _page(request, "breach.html", me, first=first, last=last, scope=scope)


@router.get("/ledger", response_class=HTMLResponse)
def ledger_page(request: Request) -> Response:
    me = _guard(request, "ledger")
    if isinstance(me, Response):
        return me
    with _engine(request).connect() as conn:
        check = verify(conn)
    return _page(request, "ledger.html", me, check=check)


# Link re-issue ---------------------------------------------------------------------------------

@router.post("/follow-up/{message_row}/reissue", response_class=HTMLResponse)
def reissue_link(request: Request, message_row: int, csrf: str = Form("")) -> Response:
    me = _checked_post(request, "reissue", csrf)
    if isinstance(me, Response):
        return me
    settings = request.app.state.settings
    with _engine(request).begin() as conn:
        row = conn.execute(select(OutboxMessage.id, OutboxMessage.subject_id, OutboxMessage.state,
                                  OutboxMessage.address).where(OutboxMessage.id == message_row)).first()
        if row is None:
            return _message(request, me, 404, "No such message in your schools.")
        if not me.scope.all_schools:
            schools = _schools_of(conn, {row.subject_id}, _today(request)).get(row.subject_id, set())
            if not me.scope.covers(schools):
                return _message(request, me, 404, "No such message in your schools.")
        if row.state != SENT or row.address is None:
            return _message(request, me, 409, f"Message {message_row} was not sent, so it has no link to re-issue.")
        try:
            reissue(conn, message_row, by=me.email, mail_domain=message_domain(settings.mail_from))
        except NotFound:
            return _message(request, me, 404, "No such message in your schools.")
    return _message(request, me, 200, f"The link of message {message_row} was re-issued: the old link no longer "
                                      "works, and the message goes out again with a new link on the next send.")

