"""`schoolpass serve`: the FastAPI app. Pages are server-rendered (Jinja2); no scripts."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import text

from schoolpass.settings import Settings
from schoolpass.storage.engine import make_engine
from schoolpass.web.security import RateLimit, secure_headers

TEMPLATES = Jinja2Templates(directory=str(__import__("pathlib").Path(__file__).parent / "templates"))


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="schoolpass", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url)
    app.state.https = settings.base_url.startswith("https://")
    app.state.guesses = RateLimit(limit=30, window=60.0)  # birth-date checks per client address per minute

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        return secure_headers(await call_next(request), app.state.https)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        with app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok"})

    from schoolpass.web.result_links import router

    app.include_router(router)
    from schoolpass.web.staff import router as staff_router
    app.include_router(staff_router)
    from schoolpass.web.family import router as family_router
    app.include_router(family_router)
    from schoolpass.web.gate import router as gate_router
    app.include_router(gate_router)
    return app


def app_from_environment() -> FastAPI:
    """The app for a worker process of `serve --workers N` (settings from SCHOOLPASS_* variables)."""
    from schoolpass.settings import load_settings

    return create_app(load_settings())
