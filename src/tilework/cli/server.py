"""Running the service: ``serve`` (the API and workers), ``worker`` (workers alone) and
``config`` (the settings they run with)."""

from __future__ import annotations

import gc
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from tilework.cli.calls import settings_with
from tilework.cli.output import JsonOption, emit, render_mapping, stderr
from tilework.core.errors import TileworkError
from tilework.core.settings import Settings

if TYPE_CHECKING:
    from tilework.store.database import Database
    from tilework.worker.pool import WorkerPool

EXIT_START_ERROR = 3  # serve/worker: a setting the workers cannot honour
BURST_CHECK_SECONDS = 0.2

Workers = Annotated[
    int | None,
    typer.Option(
        "--workers", "-w", help="Workers, each with its own task process (default: cores)."
    ),
]


def serve(
    workers: Workers = None,
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
    tls_certfile: Annotated[
        Path | None,
        typer.Option(help="Serve HTTPS with this PEM certificate (chain).", dir_okay=False),
    ] = None,
    tls_keyfile: Annotated[
        Path | None,
        typer.Option(help="The certificate's PEM private key.", dir_okay=False),
    ] = None,
) -> None:
    """Run the API and the workers on one machine."""
    import uvicorn

    from tilework.api.app import create_app
    from tilework.core.logging import configure_logging
    from tilework.wiring import build_services, ensure_admin_key

    settings = settings_with(
        workers=workers,
        host=host,
        port=port,
        tls_certfile=tls_certfile,
        tls_keyfile=tls_keyfile,
    )
    _check_tls(settings)
    configure_logging(settings)
    state = build_services(settings)
    _migrate(state.database)
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
    # uvicorn re-raises the signals that stopped it once it has shut down; handlers of ours
    # count them so the workers below still get their drain, or none when there were two.
    stops = _StopSignals()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stops.caught)
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
            ssl_certfile=settings.tls_certfile,
            ssl_keyfile=settings.tls_keyfile,
        )
    finally:
        pool.stop(at_once=stops.count > 1)


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

    settings = settings_with(workers=workers)
    configure_logging(settings)
    database = Database(settings.resolved_database_url)
    _migrate(database)
    database.dispose()
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


def config(json_output: JsonOption = False) -> None:
    """Print the effective settings (secrets masked)."""
    emit(settings_with().effective(), render_mapping)


class _StopSignals:
    """The SIGTERMs and Ctrl-Cs uvicorn caught: it re-raises each to the handler it found once
    it has shut down. A second one that came while the API was closing, before the pool's own
    handler was there, still means "stop at once"."""

    def __init__(self) -> None:
        self.count = 0

    def caught(self, _signum: int, _frame: FrameType | None) -> None:
        self.count += 1


def _check_tls(settings: Settings) -> None:
    """A key without a certificate, or a file that is not there, stops the start, said why."""
    if settings.tls_keyfile is not None and settings.tls_certfile is None:
        _start_error("--tls-keyfile needs --tls-certfile (TILEWORK_TLS_CERTFILE)")
    for path in (settings.tls_certfile, settings.tls_keyfile):
        if path is not None and not path.is_file():
            _start_error(f"no TLS file {path}")


def _start_error(message: str) -> None:
    stderr.print(f"[red]error[/red] {message}")
    raise typer.Exit(EXIT_START_ERROR)


def _migrate(database: Database) -> None:
    """Bring the schema up to this version's; hosts starting together take turns (the first
    migrates, the rest find it current), so a fleet can start at once."""
    import structlog

    from tilework.store.migrate import migrate

    before, after = migrate(database)
    if before != after:
        structlog.get_logger("tilework.store").info(
            "database_migrated", revision_before=before, revision=after
        )


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
