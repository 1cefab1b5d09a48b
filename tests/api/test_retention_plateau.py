"""Bounded for real, in the suite: 2,100 small jobs through the app (its HTTP routes, its
queue on SQLite, local storage) with a retention of three seconds and the sweeper
running as every worker host runs it, on its own thread every fifth of a second. Each wave's
jobs are checked while they are retained; after each wave the sweeper has deleted them, and the
job tables, the SQLite file (its pages reused, not shrunk) and the stored bytes stay on the
plateau the first wave reached.

tests/acceptance/test_retention_soak.py is the same through a server process (by hand)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support import images
from tests.support.api import InProcessApi, MakeApi
from tests.support.rows import query, swept_to_the_floor
from tilework.retention.sweeper import Sweeper

WAVES = 3
JOBS = 700  # a wave's
ROUND = 100


def wave(app: InProcessApi, key: str) -> None:
    """A wave in rounds of 100 jobs (one in ten a resize, which stores a file): each round
    submitted, run, and every job's outcome checked (one page of the job list) well within
    its retention."""
    noop: dict[str, Any] = {"operation": "noop", "input": {"key": key}}
    # Every resize stores a file of its own: none answered from the cache.
    resize = {"operation": "resize", "input": {"key": key}, "params": {"width": 8}, "cache": False}
    for _ in range(JOBS // ROUND):
        ids = [
            app.http.post("/v1/jobs", json=resize if index % 10 == 0 else noop).json()["id"]
            for index in range(ROUND)
        ]
        app.work()
        listed = app.http.get("/v1/jobs", params={"limit": ROUND}).json()["items"]
        seen = {job["id"]: job for job in listed}
        for job_id in ids:
            job = seen[job_id]
            assert job["status"] == "succeeded", job
            if job["operation"] == "resize":
                assert [output["width"] for output in job["outputs"]] == [8], job


def test_thousands_of_jobs_keep_the_tables_file_and_storage_on_a_plateau(
    make_api: MakeApi, tmp_path: Path
) -> None:
    app = make_api(
        "sqlite",
        # Longer than a round of 100 submits and their run on a loaded machine (over a second
        # here once), so every job of a round is still there when the round checks it.
        retention_seconds=3.0,
        sweep_seconds=0.2,
        rate_limit_per_minute=10_000_000,
        max_queued_jobs_per_key=100_000,
    )
    url = app.settings.resolved_database_url
    database = Path(url.removeprefix("sqlite:///"))
    jobs_folder = app.settings.home / "objects" / "tenants" / "default" / "jobs"
    with app.client() as client:
        key = client.upload(images.photo(tmp_path / "photo.png", 32, 24))["key"]
    sweeper = Sweeper(app.settings, app.services.database, app.services.objects)
    sweeper.start()
    plateau = []
    try:
        for _ in range(WAVES):
            wave(app, key)
            plateau.append(swept_to_the_floor(url, database, jobs_folder))
    finally:
        sweeper.stop()
    (deleted,) = query(url, "SELECT value FROM counters WHERE name = 'jobs_deleted_total'")
    assert deleted.value == WAVES * JOBS
    print("plateau (rows, database bytes, stored bytes) after each wave:", plateau)
    _, first_file, _ = plateau[0]
    for rows, size, stored in plateau:
        assert rows == 0 and stored == 0, plateau
        # The file keeps its pages and reuses them: it does not grow wave after wave.
        assert size <= first_file * 1.25, plateau
