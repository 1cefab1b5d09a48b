"""Many hosts: an API and worker hosts as separate processes with separate homes (no shared
disk), meeting only in PostgreSQL and an S3 server."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx
import psycopg
import pyvips
from prometheus_client.parser import text_string_to_metric_families
from standardwebhooks import Webhook

from tests.support import images
from tests.support.databases import fresh_database
from tests.support.loopback import LOOPBACK
from tests.support.receiver import receiving
from tests.support.s3 import S3Server
from tests.support.server import ServerProcess, WorkerProcess, tilework_env
from tilework.objects.uploads import SLOTS_DIR


def files_under(home: Path) -> list[str]:
    """What a host left on its own disk, apart from its own secret key and the empty lock
    files of its upload slots."""
    return sorted(
        str(path.relative_to(home))
        for path in home.rglob("*")
        if path.is_file()
        and path.name != "secret_key"
        and not (path.parent.name == SLOTS_DIR and path.stat().st_size == 0)
    )


def test_a_tiled_upscale_across_three_worker_hosts(s3_server: S3Server, tmp_path: Path) -> None:
    """The API host runs no workers: the tiles, and the job's webhook, are the worker hosts'."""
    bucket = s3_server.new_bucket()
    storage = s3_server.settings(bucket, prefix="tilework")
    # The receiver is on loopback.
    common = {"lease_seconds": 5, "fetch_allow_hosts": LOOPBACK, **storage}
    with fresh_database("postgresql", tmp_path) as url, receiving() as receiver:
        api = ServerProcess(tmp_path / "api", workers=0, database_url=url, **common).start()
        homes = [tmp_path / f"worker-{n}" for n in range(3)]
        workers = [
            WorkerProcess(
                tilework_env(home, database_url=url, **common), tmp_path / f"worker-{n}.log"
            )
            for n, home in enumerate(homes)
        ]
        try:
            with api.client() as client:
                secret = client._http.get("/v1/webhooks/default/secret").json()["key"]
                key = client.upload(images.natural_photo(tmp_path / "p.png", 128, 96))["key"]
                job = client.submit(
                    "upscale",
                    key=key,
                    params={"scale": 4, "tile": 32, "overlap": 8},
                    webhook={"url": f"{receiver.url}/hook", "events": ["succeeded"]},
                )
                done = client.wait(job["id"], timeout=240)
                (hook,) = receiver.wait_for(1)
                listed = client._http.get("/v1/workers").json()["items"]
                scraped = scrape_when(client._http, "tilework_webhook_deliveries_total")
            with psycopg.connect(url) as db:
                tiles_by_holder = db.execute(
                    "SELECT worker_id, count(*) FROM tasks"
                    " WHERE job_id = %s AND kind = 'tile' GROUP BY worker_id",
                    (job["id"],),
                ).fetchall()
        finally:
            stopped = [worker.stop() for worker in workers]
            assert api.stop() == 0, api.log()
    logs = "\n".join(path.read_text() for path in tmp_path.glob("worker-*.log"))
    assert stopped == [0, 0, 0], logs
    assert done["status"] == "succeeded", (done, logs)
    assert sum(count for _, count in tiles_by_holder) == 12  # 128×96 in 32 px tiles
    assert len(tiles_by_holder) >= 2, f"the tiles did not spread across hosts: {tiles_by_holder}"
    # The API host's /metrics tells what the worker hosts did, from the database.
    assert [each["state"] for each in listed] == ["alive"] * 3
    assert scraped[("tilework_worker_hosts", (("state", "alive"),))] == 3
    threads = sum(each["workers"] for each in listed)
    assert scraped[("tilework_workers", (("host", listed[0]["host"]),))] == threads
    ended = (("operation", "upscale"), ("status", "succeeded"))
    assert scraped[("tilework_job_duration_seconds_count", ended)] == 1
    assert scraped[("tilework_upload_seconds_count", (("operation", "upscale"),))] >= 1
    assert scraped[("tilework_webhook_deliveries_total", (("outcome", "delivered"),))] == 1
    assert scraped[("tilework_jobs", (("operation", "upscale"), ("status", "succeeded")))] == 1
    delivered = Webhook(secret).verify(hook.body, hook.headers)
    assert delivered["type"] == "job.succeeded" and delivered["data"]["id"] == job["id"]

    [output] = done["outputs"]
    assert f"/{bucket}/tilework/tenants/default/jobs/{job['id']}/" in output["url"]
    # Presigned: straight from the bucket, not the API.
    fetched = httpx.get(output["url"], timeout=60)
    assert fetched.status_code == 200
    assert hashlib.sha256(fetched.content).hexdigest() == output["sha256"]
    image = pyvips.Image.new_from_buffer(fetched.content, "")
    assert (image.width, image.height) == (512, 384)
    # Nothing was kept, or needed, on any host's disk: inputs, tiles and outputs are in S3.
    # The API host's one file is the operator's copy of the first admin key, which no host
    # reads back (keys are checked against their hashes in the database).
    assert files_under(api.home) == ["admin_key"], api.home
    for home in homes:
        assert files_under(home) == [], home


def scrape_when(
    http: httpx.Client, name: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The API host's /metrics (parsed by prometheus_client), once ``name`` has a sample: the
    webhook's attempt is recorded just after the receiver answers."""
    deadline = time.monotonic() + 30
    while True:
        text = http.get("/metrics").text
        samples = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
        if any(found == name for found, _ in samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.1)
