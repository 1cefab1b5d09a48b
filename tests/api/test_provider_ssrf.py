"""A remote provider's host is trusted because the operator configured it, and nothing else is:
the output URL a prediction names goes through the fetch policy like any URL, so a provider
(hostile, or taken over) cannot point this server at a private host.

The provider lives on 127.0.0.2; 127.0.0.1 plays the private network, with a valid tile
waiting there, so only the policy stands between the server and fetching it.
"""

from __future__ import annotations

from pathlib import Path

from tests.support import hostile, images, provider
from tests.support.api import MakeApi

PROVIDER_HOST = "127.0.0.2"
# One 32x24 tile (no overlap), upscaled 2x by the provider to 64x48.
WIDTH, HEIGHT, SCALE = 32, 24, 2
PARAMS = {"scale": SCALE, "model": "animevideov3", "tile": 32, "overlap": 0, "provider": "gpu"}


def test_a_provider_output_on_another_private_host_is_refused(
    make_api: MakeApi, tmp_path: Path
) -> None:
    photo = images.photo(tmp_path / "photo.png", WIDTH, HEIGHT)
    # The exact size the tile wants: were it fetched, the job would succeed with it.
    tile = images.photo(tmp_path / "tile.png", WIDTH * SCALE, HEIGHT * SCALE).read_bytes()
    with hostile.serving({"/tile.png": hostile.body(tile)}) as internal:
        with provider.serving(f"{internal.url}/tile.png", host=PROVIDER_HOST) as remote:
            # No fetch_allow_hosts: the provider's host is trusted by being the provider, and
            # the job's input is an upload, so nothing else needs loopback. The poll is short
            # and under poll_max_seconds, so work() runs the deferred tile again instead of
            # stopping, and the tile reads its prediction without a callback.
            api = make_api(
                max_attempts=1,
                provider_poll_seconds=0.1,
                providers={"gpu": {"base_url": remote.url}},
            )
            with api.client() as client:
                key = client.upload(photo)["key"]
                job = client.submit("upscale", key=key, params=PARAMS)
                api.work()
                done = client.job(job["id"])
        # The provider was reached, created the prediction and was read back.
        assert len(remote.received("POST")) == 1
        assert remote.received("GET") == ["/v1/predictions/p1"]
        assert internal.hits["/tile.png"] == 0
    assert done["status"] == "failed", done
    assert done["error"]["code"] == "ssrf_blocked", done["error"]
    assert "127.0.0.1" in done["error"]["message"]
