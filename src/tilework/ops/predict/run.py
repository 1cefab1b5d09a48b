"""``predict``'s task, run again and again until the model's request ends.

1. No request yet: submit it (the job's input image, if any, as a signed URL in
   ``image_field``; a callback URL that names this task and its attempt) and defer. The
   request is kept in the task's deferred state and shown by the job (``remote``). A 429
   defers without spending an attempt, for as long as ``Retry-After`` says.
2. A request: read it from the provider (a callback only wakes the task; its body is never
   trusted). Running: defer, polling with backoff up to ``provider_poll_seconds``. Past
   ``timeout_seconds``: cancel it there and fail ``timeout``. Failed or canceled there:
   ``provider_failed`` with the provider's words.
3. Succeeded: copy every file its output names (URLs anywhere in the JSON, data URIs) into
   the job's storage before the task ends (Replicate deletes outputs after an hour, fal large
   results after minutes), and answer the model's JSON with those files replaced by references
   to the job's outputs.

A request once submitted is never submitted again: a retry (the read failed, a copy failed)
reads the same request and fetches again. So one job bills at most one request, except where
a host dies between the provider's answer and the deferral that records it.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.formats import SNIFF_BYTES, sniff
from tilework.core.ids import id_time
from tilework.core.jobs import REMOTE_STATE_KEY, JsonDict, TaskDeferred, output_reference
from tilework.imaging.header import read_size
from tilework.objects.uploads import upload
from tilework.ops.base import TaskContext
from tilework.ops.inputs import download
from tilework.ops.predict.params import PredictParams, model_price, used_cost
from tilework.ops.provider_limits import hold_slot, release_slot, throttled_by
from tilework.remote.clients import (
    ProviderClient,
    RemoteRequest,
    RemoteState,
    RemoteStatus,
    ReplicateClient,
    callback_url,
    provider_client,
)
from tilework.remote.http import log

FIRST_POLL_SECONDS = 1.0
CLOCK_SKEW_SECONDS = 300  # the provider's clock against ours, when searching by time
SVG_SNIFF_BYTES = 1024  # an XML declaration and comments may come before <svg


def predict(ctx: TaskContext[PredictParams]) -> JsonDict:
    params, settings = ctx.params, ctx.settings
    configured = settings.providers.get(params.provider)
    if configured is None:
        raise TileworkError(
            ErrorCode.PROVIDER_MISCONFIGURED,
            f"provider {params.provider!r} is not configured on this worker",
            {"provider": params.provider},
        )
    state: JsonDict = dict(ctx.task.payload.get("deferred") or {})
    with provider_client(params.provider, configured, settings) as client:
        if "request" not in state:
            with ctx.step("provider_submit"):
                request = _submit(ctx, client, state)
            state = {
                "provider": params.provider,
                "prediction": request.id,  # what a callback must name to wake the task
                "request": request.to_json(),
                "submitted_at": time.time(),
                "poll": FIRST_POLL_SECONDS,
                REMOTE_STATE_KEY: {
                    "provider": params.provider,
                    "model": params.model,
                    "request_id": request.id,
                    "request": request.to_json(),  # how a cancel reaches it (service.cancels)
                },
            }
            raise TaskDeferred(state, FIRST_POLL_SECONDS)
        request = RemoteRequest.from_json(state["request"])
        if time.time() - state["submitted_at"] > params.timeout_seconds:
            _cancel(client, request)
            release_slot(settings, ctx.task.id)
            raise _ended(
                ErrorCode.TIMEOUT,
                params,
                request,
                f"did not end within {params.timeout_seconds:g} s; it was canceled",
            )
        remote = _read(ctx, client, request, state)
    if remote.status is RemoteStatus.RUNNING:
        pause = min(float(state["poll"]) * 2, settings.provider_poll_seconds)
        raise TaskDeferred({**state, "poll": pause}, pause)
    release_slot(settings, ctx.task.id)  # it ended there: one request fewer in flight
    if remote.status is not RemoteStatus.SUCCEEDED:
        said = remote.error or "no reason given"
        raise _ended(ErrorCode.PROVIDER_FAILED, params, request, f"ended {remote.status}: {said}")
    with ctx.step("provider_fetch"):
        outputs, result = keep_files(ctx, remote.output, configured.hosts)
    price = model_price(settings, params)
    detail = {
        "provider": params.provider,
        "model": params.model,
        "request_id": request.id,
        **_usage(remote),
    }
    cost = used_cost(price, remote.predict_seconds, remote.billable_units)
    return {"outputs": outputs, "result": result, "cost": cost, "cost_detail": detail}


def _ended(
    code: ErrorCode, params: PredictParams, request: RemoteRequest, what: str
) -> TileworkError:
    """The job's end, final: nothing a new attempt would change."""
    return TileworkError(
        code,
        f"provider {params.provider}'s request {request.id} {what}",
        {"provider": params.provider, "request_id": request.id},
        retryable=False,
    )


def _submit(
    ctx: TaskContext[PredictParams], client: ProviderClient, state: JsonDict
) -> RemoteRequest:
    params, settings = ctx.params, ctx.settings
    inputs = dict(params.input)
    if params.image_field is not None:
        inputs[params.image_field] = _input_url(ctx)
    task_callback = callback_url(settings.resolved_public_url, params.provider, ctx.task.id)
    if ctx.task.attempts > 1 and isinstance(client, ReplicateClient):
        # An earlier attempt may have submitted and died before the deferral recorded it:
        # its request names this task's callback, so it is found and adopted, not repeated.
        orphan = client.find(task_callback, id_time(ctx.job_id) - CLOCK_SKEW_SECONDS)
        if orphan is not None:
            log.warning("remote_request_adopted", job_id=ctx.job_id, request_id=orphan.id)
            return orphan
    configured = settings.providers[params.provider]
    hold_slot(settings, params.provider, configured, ctx.task.id, state)
    with _throttled(ctx, state):  # nothing was started: submitted again after the wait
        webhook = callback_url(
            settings.resolved_public_url, params.provider, ctx.task.id, ctx.task.attempts
        )
        return client.submit(params.model, inputs, webhook)


def _read(
    ctx: TaskContext[PredictParams],
    client: ProviderClient,
    request: RemoteRequest,
    state: JsonDict,
) -> RemoteState:
    with _throttled(ctx, state):
        return client.read(request)


@contextmanager
def _throttled(ctx: TaskContext[PredictParams], state: JsonDict) -> Iterator[None]:
    """A 429 (every host cools down) or a 5xx with ``Retry-After``: wait it out without
    spending an attempt."""
    try:
        yield
    except TileworkError as error:
        wait = throttled_by(ctx.settings, ctx.params.provider, error)
        if wait is not None:
            raise TaskDeferred(state, wait) from error
        raise


def _cancel(client: ProviderClient, request: RemoteRequest) -> None:
    """Ask the provider to stop; the job fails either way, so a refusal is only logged."""
    try:
        client.cancel(request)
    except TileworkError as error:
        log.warning("remote_cancel_failed", request_id=request.id, error=error.message)


def _input_url(ctx: TaskContext[PredictParams]) -> str:
    """The job's input as the provider fetches it: an upload by signed URL, a URL as given."""
    if "key" in ctx.input:
        return ctx.objects.url(ctx.input["key"], ctx.settings.signed_url_seconds)
    return str(ctx.input["url"])


def _usage(remote: RemoteState) -> JsonDict:
    usage: JsonDict = {}
    if remote.predict_seconds is not None:
        usage["predict_seconds"] = remote.predict_seconds
    if remote.billable_units is not None:
        usage["billable_units"] = remote.billable_units
    return usage


def keep_files(
    ctx: TaskContext[PredictParams], output: Any, trusted_hosts: list[str]
) -> tuple[list[JsonDict], Any]:
    """Copy every file ``output`` names into the job's storage; the outputs, and ``output``
    with each file replaced by its output reference. The provider's hosts are trusted (the
    operator named them); any other host goes through the fetch policy."""
    limit = ctx.settings.provider_output_max_files
    found: dict[str, int] = {}
    outputs: list[JsonDict] = []

    def keep(value: Any) -> Any:
        if isinstance(value, list):
            return [keep(item) for item in value]
        if isinstance(value, dict):
            return {name: keep(item) for name, item in value.items()}
        if not isinstance(value, str) or not _is_file(value):
            return value
        if value not in found:
            if len(outputs) >= limit:
                raise TileworkError(
                    ErrorCode.PROVIDER_FAILED,
                    f"the model's output names more than {limit} files "
                    "(TILEWORK_PROVIDER_OUTPUT_MAX_FILES)",
                    retryable=False,
                )
            found[value] = len(outputs)
            outputs.append(_copy(ctx, value, len(outputs), trusted_hosts))
        return output_reference(found[value])

    return outputs, keep(output)


def _is_file(value: str) -> bool:
    return value.startswith(("https://", "http://", "data:"))


def _copy(
    ctx: TaskContext[PredictParams], source: str, index: int, trusted_hosts: list[str]
) -> JsonDict:
    settings = ctx.settings
    with ctx.scratch_file() as path:
        if source.startswith("data:"):
            _write_data_uri(source, path, settings.max_upload_bytes)
        else:
            download(source, path, settings, *trusted_hosts)
        described = _describe(path, settings.max_input_pixels)
        name = f"output-{index}"
        stored = upload(
            ctx.objects,
            ctx.output_key(f"{name}.{described['extension']}"),
            path,
            settings,
        )
    return {
        "name": name,
        "key": stored.key,
        "width": described["width"],
        "height": described["height"],
        "format": described["format"],
        "content_type": described["content_type"],
        "bytes": stored.bytes,
        "sha256": stored.sha256,
    }


def _write_data_uri(uri: str, path: Path, max_bytes: int) -> None:
    header, comma, data = uri.partition(",")
    if not comma:
        raise TileworkError(ErrorCode.PROVIDER_FAILED, "a data URI in the output has no data")
    try:
        raw = (
            base64.b64decode(data, validate=True)
            if header.endswith(";base64")
            else (unquote_to_bytes(data))
        )
    except (binascii.Error, ValueError) as exc:
        raise TileworkError(
            ErrorCode.PROVIDER_FAILED, "a data URI in the output is not valid base64"
        ) from exc
    if len(raw) > max_bytes:
        raise TileworkError(
            ErrorCode.PROVIDER_FAILED, f"a file in the output is over {max_bytes} bytes"
        )
    path.write_bytes(raw)


def _describe(path: Path, max_pixels: int) -> JsonDict:
    """What the bytes are, by their magic: an allow-listed image with its size (read from the
    header, nothing decoded), else SVG or PDF kept as they are (never rasterised), else plain
    bytes."""
    with path.open("rb") as handle:
        head = handle.read(SVG_SNIFF_BYTES)
    fmt = sniff(head[:SNIFF_BYTES])
    if fmt is not None:
        size = read_size(path, max_pixels)
        extension = "jpg" if fmt.value == "jpeg" else fmt.value
        return _kind(fmt.value, extension, fmt.media_type, size.width, size.height)
    if head.startswith(b"%PDF"):
        return _kind("pdf", "pdf", "application/pdf")
    if b"<svg" in head.lower():
        return _kind("svg", "svg", "image/svg+xml")
    return _kind(None, "bin", "application/octet-stream")


def _kind(
    fmt: str | None,
    extension: str,
    content_type: str,
    width: int | None = None,
    height: int | None = None,
) -> JsonDict:
    return {
        "format": fmt,
        "extension": extension,
        "content_type": content_type,
        "width": width,
        "height": height,
    }
