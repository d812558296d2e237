"""The family portal (`/family/`): sign-in links, what a family sees, attestations, the daily pass.

- Sign-in: a one-time link (single use, 15 minutes) emailed to an address on the roster. The
  page answers the same whether or not the address is known; the lookup and the email happen
  after the answer is sent, so timing tells nothing either.
- What a family sees: only the subjects its address may receive notices about today, by
  `roster.authorization.authorized_recipients` (the notices' rule). Anyone else, and an unknown id,
  get the same 404 with nothing personal in it. Each request reads its session and the data version
  (roster imports, results imports, staff matches, stored policies) in one statement; what the rule
  gave for (address, day, version, policy) is kept in the process and reused until any of them
  changes, so a custody change or a new result shows on the first request after it commits. Nothing
  is kept for a length of time.
- /family/home is answered on the event loop when its page is already made for that state (one short
  read); everything else goes to the thread pool.
- Sessions: the `sp_family` cookie carries a random token; the database keeps only its SHA-256;
  12 hours at most.
- Daily pass: with status `cleared` or `exempt` and today's attestation answered "no" to every
  question, a QR code carrying a token signed with Ed25519 for (person, school, date). The gate
  verifies it with the public key alone (no database lookup for the pass) and shows only the given
  name, family initial, school and "valid today" or "not valid".

The pass token is made in web/daily_pass.py; the gate is web/gate.py.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import escape
from sqlalchemy import Connection, Date, Engine, bindparam, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from schoolpass.errors import SchoolpassError
from schoolpass.notices.models import SENT, OutboxMessage
from schoolpass.policy.statuses import status_of
from schoolpass.policy.store import policy_in_force
from schoolpass.results.models import LabResult
from schoolpass.roster.authorization import Recipient, authorized_recipients
from schoolpass.roster.models import OrgVersion, PersonSchool, PersonVersion
from schoolpass.storage.instants import bulk_instant
from schoolpass.web.daily_pass import PassKeys, pass_keys, qr_data_uri, sign_pass
from schoolpass.web.family_words import FAMILY_WORDS
from schoolpass.web.family_models import Attestation, FamilySession, FamilySignInLink
from schoolpass.web.security import RateLimit, csrf_ok, csrf_token, set_csrf_cookie
from schoolpass.web.words import WORDS

router = APIRouter()
COOKIE = "sp_family"
LINK_TTL = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=12)
TOUCH_EVERY = timedelta(seconds=30)
SIGN_IN_LIMIT, SIGN_IN_WINDOW = 5, 60.0  # sign-in requests per client address per minute
LINKS_PER_ADDRESS = 3  # at most this many links per address per LINK_TTL
QUESTIONS = ("fever", "cough", "contact")
PASS_STATUSES = ("cleared", "exempt")



# Sign-in links and sessions ---------------------------------------------------------------------

def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def address_key(address: str) -> str | None:
    address = (address or "").strip().lower()
    local, at, domain = address.partition("@")
    if not at or not local or not domain or len(address) > 320 or any(ch.isspace() for ch in address):
        return None
    return address


# The address's own people (any record as known now) and everyone linked to them, either way round.
_CANDIDATES = text("""
WITH own AS (SELECT DISTINCT sourced_id FROM person_versions WHERE rec_to IS NULL AND lower(email) = :key)
SELECT sourced_id FROM own
UNION SELECT pa.person_sourced_id FROM own CROSS JOIN person_agents pa WHERE pa.agent_sourced_id = own.sourced_id
UNION SELECT pa.agent_sourced_id FROM own CROSS JOIN person_agents pa WHERE pa.person_sourced_id = own.sourced_id
""")


def authorized_subjects(conn: Connection, on: date, key: str) -> dict[str, Recipient]:
    """The subjects the address `key` may receive information about on `on` (subject id → its Recipient).

    The candidates are only a prefilter (the address's own people and everyone linked to them);
    `authorized_recipients` decides.
    """
    candidates = set(conn.execute(_CANDIDATES, {"key": key}).scalars())
    if not candidates:
        return {}
    found: dict[str, Recipient] = {}
    for recipient in authorized_recipients(conn, on, candidates):
        if recipient.address and recipient.address.lower() == key:
            found.setdefault(recipient.subject_id, recipient)
    return found


def create_link(engine: Engine, key: str, now: datetime) -> str | None:
    """A new one-time link token for `key`, or None when the address already got its share lately."""
    token = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        recent = conn.execute(select(func.count()).select_from(FamilySignInLink).where(
            FamilySignInLink.address_key == key, FamilySignInLink.created_at > now - LINK_TTL)).scalar_one()
        if recent >= LINKS_PER_ADDRESS:
            return None
        conn.execute(insert(FamilySignInLink).values(token_hash=_hash(token), address_key=key, created_at=now))
    return token


def use_link(engine: Engine, token: str, now: datetime) -> str | None:
    """Spend a link (once, within 15 minutes) and open a session; returns the cookie token, else None."""
    if not token or len(token) > 128:
        return None
    token_hash = _hash(token)
    with engine.begin() as conn:
        spent = conn.execute(update(FamilySignInLink).where(
            FamilySignInLink.token_hash == token_hash, FamilySignInLink.used_at.is_(None),
            FamilySignInLink.created_at > now - LINK_TTL).values(used_at=now))
        if spent.rowcount != 1:
            return None
        key = conn.execute(select(FamilySignInLink.address_key).where(
            FamilySignInLink.token_hash == token_hash)).scalar_one()
        session = secrets.token_urlsafe(32)
        conn.execute(insert(FamilySession).values(id=_hash(session), address_key=key, created_at=now,
                                                  last_seen_at=now, expires_at=now + SESSION_TTL))
    return session


# One statement per request: the live session (and whether it is due a touch) and the data version,
# a count and the newest id of every table whose rows record a change to what a family may see: roster
# imports (every roster change, custody included), results imports (new results, corrections, queue
# matches), staff matches and unmatches, stored policies. Each such row is written in the same
# transaction as the change it records and none is ever deleted, so the version changes the moment a
# change commits (the count also when PostgreSQL commits ids out of order). Sent straight to the driver:
# it runs on every request, and SQLAlchemy's statement machinery costs more than the query.
_SESSION_AND_VERSION = """
SELECT s.address_key, CASE WHEN s.last_seen_at < :touch_before THEN 1 ELSE 0 END,
       (SELECT count(*) FROM roster_imports), (SELECT max(id) FROM roster_imports),
       (SELECT count(*) FROM result_imports), (SELECT max(id) FROM result_imports),
       (SELECT count(*) FROM result_match_events), (SELECT max(id) FROM result_match_events),
       (SELECT count(*) FROM program_policies), (SELECT max(id) FROM program_policies)
FROM family_sessions s
WHERE s.id = :id AND s.revoked_at IS NULL AND s.expires_at > :now
"""
_DRIVER_SQL = {"sqlite": _SESSION_AND_VERSION,
               "postgresql": re.sub(r":(\w+)", r"%(\1)s", _SESSION_AND_VERSION)}


def _read_session(engine: Engine, session_id: str, now: datetime) -> tuple | None:
    """(address key, touch due, *data version) of a live session, else None: one statement, one snapshot."""
    dialect = engine.dialect.name
    params = {"id": session_id, "now": bulk_instant(now, dialect),
              "touch_before": bulk_instant(now - TOUCH_EVERY, dialect)}
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            cursor.execute(_DRIVER_SQL[dialect], params)
            return cursor.fetchone()
        finally:
            cursor.close()
    finally:
        raw.close()  # back to the pool, which ends the read transaction (PostgreSQL)


def _session_and_version(engine: Engine, token: str | None, now: datetime) -> tuple[str, tuple] | None:
    """(address key, data version) for a live family session, else None; touches the session now and then."""
    if not token or len(token) > 128:
        return None
    session_id = _hash(token)
    found = _read_session(engine, session_id, now)
    if found is None:
        return None
    if found[1]:
        # A transaction that starts with its write (SQLite: no read-then-write upgrade to fail under load);
        # of many requests arriving together, one touches and the others find nothing to do.
        with engine.begin() as conn:
            conn.execute(update(FamilySession).where(FamilySession.id == session_id,
                                                     FamilySession.last_seen_at < now - TOUCH_EVERY)
                         .values(last_seen_at=now))
    return found[0], tuple(found[2:])


def revoke(engine: Engine, token: str | None, now: datetime) -> None:
    if token and len(token) <= 128:
        with engine.begin() as conn:
            conn.execute(update(FamilySession).where(FamilySession.id == _hash(token),
                                                     FamilySession.revoked_at.is_(None)).values(revoked_at=now))


def link_message(settings, address: str, link: str, language: str) -> bytes:
    words = FAMILY_WORDS.get(language, FAMILY_WORDS["en"])
    message = EmailMessage(policy=SMTP)
    message["From"] = settings.mail_from
    message["To"] = address
    if settings.reply_to:
        message["Reply-To"] = settings.reply_to
    message["Subject"] = words["email_subject"]
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or "localhost")
    message.set_content(words["email_body"].format(link=link), charset="utf-8", cte="8bit")
    return message.as_bytes()


def send_sign_in_link(engine: Engine, settings, address: str) -> None:
    """Email a link when the address may receive information about someone today; else nothing."""
    key = address_key(address)
    if key is None or not settings.smtp_url:
        return
    now = datetime.now(UTC)
    with engine.connect() as conn:
        subjects = authorized_subjects(conn, now.astimezone(settings.zone).date(), key)
    if not subjects:
        return
    recipient = subjects[min(subjects)]
    token = create_link(engine, key, now)
    if token is None:
        return
    from schoolpass.notices.smtp import Mailer, parse_smtp_url

    link = f"{settings.base_url.rstrip('/')}/family/enter/{token}"
    try:
        mailer = Mailer(parse_smtp_url(settings.smtp_url))
        try:
            mailer.send(settings.mail_from, recipient.address or address.strip(),
                        link_message(settings, recipient.address or address.strip(), link, recipient.language))
        finally:
            mailer.close()
    except (SchoolpassError, OSError):
        return  # the page already answered; a failed link is asked for again


# Pages ------------------------------------------------------------------------------------------

def _now() -> datetime:
    return datetime.now(UTC)


def _today(request: Request) -> date:
    return datetime.now(request.app.state.settings.zone).date()


def _keys(request: Request) -> PassKeys:
    keys = getattr(request.app.state, "pass_keys", None)
    if keys is None:
        keys = request.app.state.pass_keys = pass_keys(request.app.state.settings)
    return keys


def _limit(request: Request) -> RateLimit:
    limit = getattr(request.app.state, "family_sign_ins", None)
    if limit is None:
        limit = request.app.state.family_sign_ins = RateLimit(limit=SIGN_IN_LIMIT, window=SIGN_IN_WINDOW)
    return limit


def _browser_language(request: Request) -> str:
    return "es" if request.headers.get("accept-language", "").lower().startswith("es") else "en"


_CSRF_SLOT = f"csrf-slot-{secrets.token_hex(16)}"  # where a cached page gets the request's CSRF token


@lru_cache(maxsize=8)
def _words(lang: str) -> dict:
    return {**WORDS.get(lang, WORDS["en"]), **FAMILY_WORDS.get(lang, FAMILY_WORDS["en"])}


def _render(template: str, lang: str, csrf: str, **context) -> str:
    from schoolpass.web.app import TEMPLATES

    return TEMPLATES.get_template(template).render({"lang": lang, "w": _words(lang), "csrf": csrf, **context})


def _page(request: Request, template: str, lang: str, code: int = 200, **context) -> HTMLResponse:
    from schoolpass.web.app import TEMPLATES

    token = csrf_token(request)
    response = TEMPLATES.TemplateResponse(request, template, {"lang": lang, "w": _words(lang), "csrf": token,
                                                              **context}, status_code=code)
    set_csrf_cookie(response, token, request.app.state.https)
    return response


def _message(request: Request, lang: str, key: str, code: int, sign_in: bool = False) -> HTMLResponse:
    words = FAMILY_WORDS.get(lang, FAMILY_WORDS["en"])
    return _page(request, "family/message.html", lang, code, message=words[key], sign_in=sign_in)


class Family:
    """What one address may see on one day in one state of the data (see `_Families`)."""

    __slots__ = ("subjects", "home")

    def __init__(self, subjects: dict[str, Recipient]) -> None:
        self.subjects = subjects
        self.home: str | None = None  # the home page, with _CSRF_SLOT where the form's token goes


class _Families:
    """Each address's `Family`, for one generation: (data version, day, policy) as read on the request.

    The rule is still `authorized_subjects` (the notices' rule), evaluated for that day against the data
    as it stood at that version or later: any roster import, results import, staff match or unmatch, or
    newly stored policy makes a new generation and the next request computes everything again. Nothing
    is kept for a time: a custody change shows on the first request after its import commits.
    """

    LIMIT = 20_000  # addresses kept per generation (each about 2 kB with its page)

    def __init__(self) -> None:
        self.generation: tuple | None = None
        self.families: dict[str, Family] = {}
        self.lock = threading.Lock()

    def get(self, generation: tuple, key: str) -> Family | None:
        return self.families.get(key) if generation == self.generation else None

    def put(self, generation: tuple, key: str, family: Family) -> None:
        with self.lock:
            if generation != self.generation or len(self.families) >= self.LIMIT:
                self.generation, self.families = generation, {}
            self.families[key] = family

    def clear(self) -> None:
        with self.lock:
            self.generation, self.families = None, {}


def _families(request: Request) -> _Families:
    families = getattr(request.app.state, "families", None)
    if families is None:
        families = request.app.state.families = _Families()
    return families


@dataclass
class Signed:
    key: str
    today: date
    family: Family

    @property
    def subjects(self) -> dict[str, Recipient]:
        return self.family.subjects

    @property
    def language(self) -> str:
        return self.subjects[min(self.subjects)].language if self.subjects else "en"


def _policy_key(request: Request) -> str | None:
    """A policy file configured for the server is read again on every request (it may be edited)."""
    configured = request.app.state.settings.policy
    if not configured:
        return None
    try:
        return Path(configured).read_text(encoding="utf-8")
    except OSError:
        return configured


def _signed_in(request: Request, post: bool = False) -> Signed | Response:
    engine = request.app.state.engine
    found = _session_and_version(engine, request.cookies.get(COOKIE), _now())
    if found is None:
        if post:
            return _message(request, _browser_language(request), "sign_in_again", 403, sign_in=True)
        return RedirectResponse("/family/", status_code=303)
    key, version = found
    today = _today(request)
    generation = (version, today, _policy_key(request))
    families = _families(request)
    family = families.get(generation, key)
    if family is None:
        with engine.connect() as conn:
            family = Family(authorized_subjects(conn, today, key))
        families.put(generation, key, family)
    return Signed(key, today, family)


def _policy(conn: Connection, request: Request):
    configured = request.app.state.settings.policy
    return policy_in_force(conn, Path(configured) if configured else None).policy


# Built once: building a statement costs more than running it on a family's few people.
_PEOPLE = (select(PersonVersion.sourced_id, PersonVersion.given_name, PersonVersion.family_name,
                  PersonVersion.payload_hash)
           .where(PersonVersion.sourced_id.in_(bindparam("ids", expanding=True)), PersonVersion.rec_to.is_(None),
                  PersonVersion.valid_from <= bindparam("on", type_=Date()),
                  (PersonVersion.valid_to.is_(None)) | (PersonVersion.valid_to > bindparam("on", type_=Date()))))
_SCHOOLS = (select(PersonSchool.person_sourced_id, PersonSchool.payload_hash, OrgVersion.name)
            .join(OrgVersion, OrgVersion.sourced_id == PersonSchool.org_sourced_id)
            .where(PersonSchool.person_sourced_id.in_(bindparam("ids", expanding=True)), OrgVersion.rec_to.is_(None),
                   OrgVersion.valid_from <= bindparam("on", type_=Date()),
                   (OrgVersion.valid_to.is_(None)) | (OrgVersion.valid_to > bindparam("on", type_=Date()))))


def _people(conn: Connection, ids: list[str], on: date) -> dict[str, dict]:
    """Given name, family name and school names of each subject, from the record in force on `on`."""
    if not ids:
        return {}
    rows = conn.execute(_PEOPLE, {"ids": ids, "on": on}).all()
    # The schools of those records only (a district has hundreds of schools; a family sees a few).
    schools: dict[tuple[str, str], set[str]] = {}
    for person, payload, name in conn.execute(_SCHOOLS, {"ids": ids, "on": on}):
        schools.setdefault((person, payload), set()).add(name)
    found = {}
    for row in rows:
        found[row.sourced_id] = {"id": row.sourced_id, "given": row.given_name, "family": row.family_name,
                                 "name": f"{row.given_name} {row.family_name}".strip(),
                                 "schools": sorted(schools.get((row.sourced_id, row.payload_hash), ()))}
    return found


def _attestation(conn: Connection, subject_id: str, day: date) -> dict | None:
    answers = conn.execute(select(Attestation.answers).where(
        Attestation.subject_id == subject_id, Attestation.day == day)).scalar()
    return json.loads(answers) if answers else None


def _pass_allowed(status: str, answers: dict | None) -> bool:
    return status in PASS_STATUSES and answers is not None and not any(answers.get(q, True) for q in QUESTIONS)


@router.get("/family/", response_class=HTMLResponse)
def sign_in_form(request: Request) -> Response:
    return _page(request, "family/sign_in.html", _browser_language(request))


@router.post("/family/", response_class=HTMLResponse)
def sign_in(request: Request, background: BackgroundTasks, email: str = Form(""), csrf: str = Form("")) -> Response:
    lang = _browser_language(request)
    client = request.client.host if request.client else "unknown"
    if not _limit(request).allow(client):
        return _message(request, lang, "too_many", 429)
    if not csrf_ok(request, csrf):
        return _message(request, lang, "expired_form", 403)
    background.add_task(send_sign_in_link, request.app.state.engine, request.app.state.settings, email[:320])
    return _message(request, lang, "link_on_its_way", 200)


@router.get("/family/enter/{token}")
def enter(request: Request, token: str) -> Response:
    session = use_link(request.app.state.engine, token, _now())
    if session is None:
        return _message(request, _browser_language(request), "link_invalid", 410, sign_in=True)
    response = RedirectResponse("/family/home", status_code=303)
    response.set_cookie(COOKIE, session, max_age=int(SESSION_TTL.total_seconds()), httponly=True,
                        samesite="strict", secure=request.app.state.https, path="/family")
    return response


@router.post("/family/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    lang = _browser_language(request)
    if not csrf_ok(request, csrf):
        return _message(request, lang, "expired_form", 403)
    revoke(request.app.state.engine, request.cookies.get(COOKIE), _now())
    response = _message(request, lang, "signed_out", 200, sign_in=True)
    response.delete_cookie(COOKIE, path="/family", httponly=True, samesite="strict", secure=request.app.state.https)
    return response


def _home_page(request: Request, body: str) -> Response:
    token = csrf_token(request)
    response = HTMLResponse(body.replace(_CSRF_SLOT, str(escape(token))))
    set_csrf_cookie(response, token, request.app.state.https)
    return response


def _home_cached(request: Request) -> Response | None:
    """The home page when everything is at hand: a live session not due a touch, and the page already
    made for this address in this state of the data. One short read; None: go the long way."""
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 128:
        return None
    found = _read_session(request.app.state.engine, _hash(token), _now())
    if found is None or found[1]:
        return None
    generation = (tuple(found[2:]), _today(request), _policy_key(request))
    family = _families(request).get(generation, found[0])
    if family is None or family.home is None:
        return None
    return _home_page(request, family.home)


def _home(request: Request) -> Response:
    me = _signed_in(request)
    if isinstance(me, Response):
        return me
    body = me.family.home
    if body is None:
        rows = []
        with request.app.state.engine.connect() as conn:
            policy = _policy(conn, request)
            people = _people(conn, sorted(me.subjects), me.today)
            for subject_id in sorted(me.subjects):
                person = people.get(subject_id)
                if person is None:
                    continue
                rows.append({**person, "status": status_of(conn, subject_id, me.today, policy).status})
        body = me.family.home = _render("family/home.html", me.language, _CSRF_SLOT, people=rows, day=me.today)
    return _home_page(request, body)


@router.get("/family/home", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    # Most requests are answered right here, on the event loop (a thread hop costs more than the answer);
    # sign-ins, touches and the first view after a change are worked out in the thread pool.
    answer = _home_cached(request)
    return answer if answer is not None else await run_in_threadpool(_home, request)


def _subject_page(request: Request, me: Signed, subject_id: str, error: str | None = None,
                  code: int = 200) -> Response:
    keys = _keys(request)
    with request.app.state.engine.connect() as conn:
        person = _people(conn, [subject_id], me.today).get(subject_id)
        if person is None:
            return _message(request, me.language, "not_found", 404)
        status = status_of(conn, subject_id, me.today, _policy(conn, request))
        results = conn.execute(
            select(LabResult.collected_on, LabResult.result, LabResult.test_code)
            .where(LabResult.person_id == subject_id, LabResult.collected_on <= me.today)
            .order_by(LabResult.collected_on.desc(), LabResult.id.desc()).limit(5)).all()
        notices = conn.execute(
            select(OutboxMessage.kind, OutboxMessage.on_date)
            .where(OutboxMessage.subject_id == subject_id, OutboxMessage.address_key == me.key,
                   OutboxMessage.state == SENT)
            .order_by(OutboxMessage.on_date.desc(), OutboxMessage.id.desc()).limit(20)).all()
        answers = _attestation(conn, subject_id, me.today)
    return _page(request, "family/person.html", me.language, code, person=person, status=status, results=results,
                 notices=notices, answers=answers, questions=QUESTIONS, error=error, day=me.today,
                 pass_ok=_pass_allowed(status.status, answers), configured=keys.private is not None,
                 attested_yes=answers is not None and any(answers.get(q, True) for q in QUESTIONS))


@router.get("/family/people/{subject_id}", response_class=HTMLResponse)
def person_page(request: Request, subject_id: str) -> Response:
    me = _signed_in(request)
    if isinstance(me, Response):
        return me
    if subject_id not in me.subjects:
        return _message(request, me.language, "not_found", 404)
    return _subject_page(request, me, subject_id)


@router.post("/family/people/{subject_id}", response_class=HTMLResponse)
def attest(request: Request, subject_id: str, csrf: str = Form(""), fever: str = Form(""), cough: str = Form(""),
           contact: str = Form("")) -> Response:
    me = _signed_in(request, post=True)
    if isinstance(me, Response):
        return me
    if not csrf_ok(request, csrf):
        return _message(request, me.language, "expired_form", 403)
    if subject_id not in me.subjects:
        return _message(request, me.language, "not_found", 404)
    given = {"fever": fever, "cough": cough, "contact": contact}
    if any(value not in ("yes", "no") for value in given.values()):
        words = FAMILY_WORDS.get(me.language, FAMILY_WORDS["en"])
        return _subject_page(request, me, subject_id, error=words["answer_all"], code=400)
    answers = {q: given[q] == "yes" for q in QUESTIONS}
    try:
        with request.app.state.engine.begin() as conn:
            # The first answer of the day stands (a "yes" cannot be replaced by a "no" to get a pass).
            conn.execute(insert(Attestation).values(subject_id=subject_id, day=me.today, address_key=me.key,
                                                    at=_now(), answers=json.dumps(answers, sort_keys=True)))
    except IntegrityError:
        pass
    return RedirectResponse(f"/family/people/{subject_id}", status_code=303)


@router.get("/family/pass/{subject_id}", response_class=HTMLResponse)
def daily_pass(request: Request, subject_id: str) -> Response:
    me = _signed_in(request)
    if isinstance(me, Response):
        return me
    if subject_id not in me.subjects:
        return _message(request, me.language, "not_found", 404)
    keys = _keys(request)
    if keys.private is None:
        return _message(request, me.language, "not_configured", 503)
    with request.app.state.engine.connect() as conn:
        person = _people(conn, [subject_id], me.today).get(subject_id)
        if person is None:
            return _message(request, me.language, "not_found", 404)
        status = status_of(conn, subject_id, me.today, _policy(conn, request))
        answers = _attestation(conn, subject_id, me.today)
    if not _pass_allowed(status.status, answers):
        return _message(request, me.language, "no_pass", 403)
    token = sign_pass(keys.private, subject_id, person["given"], person["family"][:1], ", ".join(person["schools"]),
                      me.today)
    return _page(request, "family/pass.html", me.language, person=person, token=token, qr=qr_data_uri(token),
                 day=me.today)
