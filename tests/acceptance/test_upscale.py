"""``upscale`` through the real server: a kill -9 of a worker host mid-tiles changes nothing in
the output (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.support import images
from tests.support.rows import running_task, task_attempts
from tests.support.server import ServerProcess


def test_kill_9_of_a_worker_mid_tiles_gives_the_same_output(
    tmp_path: Path, database_url: str
) -> None:
    server = ServerProcess(
        tmp_path / "home", workers=1, lease_seconds=2, database_url=database_url
    ).start()
    params = {"scale": 4, "tile": 32, "overlap": 8}
    victim = server.worker().wait_started()
    try:
        with server.client() as client:
            key = client.upload(images.natural_photo(tmp_path / "p.png", 128, 96))["key"]
            undisturbed = client.wait(client.submit("upscale", key=key, params=params)["id"])
            # Run again, not answered from the undisturbed run's outputs.
            job = client.submit("upscale", key=key, params=params, cache=False)
            task_id, pid = running_task(
                database_url, job["id"], kind="tile", pid=victim.process.pid
            )
            os.kill(pid, signal.SIGKILL)
            done = client.wait(job["id"], timeout=120)
    finally:
        victim.stop()
        assert server.stop() == 0, server.log()
    assert undisturbed["status"] == done["status"] == "succeeded", server.log()
    assert task_attempts(database_url, task_id) == 2, "the kill did not interrupt a tile"
    assert done["outputs"][0]["sha256"] == undisturbed["outputs"][0]["sha256"]
