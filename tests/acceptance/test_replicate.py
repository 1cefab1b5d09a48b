"""The Replicate-compatible API, driven by the official ``replicate`` client against a real
server: run, create and wait, cancel, list by cursor, errors, and Replicate-style webhooks."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import pyvips
import replicate
from replicate.exceptions import ModelError, ReplicateError
from replicate.webhook import InvalidSignatureError
from replicate.webhook import Webhooks as WebhookValidator
from standardwebhooks import Webhook

from tests.support import images
from tests.support.fileserver import serving
from tests.support.receiver import receiving
from tests.support.server import SHARED_DEPLOYMENT, ServerProcess, SharedServers


@pytest.fixture
def server(loopback_server: ServerProcess) -> ServerProcess:
    """The shared server that may fetch the photo from the loopback file server."""
    return loopback_server


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return images.photo(tmp_path_factory.mktemp("img") / "photo.jpg", 64, 48)


@pytest.fixture(scope="module")
def photo_url(photo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("served")
    shutil.copy(photo, folder / "photo.jpg")
    with serving(folder) as base:
        yield f"{base}/photo.jpg"


@pytest.fixture
def client(server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[replicate.Client]:
    monkeypatch.setenv("REPLICATE_POLL_INTERVAL", "0.1")
    sdk = replicate.Client(api_token=server.tenant_key(), base_url=server.url)
    yield sdk
    sdk._client.close()  # the client has no close() of its own; its connections would leak


@pytest.fixture
def strict_client(
    servers: SharedServers, monkeypatch: pytest.MonkeyPatch
) -> Iterator[replicate.Client]:
    """A client of the shared PostgreSQL server with the production fetch policy, under which
    nothing on 127.0.0.1 (the server itself included) may be fetched."""
    monkeypatch.setenv("REPLICATE_POLL_INTERVAL", "0.1")
    server = servers.get("postgresql")
    sdk = replicate.Client(api_token=server.tenant_key(), base_url=server.url)
    yield sdk
    sdk._client.close()


def size_of(url: str, tmp_path: Path) -> tuple[int, int]:
    target = tmp_path / "output"
    target.write_bytes(httpx.get(url, timeout=30).raise_for_status().content)
    image = pyvips.Image.new_from_file(str(target))
    return image.width, image.height


def test_run_with_a_url_returns_the_output_file(
    client: replicate.Client, photo_url: str, tmp_path: Path
) -> None:
    output = client.run(
        "tilework/upscale", input={"image": photo_url, "scale": 2, "model": "lanczos"}
    )
    assert isinstance(output, str) and output.startswith("http://127.0.0.1")
    assert size_of(output, tmp_path) == (128, 96)


def test_run_with_a_file_sent_as_a_data_uri(
    client: replicate.Client, photo: Path, tmp_path: Path
) -> None:
    output = client.run(
        "tilework/resize",
        input={"image": photo, "width": 32},
        file_encoding_strategy="base64",
    )
    assert size_of(str(output), tmp_path) == (32, 24)


def test_run_with_an_open_file_uploads_it_and_the_server_reads_it_itself(
    strict_client: replicate.Client, photo: Path, tmp_path: Path
) -> None:
    """The client's default for a file: ``POST /v1/files``, then the file's ``urls.get`` as
    the input, which the server resolves without a fetch (one would be refused here)."""
    with photo.open("rb") as handle:
        output = strict_client.run("tilework/resize", input={"image": handle, "width": 32})
    assert size_of(str(output), tmp_path) == (32, 24)
    (uploaded,) = strict_client.files.list()
    assert uploaded.name == "photo.jpg" and uploaded.size == photo.stat().st_size


def test_files_create_get_list_and_delete(strict_client: replicate.Client, photo: Path) -> None:
    made = strict_client.files.create(photo, metadata={"project": "p1"})
    assert made.content_type == "image/jpeg" and made.metadata == {"project": "p1"}
    assert strict_client.files.get(made.id).checksums == made.checksums
    assert made.id in [found.id for found in strict_client.files.list()]
    assert strict_client.files.delete(made.id) is True
    with pytest.raises(ReplicateError) as gone:
        strict_client.files.get(made.id)
    assert gone.value.status == 404


def test_a_deployment_runs_with_its_preset_params(
    strict_client: replicate.Client, photo: Path, tmp_path: Path
) -> None:
    deployment = strict_client.deployments.get(SHARED_DEPLOYMENT)
    assert deployment.current_release is not None
    assert deployment.current_release.model == "tilework/resize"
    image = strict_client.files.create(photo).urls["get"]
    prediction = deployment.predictions.create(input={"image": image})
    prediction.wait()
    assert prediction.status == "succeeded", prediction.error
    assert size_of(str(prediction.output), tmp_path) == (16, 12)


def test_the_list_in_a_creation_window(strict_client: replicate.Client, photo: Path) -> None:
    """The client takes a list URL as its cursor: the window goes in its query."""
    image = strict_client.files.create(photo).urls["get"]
    made = strict_client.predictions.create(version="test_sleep", input={"image": image})
    created = datetime.fromisoformat(made.created_at)
    window = {
        "created_after": (created - timedelta(seconds=1)).isoformat(),
        "created_before": (created + timedelta(seconds=1)).isoformat(),
    }
    inside = strict_client.predictions.list(cursor=f"/v1/predictions?{urlencode(window)}")
    assert [found.id for found in inside.results] == [made.id]
    later = urlencode({"created_after": (created + timedelta(seconds=1)).isoformat()})
    assert strict_client.predictions.list(cursor=f"/v1/predictions?{later}").results == []


def test_create_then_wait_reports_logs_metrics_and_urls(
    server: ServerProcess, client: replicate.Client, photo_url: str
) -> None:
    prediction = client.predictions.create(
        version="test_sleep", input={"image": photo_url, "seconds": 0.5}
    )
    assert prediction.status in ("starting", "processing")
    assert prediction.model == "tilework/test_sleep"
    prediction.wait()
    assert prediction.status == "succeeded"
    assert isinstance(prediction.output, str)
    assert prediction.metrics and prediction.metrics["predict_time"] >= 0.5
    assert prediction.logs and "started" in prediction.logs and "succeeded" in prediction.logs
    assert prediction.urls == {
        "get": f"{server.url}/v1/predictions/{prediction.id}",
        "cancel": f"{server.url}/v1/predictions/{prediction.id}/cancel",
        "stream": f"{server.url}/v1/jobs/{prediction.id}/events",
    }
    again = client.predictions.get(prediction.id)
    # The same file; each answer signs its URL afresh (a later expiry, another signature).
    assert again.status == "succeeded"
    assert str(again.output).split("?")[0] == prediction.output.split("?")[0]


def test_a_wait_that_runs_out_answers_starting_and_run_still_finishes(
    client: replicate.Client, photo_url: str
) -> None:
    # (client.predictions.create(model=...) drops its wait argument; the models namespace
    # sends it as Prefer: wait=N.)
    prediction = client.models.predictions.create(
        model="tilework/test_sleep", input={"image": photo_url, "seconds": 3}, wait=1
    )
    assert prediction.status == "starting"
    prediction.wait()
    assert prediction.status == "succeeded"
    quick = client.models.predictions.create(
        model="tilework/test_sleep", input={"image": photo_url, "seconds": 0}, wait=30
    )
    assert quick.status == "succeeded" and quick.output


def test_cancel(client: replicate.Client, photo_url: str) -> None:
    prediction = client.predictions.create(
        version="tilework/test_sleep", input={"image": photo_url, "seconds": 60}
    )
    prediction.cancel()
    assert client.predictions.get(prediction.id).status == "canceled"


def test_a_failed_prediction_raises_model_error(client: replicate.Client) -> None:
    with pytest.raises(ModelError) as failed:
        client.run("tilework/resize", input={"image": "http://127.0.0.1:9/none.jpg", "width": 8})
    assert failed.value.prediction.status == "failed"
    assert failed.value.prediction.error and "fetching" in failed.value.prediction.error


def test_list_pages_by_cursor(client: replicate.Client, photo_url: str) -> None:
    made = [
        client.predictions.create(version="test_sleep", input={"image": photo_url, "seconds": 0}).id
        for _ in range(3)
    ]
    page = client.predictions.list(cursor="/v1/predictions?limit=2")
    seen: list[str] = []
    while True:
        assert len(page.results) <= 2
        seen.extend(prediction.id for prediction in page.results)
        if page.next is None:
            break
        page = client.predictions.list(cursor=page.next)
    assert len(seen) == len(set(seen)) and set(made) <= set(seen)
    assert seen == sorted(seen, reverse=True)  # newest first


def test_errors_read_as_replicate_errors(client: replicate.Client, photo_url: str) -> None:
    with pytest.raises(ReplicateError) as unknown:
        client.predictions.create(model="tilework/nothing", input={"image": photo_url})
    assert unknown.value.status == 404 and "tilework/upscale" in (unknown.value.detail or "")
    with pytest.raises(ReplicateError) as invalid:
        client.predictions.create(model="tilework/upscale", input={"image": photo_url, "scale": 99})
    assert invalid.value.status == 422 and "input.scale" in (invalid.value.detail or "")
    with pytest.raises(ReplicateError) as no_image:
        client.predictions.create(model="tilework/upscale", input={"scale": 2})
    assert no_image.value.status == 422 and "input.image" in (no_image.value.detail or "")
    with pytest.raises(ReplicateError) as missing:
        client.predictions.get("nope")
    assert missing.value.status == 404


@pytest.mark.parametrize(
    ("filters", "expected"),
    [(["completed"], ["succeeded"]), (["start", "completed"], ["processing", "succeeded"])],
)
def test_webhooks_send_the_prediction_as_filtered(
    client: replicate.Client, photo_url: str, filters: list[str], expected: list[str]
) -> None:
    secret = client.webhooks.default.secret().key
    with receiving() as receiver:
        prediction = client.predictions.create(
            version="test_sleep",
            input={"image": photo_url, "seconds": 0.2},
            webhook=f"{receiver.url}/replicate",
            webhook_events_filter=filters,
        )
        prediction.wait()
        requests = receiver.wait_for(len(expected))
    bodies = [Webhook(secret).verify(r.body, r.headers) for r in requests]
    # The client's own validator agrees (it raises on a bad signature), and refuses a forgery.
    signing_secret = client.webhooks.default.secret()
    for request in requests:
        headers = {name.lower(): value for name, value in request.headers.items()}
        WebhookValidator.validate(
            headers=headers, body=request.body.decode(), secret=signing_secret, tolerance=300
        )
    forged = requests[0].body.decode().replace(prediction.id, "x" * len(prediction.id))
    with pytest.raises(InvalidSignatureError):
        WebhookValidator.validate(headers=headers, body=forged, secret=signing_secret)
    assert sorted(body["status"] for body in bodies) == sorted(expected)
    assert all(body["id"] == prediction.id for body in bodies)
    final = next(body for body in bodies if body["status"] == "succeeded")
    # The same file; each answer signs its URL afresh.
    current = str(client.predictions.get(prediction.id).output)
    assert final["output"].split("?")[0] == current.split("?")[0]
