"""What every page gets: security headers, a CSRF token for forms, and a rate limit for guesses.

- Headers: a strict Content-Security-Policy (no scripts), no referrer (link tokens live in
  paths), no caching, no framing.
- CSRF: double submit. A random token in an HttpOnly, SameSite=Strict cookie (Secure behind
  HTTPS) and the same value in each form; a POST without the pair is refused.
- Rate limit: a sliding window per client address for birth-date checks and sign-ins.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque

from fastapi import Request, Response

CSRF_COOKIE = "sp_csrf"
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class SecureHeaders:
    """ASGI middleware: the headers above on every response (a plain ASGI wrapper, no task per request)."""

    def __init__(self, app, https: bool) -> None:
        self.app = app
        extra = dict(HEADERS, **({"Strict-Transport-Security": "max-age=31536000"} if https else {}))
        self.names = {name.lower().encode("latin-1") for name in extra}
        self.headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in extra.items()]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", ()) if h[0].lower() not in self.names]
                message = {**message, "headers": headers + self.headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def csrf_token(request: Request) -> str:
    """The request's CSRF token (from its cookie), or a new one to set."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


def set_csrf_cookie(response: Response, token: str, https: bool) -> None:
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", secure=https, path="/")


def csrf_ok(request: Request, submitted: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    return bool(cookie and submitted and hmac.compare_digest(cookie, submitted))


class RateLimit:
    """At most `limit` events per `window` seconds per key (client address), in this process."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(now)
            return True
