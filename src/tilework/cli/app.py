"""The ``tilework`` command's top level: its commands and command groups, and ``main``."""

from __future__ import annotations

import typer

from tilework.cli import jobs, keys, logs, server

app = typer.Typer(
    help="Asynchronous image jobs: a durable queue, workers and an HTTP API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# In this order in the help: the service's commands, then the jobs', then the groups.
for command in (
    server.serve,
    server.worker,
    server.config,
    jobs.submit,
    jobs.run,
    jobs.upscale,
    jobs.predict,
    logs.logs,
):
    app.command()(command)
app.add_typer(jobs.app, name="jobs")
app.add_typer(keys.app, name="keys")


def main() -> None:
    app()
