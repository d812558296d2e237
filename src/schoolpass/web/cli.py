"""`schoolpass serve`: parse, start the app."""

from __future__ import annotations

from typing import Annotated

import typer

from schoolpass import cli_support as cli


def serve_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    db: cli.DbOption = None,
) -> None:
    """The web app: result links (staff console and family portal to come); GET /healthz answers 200."""
    import uvicorn

    from schoolpass.web.app import create_app

    uvicorn.run(create_app(cli.settings(db)), host=host, port=port, log_level="warning", access_log=False)
