"""``/metrics`` scraped with prometheus_client's own parser after real jobs, on SQLite and on
PostgreSQL: two worker hosts' presence, job and task states, counters that survive the rows
they counted, histograms; ``GET /v1/workers``; and the alert rules and dashboard naming only
metrics a live scrape has."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support import images
from tests.support.api import InProcessApi, MakeApi, error_of
from tests.support.loopback import LOOPBACK
from tests.support.receiver import receiving
from tilework.worker.executor import Executor
from tilework.worker.presence import Presence

TOKEN = "scrape-token-for-the-tests"
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, make_api: MakeApi) -> InProcessApi:
    return make_api(request.param, metrics_token=TOKEN, fetch_allow_hosts=LOOPBACK)


def scrape(app: InProcessApi, token: bool = True) -> tuple[Samples, set[str]]:
    """Every sample by (name, labels), and every family's name (a counter's without _total);
    with the metrics token, else the admin key."""
    headers = {"Authorization": f"Bearer {TOKEN}"} if token else {}
    answer = app.http.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    names = set()
    for family in text_string_to_metric_families(answer.text):
        names.add(family.name)
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, names


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def hosts(app: InProcessApi) -> Iterator[tuple[Presence, Presence]]:
    """Two worker hosts' presence rows, kept alive by their heartbeats."""
    first = Presence(app.settings, app.services.database, 2, host="host-a")
    second = Presence(app.settings, app.services.database, 1, host="host-b")
    first.start()
    second.start()
    yield first, second
    first.stop()
    second.stop()


def submit(app: InProcessApi, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    with app.client(key) as client:
        answer = client._http.post("/v1/jobs", json=body)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def test_a_scrape_after_real_jobs_says_what_happened(
    app: InProcessApi, hosts: tuple[Presence, Presence], tmp_path: Path
) -> None:
    key = app.client().upload(images.photo(tmp_path / "photo.png", 24, 24))["key"]
    paying = app.tenant_key(credits=10)
    with app.client(paying) as client:
        own = client.upload(images.photo(tmp_path / "own.png", 24, 24))["key"]
    with receiving() as receiver:
        made = [
            submit(app, {"operation": "resize", "input": {"key": key}, "params": {"width": w}})
            for w in (8, 12)
        ]
        charged = submit(
            app,
            {
                "operation": "resize",
                "input": {"key": own},
                "params": {"width": 10},
                "webhook": {"url": f"{receiver.url}/hook", "events": ["succeeded"]},
            },
            paying,
        )
        missing = submit(
            app,
            {
                "operation": "resize",
                "input": {"url": "http://127.0.0.1:9/gone.png"},
                "params": {"width": 8},
            },
        )
        flaky = submit(
            app, {"operation": "test_flaky", "input": {"key": key}, "params": {"fail_attempts": 2}}
        )
        canceled = submit(app, {"operation": "noop", "input": {"key": key}})
        assert app.http.post(f"/v1/jobs/{canceled['id']}/cancel").status_code == 200
        app.work()
        receiver.wait_for(1, "/hook")
        # A task process that dies under its task, in a real task process.
        crashed = submit(
            app, {"operation": "test_crash", "input": {"key": key}, "params": {"crash_attempts": 1}}
        )
        app.work(Executor(app.settings))
        # The sender records the attempt just after the receiver answers.
        deadline = time.monotonic() + 10
        while not value(scrape(app)[0], "tilework_webhook_deliveries_total", outcome="delivered"):
            assert time.monotonic() < deadline, "the delivery was never recorded"
            time.sleep(0.05)
    # A task whose worker stopped heartbeating: its lease lapses and it is taken back.
    lost = submit(app, {"operation": "noop", "input": {"key": key}})
    assert app.services.queue.claim("host-c:1:0", 1, 0.01)
    time.sleep(0.05)
    assert app.services.queue.recover_expired() == 1
    app.work()

    samples, _ = scrape(app)
    assert value(samples, "tilework_jobs", status="succeeded", operation="resize") == 3
    assert value(samples, "tilework_jobs", status="failed", operation="resize") == 1
    assert value(samples, "tilework_jobs", status="canceled", operation="noop") == 1
    assert value(samples, "tilework_jobs", status="succeeded", operation="test_flaky") == 1
    assert value(samples, "tilework_jobs", status="succeeded", operation="test_crash") == 1
    assert value(samples, "tilework_jobs", status="succeeded", operation="noop") == 1
    assert value(samples, "tilework_tasks", status="queued") == 0
    assert value(samples, "tilework_queue_oldest_task_seconds") == 0
    assert value(samples, "tilework_workers", host="host-a") == 2
    assert value(samples, "tilework_workers", host="host-b") == 1
    assert value(samples, "tilework_worker_hosts", state="alive") == 2
    assert value(samples, "tilework_task_retries_total", operation="test_flaky") == 2
    assert value(samples, "tilework_task_retries_total", operation="test_crash") == 1
    assert value(samples, "tilework_task_process_crashes_total", operation="test_crash") == 1
    assert value(samples, "tilework_task_lease_expired_total", operation="noop") == 1
    code = "download_failed"
    assert value(samples, "tilework_jobs_failed_total", operation="resize", code=code) == 1
    assert value(samples, "tilework_webhook_deliveries_total", outcome="delivered") == 1
    assert value(samples, "tilework_credits_charged_total", operation="resize") == 1
    ended = {"operation": "resize", "status": "succeeded"}
    assert value(samples, "tilework_job_duration_seconds_count", **ended) == 3
    assert value(samples, "tilework_job_duration_seconds_bucket", le="+Inf", **ended) == 3
    assert value(samples, "tilework_job_duration_seconds_bucket", le="3600.0", **ended) == 3
    assert value(samples, "tilework_job_duration_seconds_sum", **ended) > 0
    assert value(samples, "tilework_job_queue_wait_seconds_count", **ended) == 3
    assert value(samples, "tilework_job_run_seconds_count", **ended) == 3
    # Canceled before it started: only its whole time.
    never = {"operation": "noop", "status": "canceled"}
    assert value(samples, "tilework_job_duration_seconds_count", **never) == 1
    assert value(samples, "tilework_job_run_seconds_count", **never) == 0
    assert value(samples, "tilework_upload_seconds_count", operation="resize") == 3

    # Deleting the rows they counted takes nothing from counters and histograms.
    for job in (*made, missing, flaky, canceled, crashed, lost):
        assert app.http.delete(f"/v1/jobs/{job['id']}").status_code == 204
    with app.client(paying) as client:
        assert client._http.delete(f"/v1/jobs/{charged['id']}").status_code == 204
    after, _ = scrape(app)
    assert value(after, "tilework_jobs", status="succeeded", operation="resize") == 0
    assert value(after, "tilework_jobs_failed_total", operation="resize", code=code) == 1
    assert value(after, "tilework_job_duration_seconds_count", **ended) == 3
    assert value(after, "tilework_jobs_deleted_total", reason="request") == 8

    # A host that stops is gone at once; one that stops heartbeating, once its lease lapses.
    hosts[1].stop()
    stopped, _ = scrape(app)
    assert value(stopped, "tilework_workers", host="host-b") == 0
    assert value(stopped, "tilework_worker_hosts", state="gone") == 1
    listed = {each["host"]: each for each in app.http.get("/v1/workers").json()["items"]}
    assert (listed["host-a"]["state"], listed["host-a"]["workers"]) == ("alive", 2)
    assert listed["host-b"]["state"] == "gone" and listed["host-b"]["stopped_at"]


def test_only_admins_and_the_metrics_token_may_scrape(app: InProcessApi) -> None:
    with app.anonymous() as anonymous:
        assert error_of(anonymous.get("/metrics")) == (401, "unauthorized")
        wrong = anonymous.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        assert error_of(wrong) == (401, "unauthorized")
    with app.tenant() as tenant:
        assert error_of(tenant._http.get("/metrics")) == (403, "forbidden")
        assert error_of(tenant._http.get("/v1/workers")) == (403, "forbidden")
    assert app.http.get("/metrics").status_code == 200  # the admin key


def test_a_host_that_stops_heartbeating_is_gone_once_its_lease_lapses(
    make_api: MakeApi,
) -> None:
    app = make_api(lease_seconds=0.3)  # heartbeats every 0.1 s, gone after 0.3 s without
    presence = Presence(app.settings, app.services.database, 1, host="host-k")
    presence.start()
    samples, _ = scrape(app, token=False)
    assert value(samples, "tilework_workers", host="host-k") == 1
    presence._stopping.set()  # its heartbeat stops, as a killed host's does; no goodbye
    assert presence._thread is not None
    presence._thread.join()
    time.sleep(0.5)
    samples, _ = scrape(app, token=False)
    assert value(samples, "tilework_workers", host="host-k") == 0
    assert value(samples, "tilework_worker_hosts", state="gone") == 1


# A series' family: a counter's samples end in _total, a histogram's in _bucket, _count, _sum.
_SUFFIXES = re.compile(r"_(total|bucket|count|sum)$")


def named_metrics(text: str) -> set[str]:
    return {_SUFFIXES.sub("", name) for name in re.findall(r"\btilework_[a-z_]+", text)}


def test_the_alert_rules_and_the_dashboard_name_only_metrics_a_live_scrape_has(
    app: InProcessApi,
) -> None:
    _, names = scrape(app)
    families = {_SUFFIXES.sub("", name) for name in names}
    rules_text = (DEPLOY / "prometheus" / "tilework-rules.yml").read_text()
    rules = yaml.safe_load(rules_text)
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {rule["alert"] for rule in alerts} >= {
        "TileworkNoLiveWorkers",
        "TileworkOldestTaskTooOld",
        "TileworkJobFailureRate",
        "TileworkWebhookFailures",
    }
    for rule in alerts:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert isinstance(rule["expr"], str) and rule["expr"].strip()
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["expr"]
        assert rule["expr"].count("[") == rule["expr"].count("]"), rule["expr"]
        if "for" in rule:
            assert re.fullmatch(r"\d+[smhd]", rule["for"]), rule["for"]
        assert rule["labels"]["severity"] in ("critical", "warning")
    assert named_metrics(rules_text) <= families, named_metrics(rules_text) - families
    dashboard = json.loads((DEPLOY / "grafana" / "tilework-dashboard.json").read_text())
    exprs = " ".join(t["expr"] for panel in dashboard["panels"] for t in panel["targets"])
    assert named_metrics(exprs) <= families, named_metrics(exprs) - families


def test_a_job_deleted_before_any_scrape_still_counts_in_the_histograms(
    app: InProcessApi, tmp_path: Path
) -> None:
    key = app.client().upload(images.photo(tmp_path / "photo.png", 16, 16))["key"]
    job = submit(app, {"operation": "resize", "input": {"key": key}, "params": {"width": 8}})
    app.work()
    assert app.http.delete(f"/v1/jobs/{job['id']}").status_code == 204
    samples, _ = scrape(app)
    ended = {"operation": "resize", "status": "succeeded"}
    assert value(samples, "tilework_job_duration_seconds_count", **ended) == 1
    assert value(samples, "tilework_upload_seconds_count", operation="resize") == 1
