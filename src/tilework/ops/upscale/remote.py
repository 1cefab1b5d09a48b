"""A tile upscaled by a remote provider (a prediction on a Replicate-style API), without a
worker waiting on it.

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
from tilework.core.settings import Provider
from tilework.imaging.decode import pipeline_error
from tilework.ops.base import TaskContext
from tilework.ops.inputs import download
from tilework.ops.upscale.params import MAX_TILE, UpscaleParams
from tilework.remote.providers import ProviderClient

RUNNING = frozenset({"starting", "processing"})


def callback_url(base_url: str, provider: str, task_id: int) -> str:
    return f"{base_url}/v1/providers/{provider}/callbacks/{task_id}"


def remote_tile(
    ctx: TaskContext[UpscaleParams], input_key: str, output_key: str, size: tuple[int, int]
) -> JsonDict:
    """Submit, or collect, the tile's prediction; defers while the provider works."""
    params, settings = ctx.params, ctx.settings
    name = params.provider or ""
    if name not in settings.providers:
        raise TileworkError(
            ErrorCode.PROVIDER_FAILED, f"provider {name!r} is not configured on this worker"
        )
    state = ctx.task.payload.get("deferred")
    with ProviderClient(name, settings.providers[name], settings) as provider:
        # A retry (a new attempt) submits afresh: the old prediction may be what failed.
        if not state or state.get("attempt") != ctx.task.attempts:
            with ctx.step("provider_submit"):
                prediction = provider.create(
                    _inputs(ctx, input_key, size),
                    callback_url(settings.resolved_public_url, name, ctx.task.id),
                )
            state = {"provider": name, "prediction": prediction["id"], "attempt": ctx.task.attempts}
            raise TaskDeferred(state, settings.provider_poll_seconds)
        prediction = provider.get(state["prediction"])
    status = prediction.get("status")
    if status in RUNNING:
        raise TaskDeferred(state, settings.provider_poll_seconds)
    if status != "succeeded":
        raise TileworkError(
            ErrorCode.PROVIDER_FAILED,
            f"provider {name}'s prediction {state['prediction']} ended {status}: "
            f"{prediction.get('error') or 'no reason given'}",
            {"provider": name, "prediction": state["prediction"]},
        )
    with ctx.step("provider_fetch"):
        _store_output(ctx, _output_url(prediction), output_key, size, settings.providers[name])
    return {"index": ctx.task.payload["index"], "key": output_key, "fallback": False}


def _inputs(ctx: TaskContext[UpscaleParams], input_key: str, size: tuple[int, int]) -> JsonDict:
    """The padded tile by signed URL, with what a tilework provider needs to run the same
    network on it as this host would: one tile of the whole image, no overlap."""
    params = ctx.params
    return {
        "image": ctx.objects.url(input_key, ctx.settings.signed_url_seconds),
        "scale": params.scale,
        "model": params.model.value,
        "tile": min(MAX_TILE, max(size)),
        "overlap": 0,
        "format": "png",
    }


def _output_url(prediction: JsonDict) -> str:
    output = prediction.get("output")
    if isinstance(output, list) and output:
        output = output[0]
    if not isinstance(output, str):
        raise TileworkError(
            ErrorCode.PROVIDER_FAILED,
            f"prediction {prediction.get('id')} succeeded without a file output",
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
