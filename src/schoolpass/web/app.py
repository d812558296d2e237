"""`schoolpass serve`: the FastAPI app. Pages are server-rendered (Jinja2); no scripts."""

from __future__ import annotations

import socket
from contextlib import suppress

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import text
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from schoolpass.settings import Settings
from schoolpass.storage.engine import make_engine
from schoolpass.web.security import RateLimit, SecureHeaders

TEMPLATES = Jinja2Templates(directory=str(__import__("pathlib").Path(__file__).parent / "templates"))
TEMPLATES.env.auto_reload = False  # templates ship with the package: compile each once, no stat per page


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="schoolpass", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url)
    app.state.https = settings.base_url.startswith("https://")
    app.state.guesses = RateLimit(limit=30, window=60.0)  # birth-date checks per client address per minute

    app.add_middleware(SecureHeaders, https=app.state.https)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        with app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok"})

    # Routes are matched in order and no two routers share a path: the family portal, the busiest, first.
    from schoolpass.web.family import router as family_router
    from schoolpass.web.gate import router as gate_router
    from schoolpass.web.result_links import router as links_router
    from schoolpass.web.staff import router as staff_router

    for router in (family_router, links_router, staff_router, gate_router):
        app.include_router(router)
    return app


class _OneWrite:
    """A transport that sends what is written to it in one loop iteration as one write (one segment).

    uvicorn writes a response's head and body separately: two system calls, two packets and two
    wake-ups of the client for a page that fits in one. Everything else goes to the real transport.
    """

    __slots__ = ("_transport", "_pending", "_loop")

    def __init__(self, transport, loop) -> None:  # noqa: ANN001 - asyncio's
        self._transport, self._pending, self._loop = transport, [], loop

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class NoDelayHTTP(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol with Nagle's algorithm off on every connection, each answer in one write.

    With --workers N, uvicorn binds the socket itself without naming the protocol (proto 0), and asyncio
    then leaves TCP_NODELAY off on the connections it accepts. A response goes out in two writes (head,
    then body): the body waited for the client's delayed ACK of the head, about 40 ms on every request.
    """

    def connection_made(self, transport) -> None:  # noqa: ANN001 - asyncio's
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(_OneWrite(transport, self.loop))


def app_from_environment() -> FastAPI:
    """The app for a worker process of `serve --workers N` (settings from SCHOOLPASS_* variables)."""
    from schoolpass.settings import load_settings

    return create_app(load_settings())
