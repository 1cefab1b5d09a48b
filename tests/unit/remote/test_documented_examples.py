"""Both directions against the providers' own published examples, so that a misreading
tilework's client and tilework's server share cannot pass: the prediction object of
Replicate's documentation (replicate.com/docs/topics/predictions), and the result shape
fal's image models document (``images: [{url, width, height, content_type}]``, ``seed``,
``timings``, ``has_nsfw_concepts``), and the signed message of the Standard Webhooks
specification that Replicate's webhooks follow."""

from __future__ import annotations

import pytest

from tests.support.documented import FAL_RESULT, REPLICATE_PREDICTION, SIGNED_WEBHOOK
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import output_reference, with_output_urls
from tilework.core.signatures import signature, signed_headers, verify
from tilework.ops.upscale.remote import _output_url
from tilework.remote.clients import RemoteStatus, replicate_state


def test_replicates_documented_prediction_reads_as_succeeded_with_its_usage() -> None:
    state = replicate_state(REPLICATE_PREDICTION)
    assert state.status is RemoteStatus.SUCCEEDED
    assert state.output == "hello Alice" and state.error is None
    assert state.predict_seconds == 0.012683
    for running in ("starting", "processing"):
        assert replicate_state({**REPLICATE_PREDICTION, "status": running}).status is (
            RemoteStatus.RUNNING
        )
    failed = replicate_state({**REPLICATE_PREDICTION, "status": "failed", "error": "OOM"})
    assert (failed.status, failed.error) == (RemoteStatus.FAILED, "OOM")
    assert replicate_state({**REPLICATE_PREDICTION, "status": "canceled"}).status is (
        RemoteStatus.CANCELED
    )


def test_fals_documented_result_gives_its_image_and_keeps_the_rest() -> None:
    assert _output_url(FAL_RESULT) == FAL_RESULT["images"][0]["url"]
    kept = {**FAL_RESULT, "images": [{**FAL_RESULT["images"][0], "url": output_reference(0)}]}
    shown = with_output_urls(kept, ["https://tilework.example/v1/objects/x"])
    assert shown["images"][0]["url"] == "https://tilework.example/v1/objects/x"
    assert {name: shown[name] for name in ("prompt", "seed", "timings")} == {
        "prompt": "a red fox",
        "seed": 42,
        "timings": {"inference": 1.25},
    }


def test_the_published_signed_webhook_verifies_here_and_is_what_tilework_signs() -> None:
    """Both directions of Replicate's webhooks: tilework as the consumer verifies the
    specification's signed message, and tilework as the provider signs that message the same;
    a byte changed in the body, or a clock six minutes off, is refused."""
    secret, headers, body = (SIGNED_WEBHOOK[name] for name in ("secret", "headers", "body"))
    stamp = int(headers["webhook-timestamp"])
    verify(secret, headers, body, now=stamp + 1)
    assert signature(secret, headers["webhook-id"], stamp, body) == headers["webhook-signature"]
    assert signed_headers([secret], headers["webhook-id"], body, stamp) == headers
    for refused in (
        lambda: verify(secret, headers, body.replace(b"2", b"3", 1), now=stamp),
        lambda: verify(secret, headers, body, now=stamp + 360),
    ):
        with pytest.raises(TileworkError) as raised:
            refused()
        assert raised.value.code is ErrorCode.UNAUTHORIZED
