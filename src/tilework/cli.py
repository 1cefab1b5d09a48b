"""The ``tilework`` command: run the service, and use it (through the SDK in ``client``)."""

from __future__ import annotations

import gc
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from tilework.client import TERMINAL, ApiError, Client, JobBody
from tilework.core.errors import TileworkError
from tilework.core.settings import Settings

if TYPE_CHECKING:
    from tilework.worker.pool import WorkerPool

app = typer.Typer(
    help="Asynchronous image jobs: a durable queue, workers and an HTTP API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
jobs_app = typer.Typer(help="List, inspect, cancel and watch jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
keys_app = typer.Typer(
    help="Create, list and revoke API keys (needs an admin key).", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")
stderr = Console(stderr=True)

EXIT_JOB_FAILED = 1
EXIT_API_ERROR = 2
EXIT_START_ERROR = 3  # serve/worker: a setting the workers cannot honour

Workers = Annotated[
    int | None,
    typer.Option(
        "--workers", "-w", help="Workers, each with its own task process (default: cores)."
    ),
]


def settings_with(**overrides: Any) -> Settings:
    return Settings(**{name: value for name, value in overrides.items() if value is not None})


@app.command()
def serve(
    workers: Workers = None,
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
) -> None:
    """Run the API and the workers on one machine."""
    import uvicorn

    from tilework.api.app import create_app
    from tilework.core.logging import configure_logging
    from tilework.store.migrate import migrate
    from tilework.wiring import build_api_state, ensure_admin_key

    settings = settings_with(workers=workers, host=host, port=port)
    configure_logging(settings)
    state = build_api_state(settings)
    migrate(state.database)
    admin_key = ensure_admin_key(settings, state.keys)
    pool = _started_pool(settings, settings.workers)
    stderr.print(
        f"tilework {settings.client_url}  (API docs: {settings.client_url}/docs, "
        f"{settings.workers} workers, home {settings.home.resolve()})"
    )
    stderr.print(
        f"admin API key: {admin_key.resolve()} (the CLI reads it from there)"
        if admin_key
        else "admin API key: none in this home; make one with `tilework keys create --admin`"
    )
    # uvicorn re-raises the signal that stopped it once it has shut down; a handler of ours
    # absorbs that so the workers below still get their drain.
    signal.signal(signal.SIGTERM, _absorb)
    api = create_app(state)
    # Everything imported and built so far lives as long as the process. Frozen, the garbage
    # collector stops walking it on every full collection: those walks were the 40 ms pauses
    # behind the submit p99 (bench/submit.py).
    gc.freeze()
    try:
        uvicorn.run(
            api,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
        )
    finally:
        pool.stop()


BURST_CHECK_SECONDS = 0.2


@app.command()
def worker(
    workers: Workers = None,
    burst: Annotated[
        bool,
        typer.Option(
            "--burst", help="Exit once no task is running and none is due (a batch, a cron run)."
        ),
    ] = False,
) -> None:
    """Run workers only (scale out: point them at the same database and storage)."""
    from tilework.core.logging import configure_logging
    from tilework.store.database import Database
    from tilework.store.migrate import migrate

    settings = settings_with(workers=workers)
    configure_logging(settings)
    migrate(Database(settings.resolved_database_url))
    pool = _started_pool(settings, max(settings.workers, 1), until_idle=burst)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if burst:
        while pool.running() and not stop.wait(BURST_CHECK_SECONDS):
            pass
    else:
        stop.wait()
    pool.stop()


@app.command()
def config() -> None:
    """Print the effective settings (secrets masked)."""
    _emit(settings_with().effective(), _render_mapping)


@app.command()
def submit(
    operation: Annotated[str, typer.Argument(help="resize, noop, … (see /docs).")],
    image: Annotated[str, typer.Argument(help="A local file (uploaded) or an http(s) URL.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="key=value (JSON values allowed).")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait for the job and download outputs.")
    ] = True,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File or directory for outputs.")
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Resubmitting with it returns the same job.")
    ] = None,
) -> None:
    """Submit a job; by default wait for it, showing progress, and download its outputs."""
    _run_job(operation, image, _parse_params(param or []), wait, output, idempotency_key)


@app.command()
def upscale(
    image: Annotated[str, typer.Argument(help="A local file (uploaded) or an http(s) URL.")],
    scale: Annotated[int, typer.Option("--scale", "-s", help="Integer factor, 2 to 32.")] = 4,
    model: Annotated[
        str, typer.Option(help="animevideov3, x4plus, x4plus-anime or lanczos.")
    ] = "animevideov3",
    format: Annotated[str, typer.Option(help="png, jpeg, webp, tiff or avif.")] = "png",
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="More key=value params.")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait for the job and download outputs.")
    ] = True,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File or directory for the output.")
    ] = None,
) -> None:
    """Upscale an image (tiled, multi-pass super-resolution), showing stage, tiles and ETA."""
    params = {"scale": scale, "model": model, "format": format, **_parse_params(param or [])}
    _run_job("upscale", image, params, wait, output, None)


def _run_job(
    operation: str,
    image: str,
    params: dict[str, Any],
    wait: bool,
    output: Path | None,
    idempotency_key: str | None,
) -> None:
    with _client() as client:
        source = _input_of(client, image)
        job = _call(
            lambda: client.submit(
                operation, params=params, idempotency_key=idempotency_key, **source
            )
        )
        if not wait:
            _emit(job, _render_job)
            return
        job = _call(lambda: _wait_with_progress(client, job["id"]))
        if job["status"] == "succeeded":
            _download_outputs(client, job, output, _stem_of(image))
        _emit(job, _render_job)
    if job["status"] != "succeeded":
        raise typer.Exit(EXIT_JOB_FAILED)


@jobs_app.command("list")
def jobs_list(
    status: Annotated[
        str | None, typer.Option(help="queued, running, succeeded, failed, canceled.")
    ] = None,
    operation: Annotated[str | None, typer.Option(help="Only this operation.")] = None,
    limit: Annotated[int, typer.Option(help="Page size.")] = 20,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page.")] = None,
) -> None:
    """Jobs, newest first."""
    with _client() as client:
        page = _call(
            lambda: client.jobs(status=status, operation=operation, limit=limit, cursor=cursor)
        )
    _emit(page, _render_page)


@jobs_app.command("show")
def jobs_show(job_id: str) -> None:
    """One job in full."""
    with _client() as client:
        _emit(_call(lambda: client.job(job_id)), _render_job)


@jobs_app.command("cancel")
def jobs_cancel(job_id: str) -> None:
    """Cancel a job that has not ended."""
    with _client() as client:
        _emit(_call(lambda: client.cancel(job_id)), _render_job)


@jobs_app.command("watch")
def jobs_watch(job_id: str) -> None:
    """Follow a job's progress until it ends."""
    with _client() as client:
        job = _call(lambda: _wait_with_progress(client, job_id))
    _emit(job, _render_job)
    if job["status"] != "succeeded":
        raise typer.Exit(EXIT_JOB_FAILED)


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Whose jobs the key makes (a-z, 0-9, _ and -).")],
    name: Annotated[str, typer.Option(help="What the key is for.")],
    admin: Annotated[bool, typer.Option("--admin", help="May manage keys.")] = False,
    credits: Annotated[
        float | None, typer.Option(help="A credit balance its jobs spend (default: free).")
    ] = None,
    rate_per_minute: Annotated[int | None, typer.Option(help="Requests a minute.")] = None,
    max_queued_jobs: Annotated[int | None, typer.Option(help="Jobs waiting or running.")] = None,
) -> None:
    """Make a key; its secret is printed this once."""
    limits = {
        "admin": admin,
        "credits": credits,
        "rate_per_minute": rate_per_minute,
        "max_queued_jobs": max_queued_jobs,
    }
    with _client() as client:
        created = _call(lambda: client.create_key(tenant, name, **limits))
    _emit(created, _render_mapping_plain)


@keys_app.command("list")
def keys_list() -> None:
    """Every key: id, tenant, name, the secret's first characters, revoked or not."""
    with _client() as client:
        _emit(_call(client.keys), _render_keys)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key: its next request is 401."""
    with _client() as client:
        _emit(_call(lambda: client.revoke_key(key_id)), _render_mapping_plain)


def main() -> None:
    app()


# --- helpers ---------------------------------------------------------------------------------


def _absorb(_signum: int, _frame: FrameType | None) -> None:
    pass


def _started_pool(settings: Settings, count: int, until_idle: bool = False) -> WorkerPool:
    """The workers, running; a setting they cannot honour (a GPU that is not there) ends the
    command with its reason rather than a traceback."""
    from tilework.wiring import build_worker_pool

    try:
        pool = build_worker_pool(settings, count)
        pool.start(until_idle)
    except TileworkError as error:
        stderr.print(f"[red]error[/red] {error.code}: {error.message}")
        raise typer.Exit(EXIT_START_ERROR) from None
    return pool


def _client() -> Client:
    settings = settings_with()
    return Client(settings.client_url, settings.client_api_key())


def _call(action: Any) -> Any:
    try:
        return action()
    except ApiError as error:
        stderr.print(f"[red]error[/red] {error.code}: {error.message}")
        for item in error.details.get("errors", []):
            stderr.print(f"  {item.get('field')}: {item.get('message')}")
        raise typer.Exit(EXIT_API_ERROR) from None


def _parse_params(pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"expected key=value, got {pair!r}", param_hint="--param")
        try:
            params[name] = json.loads(raw)
        except json.JSONDecodeError:
            params[name] = raw
    return params


def _input_of(client: Client, image: str) -> dict[str, str]:
    if image.startswith(("http://", "https://")):
        return {"url": image}
    path = Path(image)
    if not path.is_file():
        raise typer.BadParameter(
            f"{image} is neither a file nor an http(s) URL", param_hint="IMAGE"
        )
    return {"key": _call(lambda: client.upload(path))["key"]}


def _stem_of(image: str) -> str:
    return Path(image.split("?")[0].rstrip("/")).stem or "output"


def _wait_with_progress(client: Client, job_id: str) -> JobBody:
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


def _download_outputs(client: Client, job: JobBody, output: Path | None, stem: str) -> None:
    outputs = job["outputs"]
    for item in outputs:
        extension = Path(item["key"]).suffix
        name = (
            f"{stem}.{job['operation']}{'' if len(outputs) == 1 else '.' + item['name']}{extension}"
        )
        if output is None:
            target = Path(name)
        elif output.is_dir() or len(outputs) > 1:
            output.mkdir(parents=True, exist_ok=True)
            target = output / name
        else:
            target = output
        client.download(item["url"], target)
        stderr.print(f"saved {target}")


def _emit(data: Any, render: Any) -> None:
    """JSON for programs, a readable view for people."""
    if sys.stdout.isatty():
        render(data)
    else:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _render_job(job: JobBody) -> None:
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
    for item in job["outputs"]:
        console.print(
            f"  {item['name']}: {item['width']}x{item['height']} {item['format']} "
            f"{item['bytes']} bytes  {item['url']}"
        )


def _render_page(page: dict[str, Any]) -> None:
    table = Table("id", "operation", "status", "progress", "created")
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


def _render_keys(page: dict[str, Any]) -> None:
    table = Table("id", "tenant", "name", "admin", "prefix", "credits", "revoked")
    for key in page["items"]:
        table.add_row(
            key["id"],
            key["tenant"],
            key["name"],
            "yes" if key["admin"] else "",
            key["prefix"] + "…",
            "" if key["credits"] is None else f"{key['credits']:g}",
            key["revoked_at"] or "",
        )
    Console().print(table)


def _render_mapping_plain(values: dict[str, Any]) -> None:
    for name, value in values.items():
        Console().print(f"{name}: {value}")


def _render_mapping(values: dict[str, Any]) -> None:
    table = Table("setting", "value")
    for name, value in values.items():
        table.add_row(f"TILEWORK_{name.upper()}", str(value))
    Console().print(table)
