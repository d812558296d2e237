"""`schoolpass serve`: parse, start the app."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from schoolpass import cli_support as cli


def serve_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64,
                                         help="Server processes (one per core is a good start).")] = 1,
    db: cli.DbOption = None,
) -> None:
    """The web app: result links, the staff console, the family portal, the gate; GET /healthz answers 200."""
    import uvicorn

    settings = cli.settings(db)
    if workers == 1:
        from schoolpass.web.app import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", access_log=False)
        return
    # Worker processes build the app themselves, from the environment: pass the database on to them.
    os.environ["SCHOOLPASS_DATABASE_URL"] = settings.database_url
    uvicorn.run("schoolpass.web.app:app_from_environment", factory=True, workers=workers, host=host, port=port,
                log_level="warning", access_log=False)
