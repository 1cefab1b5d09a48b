"""How the CLI reaches a tilework server: settings from options, the SDK's client, and what
goes wrong on the way (an API error, no key, no server) turned into a refusal and an exit code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import httpx
import typer
from rich.markup import escape

from tilework.cli.output import print_json, stderr, wants_json
from tilework.client import ApiError, Client
from tilework.core.settings import ADMIN_KEY_FILE, Settings

EXIT_API_ERROR = 2  # the request was refused (or could not be made as asked)
EXIT_UNREACHABLE = 3  # no server answered at the URL the settings name

T = TypeVar("T")


def settings_with(**overrides: Any) -> Settings:
    """The settings (``TILEWORK_*``, ``.env``), with the options that were given over them."""
    return Settings(**{name: value for name, value in overrides.items() if value is not None})


def connect() -> Client:
    """A client of the server the settings name, with their API key; no key: a refusal that
    says where one was looked for."""
    settings = settings_with()
    key = settings.client_api_key()
    if key is None:
        home = settings.home.resolve()  # relative by default: say where it looked
        key_file = home / ADMIN_KEY_FILE
        refuse(
            "no_api_key",
            f"no API key: TILEWORK_API_KEY is not set and {key_file} does not exist "
            f"(TILEWORK_HOME is {home}). Set TILEWORK_API_KEY=tw_..., or TILEWORK_HOME "
            "to the home of the server that wrote its admin_key",
            {"tried": ["TILEWORK_API_KEY", str(key_file)]},
        )
    return Client(settings.client_url, key)


def call(action: Callable[[], T]) -> T:
    """``action()``; an API error is a refusal naming the fields it names (exit 2), and a server
    that cannot be reached one naming the URL and the settings that chose it (exit 3)."""
    try:
        return action()
    except ApiError as error:
        details = dict(error.details)
        message = error.message
        if error.code == "unauthorized":
            message += f" (the key sent: {_key_source(settings_with())})"
        refuse(error.code, message, details)
    except httpx.TransportError as error:
        settings = settings_with()
        chosen_by = (
            "TILEWORK_URL"
            if settings.url
            else f"TILEWORK_HOST and TILEWORK_PORT ({settings.host}:{settings.port}), "
            "or TILEWORK_URL"
        )
        reason = str(error) or type(error).__name__
        refuse(
            "unreachable",
            f"cannot reach a tilework server at {settings.client_url}: {reason}. "
            f"That URL comes from {chosen_by}; is the server running (make run)?",
            {"url": settings.client_url},
            EXIT_UNREACHABLE,
        )


def refuse(
    code: str, message: str, details: dict[str, Any] | None = None, status: int = EXIT_API_ERROR
) -> NoReturn:
    """Stop with ``status``: the error as JSON on stdout for a program (the same body as the
    API's errors), and as lines on stderr for whoever watches."""
    details = details or {}
    if wants_json():
        print_json({"error": {"code": code, "message": message, "details": details}})
    stderr.print(f"[red]error[/red] {escape(code)}: {escape(message)}")
    for item in details.get("errors", []):
        stderr.print(f"  {escape(str(item.get('field')))}: {escape(str(item.get('message')))}")
    raise typer.Exit(status)


def _key_source(settings: Settings) -> str:
    if settings.api_key is not None:
        return "TILEWORK_API_KEY"
    return str(settings.home / ADMIN_KEY_FILE)
