"""Bounded for real: 900 small jobs through a server whose retention is half a second. Each
wave's jobs are read as they end (``Prefer: wait``), while they are retained, and must be
right; after every wave the sweeper has deleted them, and the job tables, the SQLite file and
the stored bytes stay on the plateau the first wave reached instead of growing with every
wave."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import images
from tests.support.rows import query, swept_to_the_floor
from tests.support.server import ServerProcess, unmeasured

WAVES = 3
NOOPS = 270  # a wave's jobs without files
RESIZES = 30  # and with one each
CLIENTS = 16


# Through a server process, 17 s: by hand, before a release. The suite's own plateau test
# (tests/api/test_retention_plateau.py) runs 2,100 jobs through the app in process.
@pytest.mark.skipif(
    os.environ.get("TILEWORK_SOAK") != "1",
    reason="the retention soak runs by hand: TILEWORK_SOAK=1 .venv/bin/pytest -s "
    "tests/acceptance/test_retention_soak.py",
)
def test_a_server_with_short_retention_stays_on_a_plateau(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "home", workers=2, retention_seconds=0.5, sweep_seconds=0.5)
    # Not measured by coverage: these paths are the other tests' too, and measuring a
    # thousand jobs' worth of them doubles the soak's time.
    server.env = unmeasured(server.env)
    server.start()
    database = server.home / "tilework.db"
    url = f"sqlite:///{database}"
    jobs_folder = server.home / "objects" / "tenants" / "default" / "jobs"
    try:
        with server.client() as client:
            key = client.upload(images.photo(tmp_path / "photo.png", 32, 24))["key"]
        bodies: list[dict[str, Any]] = [
            {"operation": "noop", "input": {"key": key}, "params": {}}
        ] * NOOPS + [
            {"operation": "resize", "input": {"key": key}, "params": {"width": 8}}
        ] * RESIZES
        plateau: list[tuple[int, int, int]] = []
        with (
            httpx.Client(
                base_url=server.url,
                headers={"Authorization": f"Bearer {server.api_key}", "Prefer": "wait=60"},
                timeout=90,
                limits=httpx.Limits(max_connections=CLIENTS),
            ) as http,
            ThreadPoolExecutor(CLIENTS) as pool,
        ):
            for _ in range(WAVES):
                ended = list(pool.map(lambda body: http.post("/v1/jobs", json=body), bodies))
                for answer, body in zip(ended, bodies, strict=True):
                    job = answer.json()
                    assert answer.status_code == 200 and job["status"] == "succeeded", job
                    if body["operation"] == "resize":
                        assert [out["width"] for out in job["outputs"]] == [8]
                plateau.append(swept_to_the_floor(url, database, jobs_folder))
    finally:
        assert server.stop() == 0, server.log()
    (deleted,) = query(url, "SELECT value FROM counters WHERE name = 'jobs_deleted_total'")
    assert deleted.value == WAVES * (NOOPS + RESIZES)
    print("plateau (rows, database bytes, stored bytes) after each wave:", plateau)
    first_rows, first_file, _ = plateau[0]
    for rows, size, stored in plateau:
        assert rows == 0 and stored == 0, plateau
        # The file keeps its pages and reuses them: it does not grow wave after wave.
        assert size <= first_file * 1.25, plateau
    assert first_rows == 0
