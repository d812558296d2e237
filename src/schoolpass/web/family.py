"""The family portal (`/family/`): sign-in links, what a family sees, attestations, the daily pass.

- Sign-in: a one-time link (single use, 15 minutes) emailed to an address on the roster. The
  page answers the same whether or not the address is known; the lookup and the email happen
  after the answer is sent, so timing tells nothing either.
- What a family sees: only the subjects its address may receive notices about today, by
  `roster.authorization.authorized_recipients` (the notices' rule), decided again on every request.
  Anyone else, and an unknown id, get the same 404 with nothing personal in it.
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
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from pathlib import Path

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from schoolpass.errors import SchoolpassError
from schoolpass.notices.models import SENT, OutboxMessage
from schoolpass.policy.statuses import status_of
from schoolpass.policy.store import policy_in_force
from schoolpass.results.models import LabResult
from schoolpass.roster.authorization import Recipient, authorized_recipients
from schoolpass.roster.models import OrgVersion, PersonAgent, PersonSchool, PersonVersion
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


def authorized_subjects(conn: Connection, on: date, key: str) -> dict[str, Recipient]:
    """The subjects the address `key` may receive information about on `on` (subject id → its Recipient).

    The candidates are only a prefilter (the address's own people and everyone linked to them);
    `authorized_recipients` decides.
    """
    people = sorted(set(conn.execute(select(PersonVersion.sourced_id).where(
        PersonVersion.rec_to.is_(None), func.lower(PersonVersion.email) == key)).scalars()))
    if not people:
        return {}
    candidates = set(people)
    candidates.update(conn.execute(select(PersonAgent.person_sourced_id).where(
        PersonAgent.agent_sourced_id.in_(people))).scalars())
    candidates.update(conn.execute(select(PersonAgent.agent_sourced_id).where(
        PersonAgent.person_sourced_id.in_(people))).scalars())
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


def session_address(engine: Engine, token: str | None, now: datetime) -> str | None:
    """The address key behind a live family session, else None."""
    if not token or len(token) > 128:
        return None
    session_id = _hash(token)
    with engine.connect() as conn:
        found = conn.execute(select(FamilySession.address_key, FamilySession.last_seen_at, FamilySession.expires_at,
                                    FamilySession.revoked_at).where(FamilySession.id == session_id)).first()
    if found is None or found.revoked_at is not None or now >= found.expires_at:
        return None
    if now - found.last_seen_at >= TOUCH_EVERY:
        # A transaction that starts with its write (SQLite: no read-then-write upgrade to fail under load);
        # of many requests arriving together, one touches and the others find nothing to do.
        with engine.begin() as conn:
            conn.execute(update(FamilySession).where(FamilySession.id == session_id,
                                                     FamilySession.last_seen_at < now - TOUCH_EVERY)
                         .values(last_seen_at=now))
    return found.address_key


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


def _page(request: Request, template: str, lang: str, code: int = 200, **context) -> HTMLResponse:
    from schoolpass.web.app import TEMPLATES

    words = {**WORDS.get(lang, WORDS["en"]), **FAMILY_WORDS.get(lang, FAMILY_WORDS["en"])}
    token = csrf_token(request)
    response = TEMPLATES.TemplateResponse(request, template, {"lang": lang, "w": words, "csrf": token, **context},
                                          status_code=code)
    set_csrf_cookie(response, token, request.app.state.https)
    return response


def _message(request: Request, lang: str, key: str, code: int, sign_in: bool = False) -> HTMLResponse:
    words = FAMILY_WORDS.get(lang, FAMILY_WORDS["en"])
    return _page(request, "family/message.html", lang, code, message=words[key], sign_in=sign_in)


@dataclass
class Signed:
    key: str
    today: date
    subjects: dict[str, Recipient]

    @property
    def language(self) -> str:
        return self.subjects[min(self.subjects)].language if self.subjects else "en"


def _signed_in(request: Request, post: bool = False) -> Signed | Response:
    engine = request.app.state.engine
    key = session_address(engine, request.cookies.get(COOKIE), _now())
    if key is None:
        if post:
            return _message(request, _browser_language(request), "sign_in_again", 403, sign_in=True)
        return RedirectResponse("/family/", status_code=303)
    today = _today(request)
    with engine.connect() as conn:
        subjects = authorized_subjects(conn, today, key)
    return Signed(key, today, subjects)


def _policy(conn: Connection, request: Request):
    configured = request.app.state.settings.policy
    return policy_in_force(conn, Path(configured) if configured else None).policy


def _people(conn: Connection, ids: list[str], on: date) -> dict[str, dict]:
    """Given name, family name and school names of each subject, from the record in force on `on`."""
    if not ids:
        return {}
    rows = conn.execute(
        select(PersonVersion.sourced_id, PersonVersion.given_name, PersonVersion.family_name,
               PersonVersion.payload_hash)
        .where(PersonVersion.sourced_id.in_(ids), PersonVersion.rec_to.is_(None), PersonVersion.valid_from <= on,
               (PersonVersion.valid_to.is_(None)) | (PersonVersion.valid_to > on))).all()
    # The schools of those records only (a district has hundreds of schools; a family sees a few).
    schools: dict[tuple[str, str], set[str]] = {}
    for person, payload, name in conn.execute(
            select(PersonSchool.person_sourced_id, PersonSchool.payload_hash, OrgVersion.name)
            .join(OrgVersion, OrgVersion.sourced_id == PersonSchool.org_sourced_id)
            .where(PersonSchool.person_sourced_id.in_(ids), OrgVersion.rec_to.is_(None), OrgVersion.valid_from <= on,
                   (OrgVersion.valid_to.is_(None)) | (OrgVersion.valid_to > on))):
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


@router.get("/family/home", response_class=HTMLResponse)
def home(request: Request) -> Response:
    me = _signed_in(request)
    if isinstance(me, Response):
        return me
    rows = []
    with request.app.state.engine.connect() as conn:
        policy = _policy(conn, request)
        people = _people(conn, sorted(me.subjects), me.today)
        for subject_id in sorted(me.subjects):
            person = people.get(subject_id)
            if person is None:
                continue
            rows.append({**person, "status": status_of(conn, subject_id, me.today, policy).status})
    return _page(request, "family/home.html", me.language, people=rows, day=me.today)


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
