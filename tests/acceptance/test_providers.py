"""Remote provider stages: one tilework server hands its tiles to a second one through the
Replicate-compatible API, is woken by the signed webhook (or polls when none comes), and
stitches the same output as running the tiles itself."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import images
from tests.support.server import ServerProcess, providing_server
from tilework.core.signatures import new_secret
from tilework.ops.upscale.params import UpscaleParams

PARAMS = {"scale": 2, "model": "animevideov3", "tile": 32, "overlap": 4}


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with providing_server(tmp_path_factory.mktemp("provider")) as running:
        yield running


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return images.photo(tmp_path_factory.mktemp("img") / "photo.jpg", 80, 56)


def delegating(
    folder: Path, provider: ServerProcess, poll: float = 120, **entry: Any
) -> ServerProcess:
    """A server whose provider ``gpu`` is ``provider``. The default poll is long: within a
    test, only the provider's webhook can wake a tile that early."""
    providers = {"gpu": {"base_url": provider.url, "token": provider.api_key, **entry}}
    return ServerProcess(
        folder / "home", workers=2, providers=json.dumps(providers), provider_poll_seconds=poll
    )


@pytest.fixture(scope="module")
def delegate(
    provider: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server handing its tiles to ``provider``, woken only by the provider's webhooks."""
    running = delegating(tmp_path_factory.mktemp("delegate"), provider).start()
    yield running
    assert running.stop() == 0, running.log()


def run(server: ServerProcess, photo: Path, **extra: Any) -> tuple[dict[str, Any], float]:
    with server.client() as client:
        key = client.upload(photo)["key"]
        started = time.monotonic()
        job = client.wait(client.submit("upscale", key=key, params={**PARAMS, **extra})["id"])
        return job, time.monotonic() - started


def local_and_remote(server: ServerProcess, photo: Path) -> float:
    """The same upscale run on the started ``server`` and handed to its provider ``gpu``, then
    the server stopped: the outputs must be the same. The remote run's seconds."""
    try:
        local, _ = run(server, photo)
        remote, elapsed = run(server, photo, provider="gpu")
    finally:
        assert server.stop() == 0, server.log()
    assert remote["status"] == "succeeded", remote["error"]
    assert remote["outputs"][0]["sha256"] == local["outputs"][0]["sha256"]
    return elapsed


def provider_jobs(provider: ServerProcess) -> list[dict[str, Any]]:
    with provider.client() as client:
        return list(client.jobs(operation="upscale", limit=200)["items"])


def test_tiles_done_by_the_provider_stitch_to_the_local_output(
    provider: ServerProcess, delegate: ServerProcess, photo: Path
) -> None:
    before = len(provider_jobs(provider))
    local, _ = run(delegate, photo)
    remote, elapsed = run(delegate, photo, provider="gpu")
    assert local["status"] == "succeeded" and remote["status"] == "succeeded", remote["error"]
    assert remote["outputs"][0]["sha256"] == local["outputs"][0]["sha256"]
    assert remote["outputs"][0]["width"] == 160
    # One prediction per tile on the provider, each a single-tile upscale of that tile.
    tiles = len(UpscaleParams.model_validate(PARAMS).grid(80, 56))
    handed = provider_jobs(provider)
    assert len(handed) - before == tiles > 1
    assert all(job["status"] == "succeeded" for job in handed)
    assert all(job["params"]["overlap"] == 0 for job in handed)
    assert {"provider_submit", "provider_fetch"} <= set(remote["timings"])
    assert "model" not in remote["timings"]  # no tile ran here
    # Woken by the signed webhooks: the 120 s poll never came into it.
    assert elapsed < 60


def test_without_a_valid_callback_the_tiles_poll_and_still_finish(
    provider: ServerProcess, photo: Path, tmp_path: Path
) -> None:
    # A secret that is not the provider's: every callback is refused with 401.
    server = delegating(tmp_path, provider, webhook_secret=new_secret(), poll=1.0).start()
    local_and_remote(server, photo)
    newest = provider_jobs(provider)[0]
    for _ in range(100):
        attempts = provider.http.get(f"{provider.url}/v1/jobs/{newest['id']}/deliveries").json()
        logged = [a for item in attempts["items"] for a in item["attempts_log"]]
        if logged:
            break
        time.sleep(0.1)
    assert logged and logged[0]["status_code"] == 401


def test_an_unknown_provider_is_refused_at_submit(delegate: ServerProcess, photo: Path) -> None:
    with delegate.client() as client:
        key = client.upload(photo)["key"]
    response = delegate.http.post(
        "/v1/jobs",
        json={"operation": "upscale", "input": {"key": key}, "params": {"provider": "x"}},
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"]["errors"][0]["field"] == "params.provider"


def fal_provider(provider: ServerProcess, **entry: Any) -> dict[str, Any]:
    """``provider`` as a fal-kind entry: its fal queue API, its JWKS document."""
    return {
        "kind": "fal",
        "base_url": f"{provider.url}/fal",
        "token": provider.api_key,
        "jwks_url": f"{provider.url}/.well-known/jwks.json",
        **entry,
    }


def test_a_fal_provider_does_the_tiles_woken_by_its_signed_webhooks(
    provider: ServerProcess, photo: Path, tmp_path: Path
) -> None:
    """The same tiles through fal's queue protocol: submitted with ``fal_webhook``, woken by
    Ed25519-signed webhooks checked against the provider's JWKS, the result's image fetched."""
    server = ServerProcess(
        tmp_path / "home",
        workers=2,
        providers=json.dumps({"gpu": fal_provider(provider)}),
        provider_poll_seconds=120,  # only a verified webhook wakes a tile within the test
    ).start()
    assert local_and_remote(server, photo) < 60
    newest = provider_jobs(provider)[0]
    for _ in range(100):  # the provider records the answer just after the delegate gives it
        (delivery,) = provider.http.get(f"/v1/jobs/{newest['id']}/deliveries").json()["items"]
        if delivery["status"] == "delivered":
            break
        time.sleep(0.1)
    assert delivery["status"] == "delivered" and "/v1/providers/gpu/callbacks/" in delivery["url"]
