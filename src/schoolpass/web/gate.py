"""The gate (`/staff/gate/`, any signed-in staff): checks a daily pass with the public key alone.

`/gate/` redirects there, because the staff cookie is scoped to /staff.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from schoolpass.web import accounts, staff
from schoolpass.web.daily_pass import pass_keys, verify_pass
from schoolpass.web.security import csrf_ok, csrf_token, set_csrf_cookie

router = APIRouter()


def _today(request: Request):
    return datetime.now(request.app.state.settings.zone).date()


def _keys(request: Request):
    return pass_keys(request.app.state.settings)


def _gate_page(request: Request, me, code: int = 200, **context) -> HTMLResponse:
    from schoolpass.web.app import TEMPLATES

    token = csrf_token(request)
    nav = [(href, label) for key, href, label in staff.NAV if me is not None and me.role in staff.ALLOWED[key]]
    response = TEMPLATES.TemplateResponse(request, "gate/gate.html",
                                          {"me": me, "csrf": token, "nav": nav, **context}, status_code=code)
    set_csrf_cookie(response, token, request.app.state.https)
    return response


def _gate_guard(request: Request, post: bool = False):
    """Any signed-in staff account, or the response that refuses the request."""
    me = accounts.lookup_session(request.app.state.engine, request.cookies.get(staff.COOKIE))
    if me is None:
        if post:
            return _gate_page(request, None, 403, refused="Please sign in to the staff console first.")
        return RedirectResponse("/staff/login", status_code=303)
    return me


@router.get("/gate/")
def gate_redirect() -> Response:
    """The staff cookie is scoped to /staff: the gate lives under it."""
    return RedirectResponse("/staff/gate/", status_code=303)


@router.post("/gate/")
def gate_redirect_post() -> Response:
    return RedirectResponse("/staff/gate/", status_code=307)


@router.get("/staff/gate/", response_class=HTMLResponse)
def gate_form(request: Request) -> Response:
    me = _gate_guard(request)
    if isinstance(me, Response):
        return me
    return _gate_page(request, me, configured=_keys(request).public is not None)


@router.post("/staff/gate/", response_class=HTMLResponse)
def gate_check(request: Request, token: str = Form(""), csrf: str = Form("")) -> Response:
    me = _gate_guard(request, post=True)
    if isinstance(me, Response):
        return me
    if not csrf_ok(request, csrf):
        return _gate_page(request, me, 403, refused="The form expired. Please reload the page and try again.")
    public = _keys(request).public
    if public is None:
        return _gate_page(request, me, 503, configured=False)
    check = verify_pass(public, token[:2000], _today(request))
    return _gate_page(request, me, configured=True, checked=check)
