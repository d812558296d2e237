"""`schoolpass serve`: parse, start the app."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from schoolpass import cli_support as cli

# Idle keep-alive connections are kept this long (uvicorn's default, 5 s, is shorter than many clients
# and proxies keep theirs: a client reusing a connection the server has just closed sees it fail).
KEEP_ALIVE_SECONDS = 75



def serve_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64,
                                         help="Server processes (one per core is a good start).")] = 1,
    keep_alive: Annotated[int, typer.Option("--keep-alive", min=1, max=3600,
                                            help="Seconds an idle keep-alive connection stays open.")]
    = KEEP_ALIVE_SECONDS,
    db: cli.DbOption = None,
) -> None:
    """The web app: result links, the staff console, the family portal, the gate; GET /healthz answers 200."""
    import uvicorn

    from schoolpass.web.app import NoDelayHTTP, create_app

    settings = cli.settings(db)
    cli.checked_engine(settings.database_url).dispose()  # refuse to serve a database of another schema
    # No access log: paths carry link tokens and ids, and writing a line per request costs more than the answer.
    options = dict(host=host, port=port, log_level="warning", access_log=False, timeout_keep_alive=keep_alive,
                   backlog=2048, server_header=False, http=NoDelayHTTP)
    if workers == 1:
        uvicorn.run(create_app(settings), **options)
        return
    # Worker processes build the app themselves, from the environment: pass the database on to them.
    os.environ["SCHOOLPASS_DATABASE_URL"] = settings.database_url
    uvicorn.run("schoolpass.web.app:app_from_environment", factory=True, workers=workers, **options)
