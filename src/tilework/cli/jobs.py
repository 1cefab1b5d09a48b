"""Jobs from the command line: ``submit`` (with ``--then`` steps), ``run`` (steps from a
file), ``upscale`` and ``predict`` (which wait, show progress and download the outputs by
default) and the ``jobs`` group: list, show, cancel, retry, watch."""

from __future__ import annotations

import json
import os
import shlex
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

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

app = typer.Typer(help="List, inspect, cancel, retry and watch jobs.", no_args_is_help=True)

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
IdempotencyKey = Annotated[
    str | None, typer.Option(help="Resubmitting with it returns the same job.")
]


def submit(
    operation: Annotated[str, typer.Argument(help="resize, noop, … (see /docs).")],
    image: Annotated[str, typer.Argument(help="A local file (uploaded) or an http(s) URL.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="key=value (JSON values allowed).")
    ] = None,
    wait: Wait = True,
    output: Output = None,
    idempotency_key: IdempotencyKey = None,
    then: Annotated[
        list[str] | None,
        typer.Option(
            "--then",
            help='Another step, taking the previous one\'s output: "OPERATION key=value …" '
            "(repeatable; the job answers the last step's outputs).",
        ),
    ] = None,
    destination: Annotated[
        str | None,
        typer.Option(help="Deliver the outputs to this destination of the tenant's bucket."),
    ] = None,
    var: Annotated[
        list[str] | None,
        typer.Option("--var", help="key=value for the destination's path template."),
    ] = None,
    quiet: Quiet = False,
    json_output: JsonOption = False,
) -> None:
    """Submit a job; by default wait for it, showing progress, and download its outputs."""
    params = _parse_params(param or [])
    if then:
        first = {"operation": operation, "params": params}
        operation, params = "steps", {"steps": [first, *(_then_step(step) for step in then)]}
    if var and destination is None:
        refuse(
            "validation_failed",
            "--var fills a destination's path template: give --destination too",
            {"errors": [{"field": "--var", "message": "needs --destination"}]},
        )
    delivery = None
    if destination is not None:
        given = {name: str(value) for name, value in _parse_params(var or [], "--var").items()}
        delivery = {"name": destination, "vars": given}
    _run_job(operation, image, params, wait, output, idempotency_key, quiet, delivery)


def run(
    steps_file: Annotated[
        Path,
        typer.Argument(
            help='A JSON file: a list of steps, [{"operation", "params", "from"?}, …], or '
            '{"steps": [...], "keep_intermediate": true}.'
        ),
    ],
    image: Annotated[
        str | None,
        typer.Argument(help="The input image (a local file, uploaded, or a URL), if any."),
    ] = None,
    keep_intermediate: Annotated[
        bool, typer.Option(help="Also keep (and download) every earlier step's outputs.")
    ] = False,
    wait: Wait = True,
    output: Output = None,
    idempotency_key: IdempotencyKey = None,
    quiet: Quiet = False,
    json_output: JsonOption = False,
) -> None:
    """Run several operations as one job (steps): each step's output is the next one's input."""
    params = _steps_file(steps_file)
    if keep_intermediate:
        params["keep_intermediate"] = True
    _run_job("steps", image, params, wait, output, idempotency_key, quiet)


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


@app.command("retry")
def jobs_retry(
    job_id: str,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Follow the retry until it ends.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Retry a failed or canceled job as a new job, from where it stopped (its succeeded
    tasks are not run again); a job retried already shows its retry."""
    with connect() as client:
        job = call(lambda: client.retry(job_id))
        if wait:
            job = call(lambda: wait_with_progress(client, job["id"]))
    emit(job, render_job)
    if wait and job["status"] != "succeeded":
        raise typer.Exit(EXIT_JOB_FAILED)


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
    destination: dict[str, Any] | None = None,
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
                destination=destination,
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
                stderr.print(f"saved {escape(str(target))}")
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


def _then_step(words: str) -> dict[str, Any]:
    """``--then "resize width=512 format=webp"`` as a step."""
    operation, *pairs = shlex.split(words) or [""]
    if not operation or "=" in operation:
        refuse(
            "validation_failed",
            f"--then wants an operation and its key=value params, got {words!r}",
            {"errors": [{"field": "--then", "message": "OPERATION key=value …"}]},
        )
    return {"operation": operation, "params": _parse_params(pairs, "--then")}


def _steps_file(path: Path) -> dict[str, Any]:
    """The steps a file holds, as the ``steps`` operation's params (checked by the server)."""
    try:
        given = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        refuse(
            "validation_failed",
            f"{path} is not a readable JSON file: {exc}",
            {"errors": [{"field": "STEPS_FILE", "message": str(exc)}]},
        )
    params: dict[str, Any] = {"steps": given} if isinstance(given, list) else given
    if not isinstance(params, dict):
        refuse(
            "validation_failed",
            f"{path} holds neither a list of steps nor an object with steps",
            {"errors": [{"field": "STEPS_FILE", "message": 'a list, or {"steps": [...]}'}]},
        )
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
    labels = [item["name"] for item in outputs]
    if len(set(labels)) < len(labels):  # a job of steps keeps each step's "output"
        labels = [f"{index}-{label}" for index, label in enumerate(labels)]
    names = [
        f"{stem}.{job['operation']}{'' if len(outputs) == 1 else '.' + label}"
        f"{Path(item['key']).suffix}"
        for item, label in zip(outputs, labels, strict=True)
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
