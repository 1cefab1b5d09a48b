"""Jobs from the command line: ``submit``, ``upscale`` and ``predict`` (which wait, show
progress and download the outputs by default) and the ``jobs`` group: list, show, cancel,
watch."""

from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

from tilework.cli.calls import call, connect, refuse
from tilework.cli.output import (
    JsonOption,
    emit,
    render_job,
    render_page,
    stderr,
    wait_with_progress,
    wants_json,
)
from tilework.client import Client, JobBody

EXIT_JOB_FAILED = 1

app = typer.Typer(help="List, inspect, cancel and watch jobs.", no_args_is_help=True)

Output = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        help="A file (one output) or a folder: a name ending in / or an existing directory.",
    ),
]
Wait = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Wait for the job and download outputs.")
]
Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="With --no-wait: print only the job's id.")
]


def submit(
    operation: Annotated[str, typer.Argument(help="resize, noop, … (see /docs).")],
    image: Annotated[str, typer.Argument(help="A local file (uploaded) or an http(s) URL.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="key=value (JSON values allowed).")
    ] = None,
    wait: Wait = True,
    output: Output = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Resubmitting with it returns the same job.")
    ] = None,
    quiet: Quiet = False,
    json_output: JsonOption = False,
) -> None:
    """Submit a job; by default wait for it, showing progress, and download its outputs."""
    _run_job(operation, image, _parse_params(param or []), wait, output, idempotency_key, quiet)


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
    wait: Wait = True,
    output: Output = None,
    quiet: Quiet = False,
    json_output: JsonOption = False,
) -> None:
    """Upscale an image (tiled, multi-pass super-resolution), showing stage, tiles and ETA."""
    params = {"scale": scale, "model": model, "format": format, **_parse_params(param or [])}
    _run_job("upscale", image, params, wait, output, None, quiet)


def predict(
    provider: Annotated[str, typer.Argument(help="A provider named in TILEWORK_PROVIDERS.")],
    model: Annotated[
        str, typer.Argument(help="Replicate: owner/name[:version]; fal: owner/app[/path].")
    ],
    image: Annotated[
        str | None,
        typer.Argument(help="An input image (a local file, uploaded, or a URL), if any."),
    ] = None,
    inputs: Annotated[
        list[str] | None,
        typer.Option("--input", "-i", help="key=value of the model's input (JSON values)."),
    ] = None,
    image_field: Annotated[
        str, typer.Option(help="The input field the image goes to (fal: image_url).")
    ] = "image",
    wait: Wait = True,
    timeout: Annotated[
        float | None, typer.Option(help="Seconds before the remote request is canceled.")
    ] = None,
    output: Output = None,
    quiet: Quiet = False,
    json_output: JsonOption = False,
) -> None:
    """Run a hosted model (Replicate's or fal's, or another tilework server's) as a job: its
    files are copied here as soon as it ends, and downloaded."""
    params: dict[str, Any] = {
        "provider": provider,
        "model": model,
        "input": _parse_params(inputs or [], "--input"),
    }
    if image is not None:
        params["image_field"] = image_field
    if timeout is not None:
        params["timeout_seconds"] = timeout
    _run_job("predict", image, params, wait, output, None, quiet)


@app.command("list")
def jobs_list(
    status: Annotated[
        str | None, typer.Option(help="queued, running, succeeded, failed, canceled.")
    ] = None,
    operation: Annotated[str | None, typer.Option(help="Only this operation.")] = None,
    limit: Annotated[int, typer.Option(help="Page size.")] = 20,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Jobs, newest first."""
    with connect() as client:
        page = call(
            lambda: client.jobs(status=status, operation=operation, limit=limit, cursor=cursor)
        )
    emit(page, render_page)


@app.command("show")
def jobs_show(job_id: str, json_output: JsonOption = False) -> None:
    """One job in full."""
    with connect() as client:
        emit(call(lambda: client.job(job_id)), render_job)


@app.command("cancel")
def jobs_cancel(job_id: str, json_output: JsonOption = False) -> None:
    """Cancel a job that has not ended; one that has is shown as it ended."""
    with connect() as client:
        job = call(lambda: client.cancel(job_id))
    if job["status"] != "canceled":
        stderr.print(f"job {job_id} already ended ({job['status']}): nothing to cancel")
    emit(job, render_job)


@app.command("watch")
def jobs_watch(job_id: str, json_output: JsonOption = False) -> None:
    """Follow a job's progress until it ends."""
    with connect() as client:
        job = call(lambda: wait_with_progress(client, job_id))
    emit(job, render_job)
    if job["status"] != "succeeded":
        raise typer.Exit(EXIT_JOB_FAILED)


def _run_job(
    operation: str,
    image: str | None,
    params: dict[str, Any],
    wait: bool,
    output: str | None,
    idempotency_key: str | None,
    quiet: bool,
) -> None:
    with connect() as client:
        source = {} if image is None else _input_of(client, image)
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
            if quiet:
                print(job["id"])
            else:
                emit(job, render_job)
            return
        job = call(lambda: wait_with_progress(client, job["id"]))
        if job["status"] == "succeeded":
            stem = _stem_of(image) if image is not None else "output"
            for url, target in _targets(job, output, stem):
                call(partial(client.download, url, target))
                stderr.print(f"saved {target}")
        emit(job, render_job)
    if job["status"] != "succeeded":
        raise typer.Exit(EXIT_JOB_FAILED)


def _parse_params(pairs: list[str], option: str = "--param") -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            refuse(
                "validation_failed",
                f"{option} wants key=value, got {pair!r}",
                {"errors": [{"field": option, "message": f"expected key=value, got {pair!r}"}]},
            )
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
        refuse(
            "validation_failed",
            f"{image} is neither a file nor an http(s) URL",
            {"errors": [{"field": "IMAGE", "message": "neither a file nor an http(s) URL"}]},
        )
    return {"key": call(lambda: client.upload(path))["key"]}


def _stem_of(image: str) -> str:
    return Path(image.split("?")[0].rstrip("/")).stem or "output"


def _targets(job: JobBody, output: str | None, stem: str) -> list[tuple[str, Path]]:
    """Where each output goes: named after the input in the current folder, in ``output`` when
    it is a folder (a trailing slash makes one), or ``output`` itself for a single output. A
    file name for several outputs is refused before anything is written: the job and its
    outputs' URLs are printed, so nothing is lost."""
    outputs = job["outputs"]
    names = [
        f"{stem}.{job['operation']}{'' if len(outputs) == 1 else '.' + item['name']}"
        f"{Path(item['key']).suffix}"
        for item in outputs
    ]
    if output is None:
        return [(item["url"], Path(name)) for item, name in zip(outputs, names, strict=True)]
    folder = Path(output)
    if output.endswith(("/", os.sep)) or folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        return [(item["url"], folder / name) for item, name in zip(outputs, names, strict=True)]
    if len(outputs) > 1:
        if not wants_json():
            render_job(job)
        refuse(
            "validation_failed",
            f"the job made {len(outputs)} outputs, so -o needs a folder (end it with /), "
            f"not the file name {output}",
            {
                "errors": [{"field": "--output", "message": "a folder for several outputs"}],
                "job": job,
            },
        )
    return [(item["url"], folder) for item in outputs]
