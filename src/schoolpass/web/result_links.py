"""The result link page (`/r/TOKEN`): thin; `notices.links` decides everything."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from schoolpass.notices.links import EXPIRED, LOCKED, NO_BIRTH_DATE, OK, open_link, prove_birth_date
from schoolpass.policy.store import policy_in_force
from schoolpass.web.security import csrf_ok, csrf_token, set_csrf_cookie
from schoolpass.web.words import WORDS

router = APIRouter()
_STATUS = {EXPIRED: 410, LOCKED: 423, NO_BIRTH_DATE: 200}
_MESSAGE = {EXPIRED: "gone", LOCKED: "locked", NO_BIRTH_DATE: "no_birth_date"}


def _page(request: Request, template: str, lang: str, code: int = 200, **context) -> HTMLResponse:
    from schoolpass.web.app import TEMPLATES

    words = WORDS.get(lang, WORDS["en"])
    return TEMPLATES.TemplateResponse(request, template, {"lang": lang, "w": words, **context}, status_code=code)


def _message(request: Request, lang: str, key: str, code: int) -> HTMLResponse:
    return _page(request, "message.html", lang, code, message=WORDS.get(lang, WORDS["en"])[key])


def _today(request: Request):
    return datetime.now(request.app.state.settings.zone).date()


def _form(request: Request, link, error: str | None = None) -> HTMLResponse:
    token = csrf_token(request)
    response = _page(request, "link_form.html", link.language, name=link.name, csrf=token, error=error)
    set_csrf_cookie(response, token, request.app.state.https)
    return response


@router.get("/r/{token}", response_class=HTMLResponse)
def show_link(request: Request, token: str) -> HTMLResponse:
    with request.app.state.engine.connect() as conn:
        link = open_link(conn, token, datetime.now(UTC), _today(request))
    if link.outcome == OK:
        return _form(request, link)
    if link.outcome in _MESSAGE:
        return _message(request, link.language, _MESSAGE[link.outcome], _STATUS[link.outcome])
    return _message(request, "en", "unknown", 404)


@router.post("/r/{token}", response_class=HTMLResponse)
def check_birth_date(request: Request, token: str, birth_date: str = Form(""), csrf: str = Form("")) -> HTMLResponse:
    client = request.client.host if request.client else "unknown"
    if not request.app.state.guesses.allow(client):
        return _message(request, "en", "too_many", 429)
    if not csrf_ok(request, csrf):
        return _message(request, "en", "unknown", 403)
    engine = request.app.state.engine
    with engine.begin() as conn:
        policy = policy_in_force(conn).policy
        proof = prove_birth_date(conn, token, birth_date, datetime.now(UTC), _today(request), policy)
    link = proof.link
    if proof.details is not None:
        return _page(request, "link_details.html", link.language, name=link.name, status=proof.details.status,
                     result=proof.details.result, by_date=link.by_date.isoformat() if link.by_date else None)
    if link.outcome == OK:
        words = WORDS.get(link.language, WORDS["en"])
        return _form(request, link, words["wrong"].format(left=proof.tries_left))
    if link.outcome in _MESSAGE:
        return _message(request, link.language, _MESSAGE[link.outcome], _STATUS[link.outcome])
    return _message(request, "en", "unknown", 404)
