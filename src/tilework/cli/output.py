"""What the CLI prints: JSON when its output is read by a program, tables and lines for people,
and a progress bar (on stderr) while a job runs."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from tilework.client import TERMINAL, Client, JobBody

# Lines on stderr are never wrapped at the console's width: a path or message broken across
# lines cannot be found or copied from a log (stderr is 80 columns wide when not a terminal).
stderr = Console(stderr=True, soft_wrap=True)


class OutputMode:
    """Set once per run by ``--json``: print JSON although stdout is a terminal."""

    forced_json = False


def wants_json() -> bool:
    """Whether this run prints JSON: its stdout is read by a program, or ``--json`` was given."""
    return OutputMode.forced_json or not sys.stdout.isatty()


def _force_json(value: bool) -> bool:
    OutputMode.forced_json = OutputMode.forced_json or value
    return value


# Every command that prints a result takes it. Eager, so that it holds before anything (even a
# refusal while the other options are read) is printed; the command itself need not look at it.
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print JSON even on a terminal (it is printed anyway when stdout is not one).",
        callback=_force_json,
        is_eager=True,
    ),
]


def emit(data: Any, render: Any) -> None:
    """JSON for programs, a readable view for people."""
    if wants_json():
        print_json(data)
    else:
        render(data)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def id_column(table: Table, ids: list[str]) -> None:
    """Make the table's first column (ids) keep every character in any terminal width: a cut
    id cannot be pasted into the next command. The other columns fold instead."""
    for column in table.columns[1:]:
        column.overflow = "fold"
    first = table.columns[0]
    first.no_wrap = True
    first.min_width = max((len(value) for value in ids), default=0)


def wait_with_progress(client: Client, job_id: str) -> JobBody:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[tasks]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task("queued", total=100, tasks="")

        def show(job: JobBody) -> None:
            progress = job["progress"]
            label = (
                job["status"] if job["status"] in TERMINAL else (progress["stage"] or job["status"])
            )
            bar.update(
                task,
                completed=progress["percent"],
                description=label,
                tasks=f"{progress['done']}/{progress['total']}",
            )

        return client.wait(job_id, on_update=show)


def render_job(job: JobBody) -> None:
    console = Console()
    colour = {"succeeded": "green", "failed": "red", "canceled": "yellow"}.get(
        job["status"], "cyan"
    )
    console.print(
        f"[bold]{job['id']}[/bold] {job['operation']} [{colour}]{job['status']}[/{colour}] "
        f"{job['progress']['percent']}%"
    )
    if job.get("error"):
        console.print(f"  error {job['error']['code']}: {job['error']['message']}")
    for field, said in (
        ("retry_of", "retries"),
        ("retried_by", "retried by"),
        ("cached_from", "from the cache of"),
    ):
        if job.get(field):
            console.print(f"  {said} {job[field]}")
    for item in job["outputs"]:
        console.print(
            f"  {item['name']}: {item['width']}x{item['height']} {item['format']} "
            f"{item['bytes']} bytes  {item['url']}"
        )


def render_page(page: dict[str, Any]) -> None:
    table = Table("id", "operation", "status", "progress", "created")
    id_column(table, [job["id"] for job in page["items"]])
    for job in page["items"]:
        table.add_row(
            job["id"],
            job["operation"],
            job["status"],
            f"{job['progress']['percent']}%",
            job["created_at"],
        )
    Console().print(table)
    if page["next_cursor"]:
        Console().print(f"more: --cursor {page['next_cursor']}")


def render_keys(page: dict[str, Any]) -> None:
    table = Table("id", "tenant", "name", "role", "prefix", "credits", "revoked")
    id_column(table, [key["id"] for key in page["items"]])
    for key in page["items"]:
        table.add_row(
            key["id"],
            key["tenant"],
            key["name"],
            key["role"],
            key["prefix"] + "…",
            "" if key["credits"] is None else f"{key['credits']:g}",
            key["revoked_at"] or "",
        )
    Console().print(table)


def render_mapping_plain(values: dict[str, Any]) -> None:
    for name, value in values.items():
        Console().print(f"{name}: {value}")


def render_mapping(values: dict[str, Any]) -> None:
    table = Table("setting", "value")
    for name, value in values.items():
        table.add_row(f"TILEWORK_{name.upper()}", str(value))
    Console().print(table)
