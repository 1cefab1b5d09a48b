"""What else Replicate's clients and callers send with predictions, in process: ``Cancel-After``
(a deadline the workers' lease sweep keeps), ``Idempotency-Key``, a time window on the list,
deployments, and operations named by their package as the owner."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.support import images
from tests.support.api import InProcessApi, MakeApi
from tests.support.documented import REPLICATE_PREDICTION
from tests.support.rows import execute
from tilework.core.errors import TileworkError
from tilework.worker.deadlines import Deadlines


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small photo as a data URI: every prediction's input here."""
    photo = images.photo(tmp_path_factory.mktemp("img") / "small.jpg", 8, 6)
    return "data:image/jpeg;base64," + base64.b64encode(photo.read_bytes()).decode()


@pytest.fixture
def tenant(api: InProcessApi) -> httpx.Client:
    http = api.anonymous()
    http.headers["Authorization"] = f"Bearer {api.tenant_key()}"
    return http


def problem(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    assert body["status"] == response.status_code, body
    return response.status_code, body["code"], body["detail"]


def create(
    http: httpx.Client, image: str, model: str = "tilework/resize", **headers: str
) -> httpx.Response:
    return http.post(
        f"/v1/models/{model}/predictions",
        json={"input": {"image": image, "width": 2}},
        headers={name.replace("_", "-"): value for name, value in headers.items()},
    )


def moment(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("30s", 30), ("1h30m", 5400), ("1.5m", 90), ("500ms", 0.5), ("90", 90), ("2h", 7200)],
)
def test_cancel_after_sets_the_deadline_it_names(
    tenant: httpx.Client, header: str, seconds: float, image: str
) -> None:
    created = create(tenant, image, Cancel_After=header)
    assert created.status_code == 201, created.text
    body = created.json()
    assert moment(body["deadline"]) - moment(body["created_at"]) == pytest.approx(seconds)
    assert create(tenant, image).json()["deadline"] is None


@pytest.mark.parametrize("header", ["soon", "0", "-5s", "5x", "1h-3m", "nan", "9999h"])
def test_a_cancel_after_that_is_no_duration_is_refused(
    tenant: httpx.Client, header: str, image: str
) -> None:
    status, code, _ = problem(create(tenant, image, Cancel_After=header))
    assert (status, code) == (422, "validation_failed")
    assert tenant.get("/v1/predictions").json()["results"] == []


def test_a_prediction_past_its_deadline_is_canceled_by_the_deadlines_duty(
    api: InProcessApi, tenant: httpx.Client, image: str
) -> None:
    doomed = create(tenant, image, Cancel_After="1h").json()
    spared = create(tenant, image).json()
    execute(
        api.settings.resolved_database_url,
        "UPDATE jobs SET deadline = 1 WHERE id = :id",
        id=doomed["id"],
    )
    assert Deadlines(api.settings, api.services.queue, api.services.database).turn()
    api.work()
    canceled = tenant.get(f"/v1/predictions/{doomed['id']}").json()
    assert canceled["status"] == "canceled" and canceled["output"] is None
    assert tenant.get(f"/v1/predictions/{spared['id']}").json()["status"] == "succeeded"
    job = tenant.get(f"/v1/jobs/{doomed['id']}").json()
    # Out of time, not canceled by anyone: the code says so.
    assert job["error"]["code"] == "timeout" and "deadline" in job["error"]["message"]


def test_a_retried_create_with_the_same_idempotency_key_makes_one_prediction(
    api: InProcessApi, tenant: httpx.Client, image: str
) -> None:
    first = create(tenant, image, Idempotency_Key="order-17")
    again = create(tenant, image, Idempotency_Key="order-17")
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    other = tenant.post(
        "/v1/models/tilework/resize/predictions",
        json={"input": {"image": image, "width": 3}},
        headers={"Idempotency-Key": "order-17"},
    )
    assert problem(other)[:2] == (409, "idempotency_conflict")
    with api.anonymous() as stranger:  # the same key in another tenant is its own
        stranger.headers["Authorization"] = f"Bearer {api.tenant_key()}"
        theirs = create(stranger, image, Idempotency_Key="order-17").json()
    assert theirs["id"] != first.json()["id"]
    assert len(tenant.get("/v1/predictions").json()["results"]) == 1


def test_the_list_takes_a_creation_window(
    api: InProcessApi, tenant: httpx.Client, image: str
) -> None:
    made = [create(tenant, image).json()["id"] for _ in range(4)]
    # Created at 1000, 2000, 3000 and 4000 s after the epoch.
    for n, job_id in enumerate(made, start=1):
        execute(
            api.settings.resolved_database_url,
            "UPDATE jobs SET created_at = :at WHERE id = :id",
            at=n * 1000.0,
            id=job_id,
        )

    def listed(**window: Any) -> list[str]:
        answer = tenant.get("/v1/predictions", params={"limit": 1, **window})
        assert answer.status_code == 200, answer.text
        seen, page = [], answer.json()
        while True:
            seen.extend(prediction["id"] for prediction in page["results"])
            if page["next"] is None:
                return seen
            page = tenant.get(page["next"]).json()

    at = {n: datetime.fromtimestamp(n * 1000.0, UTC).isoformat() for n in range(1, 5)}
    assert listed(created_after=at[2]) == made[:0:-1]
    assert listed(created_before=at[2]) == made[:1]
    assert listed(created_after=at[2], created_before=at[4]) == [made[2], made[1]]
    assert listed(created_after="1970-01-01T00:40:00") == made[:1:-1]  # no zone: UTC
    assert problem(tenant.get("/v1/predictions", params={"created_after": "yesterday"}))[:2] == (
        422,
        "validation_failed",
    )


@pytest.fixture
def deployed(make_api: MakeApi) -> InProcessApi:
    return make_api(
        deployments={
            "acme/thumbs": {"operation": "resize", "params": {"width": 3, "format": "png"}}
        }
    )


def test_a_deployment_runs_its_operation_with_its_params_under_the_inputs(
    deployed: InProcessApi, image: str
) -> None:
    http = deployed.http
    preset = http.post("/v1/deployments/acme/thumbs/predictions", json={"input": {"image": image}})
    assert preset.status_code == 201, preset.text
    override = http.post(
        "/v1/deployments/acme/thumbs/predictions",
        json={"input": {"image": image, "width": 2}},
    )
    jobs = {job["id"]: job for job in http.get("/v1/jobs").json()["items"]}
    assert jobs[preset.json()["id"]]["operation"] == "resize"
    assert jobs[preset.json()["id"]]["params"]["width"] == 3
    assert jobs[override.json()["id"]]["params"]["width"] == 2
    assert jobs[override.json()["id"]]["params"]["format"] == "png"

    shown = http.get("/v1/deployments/acme/thumbs").json()
    assert (shown["owner"], shown["name"]) == ("acme", "thumbs")
    assert shown["current_release"]["model"] == "tilework/resize"
    assert [d["name"] for d in http.get("/v1/deployments").json()["results"]] == ["thumbs"]
    status, code, detail = problem(
        http.post("/v1/deployments/acme/none/predictions", json={"input": {"image": image}})
    )
    assert (status, code) == (404, "not_found") and "acme/thumbs" in detail
    assert problem(http.get("/v1/deployments/acme/none"))[:2] == (404, "not_found")


def test_a_deployment_of_no_registered_operation_stops_the_server_at_start(
    make_api: MakeApi,
) -> None:
    with pytest.raises(TileworkError, match="deployment acme/x runs 'blur'"):
        make_api(deployments={"acme/x": {"operation": "blur"}})


def test_an_installed_operation_is_owned_by_tilework_or_its_package(
    tenant: httpx.Client, image: str
) -> None:
    """The tests' operations come from the plugin module ``tests.support.testops``: package
    ``tests``."""
    for model in ("tests/test_sleep", "tilework/test_sleep"):
        answer = tenant.post(
            f"/v1/models/{model}/predictions",
            json={"input": {"image": image, "seconds": 0}},
        )
        assert answer.status_code == 201, answer.text
    status, code, detail = problem(
        tenant.post(
            "/v1/models/acme/test_sleep/predictions",
            json={"input": {"image": image, "seconds": 0}},
        )
    )
    assert (status, code) == (404, "not_found") and "tests/test_sleep" in detail


def test_a_prediction_has_every_field_of_replicates_documented_example(
    tenant: httpx.Client, image: str
) -> None:
    """The server direction of tests/unit/remote/test_documented_examples.py: what tilework
    serves carries every field the documentation's prediction object has."""
    created = create(tenant, image).json()
    assert set(REPLICATE_PREDICTION) <= set(created)
    assert set(REPLICATE_PREDICTION["urls"]) <= set(created["urls"])
    assert created["status"] in ("starting", "processing", "succeeded", "failed", "canceled")
