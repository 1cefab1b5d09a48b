"""The ``keys`` group: create, list and revoke API keys (it needs an admin key)."""

from __future__ import annotations

from typing import Annotated

import typer

from tilework.cli.calls import call, connect
from tilework.cli.output import JsonOption, emit, render_keys, render_mapping_plain
from tilework.core.keys import Role

app = typer.Typer(
    help="Create, list and revoke API keys (needs an admin key).", no_args_is_help=True
)


@app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Whose jobs the key makes (a-z, 0-9, _ and -).")],
    name: Annotated[str, typer.Option(help="What the key is for.")],
    role: Annotated[
        Role,
        typer.Option(help="read_only (reads only), operator (its tenant's work), admin (all)."),
    ] = Role.OPERATOR,
    admin: Annotated[bool, typer.Option("--admin", help="The same as --role admin.")] = False,
    credits: Annotated[
        float | None, typer.Option(help="A credit balance its jobs spend (default: free).")
    ] = None,
    rate_per_minute: Annotated[int | None, typer.Option(help="Requests a minute.")] = None,
    max_queued_jobs: Annotated[int | None, typer.Option(help="Jobs waiting or running.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Make a key; its secret is printed this once."""
    limits = {
        "role": (Role.ADMIN if admin else role).value,
        "credits": credits,
        "rate_per_minute": rate_per_minute,
        "max_queued_jobs": max_queued_jobs,
    }
    with connect() as client:
        created = call(lambda: client.create_key(tenant, name, **limits))
    emit(created, render_mapping_plain)


@app.command("list")
def keys_list(json_output: JsonOption = False) -> None:
    """Every key: id, tenant, name, the secret's first characters, revoked or not."""
    with connect() as client:
        emit(call(client.keys), render_keys)


@app.command("revoke")
def keys_revoke(key_id: str, json_output: JsonOption = False) -> None:
    """Revoke a key: its next request is 401."""
    with connect() as client:
        emit(call(lambda: client.revoke_key(key_id)), render_mapping_plain)
