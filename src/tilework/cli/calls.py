"""How the CLI reaches a tilework server: settings from options, the SDK's client, and an API
error turned into a message and an exit code."""

from __future__ import annotations

from typing import Any

import typer

from tilework.cli.output import stderr
from tilework.client import ApiError, Client
from tilework.core.settings import Settings

EXIT_API_ERROR = 2


def settings_with(**overrides: Any) -> Settings:
    """The settings (``TILEWORK_*``, ``.env``), with the options that were given over them."""
    return Settings(**{name: value for name, value in overrides.items() if value is not None})


def connect() -> Client:
    """A client of the server the settings name, with their API key."""
    settings = settings_with()
    return Client(settings.client_url, settings.client_api_key())


def call(action: Any) -> Any:
    """``action()``; an API error is printed, with the fields it names, and exits 2."""
    try:
        return action()
    except ApiError as error:
        stderr.print(f"[red]error[/red] {error.code}: {error.message}")
        for item in error.details.get("errors", []):
            stderr.print(f"  {item.get('field')}: {item.get('message')}")
        raise typer.Exit(EXIT_API_ERROR) from None
