"""A tile upscaled by a remote provider (a prediction on Replicate's API, or a request on
fal's queue, of another tilework server say), without a worker waiting on it.

The first run submits the tile's prediction, with a webhook back to this server, and defers
the task. The signed webhook (``api/providers``) wakes it; without one, it wakes after
``provider_poll_seconds`` anyway and asks the provider itself. A run that finds the prediction
finished fetches its output and stores it where a local tile's output goes, so the stitch
cannot tell the difference.
"""

from __future__ import annotations

import pyvips

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import JsonDict, TaskDeferred
from tilework.core.settings import Provider, ProviderKind
from tilework.imaging.decode import pipeline_error
from tilework.ops.base import TaskContext
from tilework.ops.inputs import download
from tilework.ops.upscale.params import MAX_TILE, UpscaleParams
from tilework.remote.clients import RemoteRequest, RemoteStatus, callback_url, provider_client


def remote_tile(
    ctx: TaskContext[UpscaleParams], input_key: str, output_key: str, size: tuple[int, int]
) -> JsonDict:
    """Submit, or collect, the tile's request; defers while the provider works."""
    params, settings = ctx.params, ctx.settings
    name = params.provider or ""
    if name not in settings.providers:
        raise TileworkError(
            ErrorCode.PROVIDER_FAILED, f"provider {name!r} is not configured on this worker"
        )
    # Imported here: the database engine it opens is 0.8 s of imports (SQLAlchemy) that a
    # task process running only local tiles has no use for.
    from tilework.ops.provider_limits import hold_slot, release_slot

    state = ctx.task.payload.get("deferred")
    configured = settings.providers[name]
    with provider_client(name, configured, settings) as provider:
        # A retry (a new attempt) submits afresh: the old request may be what failed.
        if not state or state.get("attempt") != ctx.task.attempts:
            hold_slot(settings, name, configured, ctx.task.id, state or {})
            with ctx.step("provider_submit"):
                request = provider.submit(
                    configured.model,
                    _inputs(ctx, input_key, size),
                    callback_url(
                        settings.resolved_public_url, name, ctx.task.id, ctx.task.attempts
                    ),
                )
            state = {
                "provider": name,
                "prediction": request.id,
                "request": request.to_json(),
                "attempt": ctx.task.attempts,
            }
            raise TaskDeferred(state, settings.provider_poll_seconds)
        remote = provider.read(RemoteRequest.from_json(state["request"]))
    if remote.status is RemoteStatus.RUNNING:
        raise TaskDeferred(state, settings.provider_poll_seconds)
    release_slot(settings, ctx.task.id)
    if remote.status is not RemoteStatus.SUCCEEDED:
        raise TileworkError(
            ErrorCode.PROVIDER_FAILED,
            f"provider {name}'s request {state['prediction']} ended {remote.status.value}: "
            f"{remote.error or 'no reason given'}",
            {"provider": name, "prediction": state["prediction"]},
        )
    with ctx.step("provider_fetch"):
        _store_output(ctx, _output_url(remote.output), output_key, size, configured)
    return {"index": ctx.task.payload["index"], "key": output_key, "fallback": False}


def _inputs(ctx: TaskContext[UpscaleParams], input_key: str, size: tuple[int, int]) -> JsonDict:
    """The padded tile by signed URL, with what a tilework provider needs to run the same
    network on it as this host would: one tile of the whole image, no overlap."""
    params = ctx.params
    kind = ctx.settings.providers[params.provider or ""].kind
    return {
        # Each protocol's name for the input image, as a tilework server of that kind reads it.
        "image_url" if kind is ProviderKind.FAL else "image": ctx.objects.url(
            input_key, ctx.settings.signed_url_seconds
        ),
        "scale": params.scale,
        "model": params.model.value,
        "tile": min(MAX_TILE, max(size)),
        "overlap": 0,
        "format": "png",
    }


def _output_url(output: object) -> str:
    """The first file URL in a model's output: Replicate's is the URL or a list of them,
    fal's an object whose ``images`` (or ``image``) hold ``{url}``."""
    if isinstance(output, dict):
        images = output.get("images") or [output.get("image")]
        output = [image.get("url") if isinstance(image, dict) else image for image in images]
    if isinstance(output, list) and output:
        output = output[0]
    if not isinstance(output, str):
        raise TileworkError(
            ErrorCode.PROVIDER_FAILED, "the provider's request succeeded without a file output"
        )
    return output


def _store_output(
    ctx: TaskContext[UpscaleParams],
    url: str,
    output_key: str,
    size: tuple[int, int],
    provider: Provider,
) -> None:
    """Fetch the provider's output; stored as is when it has the tile's exact size, else
    refused (a provider that scales differently would shift every seam). The provider's own
    host is trusted as the operator configured it; any other host goes through the policy."""
    width, height = (side * ctx.params.scale for side in size)
    with ctx.scratch_file(".png") as path:
        download(url, path, ctx.settings, provider.host)
        try:
            image = pyvips.Image.new_from_file(str(path), access="sequential")
            got = (image.width, image.height)
        except pyvips.Error as exc:
            raise pipeline_error(exc) from exc
        if got != (width, height):
            raise TileworkError(
                ErrorCode.PROVIDER_FAILED,
                f"the provider's tile is {got[0]}x{got[1]}, not {width}x{height}",
                retryable=False,
            )
        ctx.objects.put_file(output_key, path)
