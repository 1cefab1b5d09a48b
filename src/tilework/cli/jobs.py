"""Jobs from the command line: ``submit`` and ``upscale`` (which wait, show progress and
download the outputs by default) and the ``jobs`` group: list, show, cancel, watch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from tilework.cli.calls import call, connect
from tilework.cli.output import emit, render_job, render_page, stderr, wait_with_progress
from tilework.client import Client, JobBody

EXIT_JOB_FAILED = 1

app = typer.Typer(help="List, inspect, cancel and watch jobs.", no_args_is_help=True)


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


@app.command("list")
def jobs_list(
    status: Annotated[
        str | None, typer.Option(help="queued, running, succeeded, failed, canceled.")
    ] = None,
    operation: Annotated[str | None, typer.Option(help="Only this operation.")] = None,
    limit: Annotated[int, typer.Option(help="Page size.")] = 20,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page.")] = None,
) -> None:
    """Jobs, newest first."""
    with connect() as client:
        page = call(
            lambda: client.jobs(status=status, operation=operation, limit=limit, cursor=cursor)
        )
    emit(page, render_page)


@app.command("show")
def jobs_show(job_id: str) -> None:
    """One job in full."""
    with connect() as client:
        emit(call(lambda: client.job(job_id)), render_job)


@app.command("cancel")
def jobs_cancel(job_id: str) -> None:
    """Cancel a job that has not ended."""
    with connect() as client:
        emit(call(lambda: client.cancel(job_id)), render_job)


@app.command("watch")
def jobs_watch(job_id: str) -> None:
    """Follow a job's progress until it ends."""
    with connect() as client:
        job = call(lambda: wait_with_progress(client, job_id))
    emit(job, render_job)
    if job["status"] != "succeeded":
        raise typer.Exit(EXIT_JOB_FAILED)


def _run_job(
    operation: str,
    image: str,
    params: dict[str, Any],
    wait: bool,
    output: Path | None,
    idempotency_key: str | None,
) -> None:
    with connect() as client:
        source = _input_of(client, image)
        job = call(
            lambda: client.submit(
                operation,
                key=source.get("key"),
                url=source.get("url"),
                params=params,
                idempotency_key=idempotency_key,
            )
        )
        if not wait:
            emit(job, render_job)
            return
        job = call(lambda: wait_with_progress(client, job["id"]))
        if job["status"] == "succeeded":
            _download_outputs(client, job, output, _stem_of(image))
        emit(job, render_job)
    if job["status"] != "succeeded":
        raise typer.Exit(EXIT_JOB_FAILED)


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
    return {"key": call(lambda: client.upload(path))["key"]}


def _stem_of(image: str) -> str:
    return Path(image.split("?")[0].rstrip("/")).stem or "output"


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
