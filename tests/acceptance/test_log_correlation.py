"""One job followed through a real server's log: a ``traceparent`` given on submit reaches
the provider its tile is sent to and every line of its tasks; ``tilework logs JOB_ID FILE``
(the real CLI) prints that job's lines, each naming its job, host, and for a task's, the task,
its tenant and the trace."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.support import images, provider
from tests.support.fileserver import serving
from tests.support.loopback import LOOPBACK
from tests.support.server import ServerProcess

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
# One 32x24 tile, upscaled twice by the provider.
PARAMS = {"scale": 2, "model": "animevideov3", "tile": 32, "overlap": 0, "provider": "gpu"}


def test_a_jobs_trace_reaches_its_provider_and_its_log_lines(tmp_path: Path) -> None:
    photo = images.photo(tmp_path / "photo.png", 32, 24)
    (tmp_path / "served").mkdir()
    images.photo(tmp_path / "served" / "tile.png", 64, 48)
    with (
        serving(tmp_path / "served") as files,
        provider.serving(f"{files}/tile.png", host="127.0.0.2") as remote,
    ):
        server = ServerProcess(
            tmp_path / "home",
            workers=1,
            providers=json.dumps({"gpu": {"base_url": remote.url}}),
            provider_poll_seconds=0.1,
            fetch_allow_hosts=LOOPBACK,  # the provider's output is on the file server
        ).start()
        try:
            with server.client() as client:
                key = client.upload(photo)["key"]
            body = {"operation": "upscale", "input": {"key": key}, "params": PARAMS}
            refused = server.http.post("/v1/jobs", json=body, headers={"traceparent": "nope"})
            assert refused.status_code == 422
            assert refused.json()["error"]["details"]["errors"][0]["field"] == "traceparent"
            created = server.http.post("/v1/jobs", json=body, headers={"traceparent": TRACEPARENT})
            assert created.status_code == 201, created.text
            job_id = created.json()["id"]
            with server.client() as client:
                assert client.wait(job_id)["status"] == "succeeded"
        finally:
            assert server.stop() == 0, server.log()
        assert remote.traceparents and set(remote.traceparents) == {TRACEPARENT}

    shown = subprocess.run(
        [sys.executable, "-m", "tilework", "logs", job_id, str(server.log_path)],
        capture_output=True,
        text=True,
        check=True,
        env=server.env,
    ).stdout.splitlines()
    events = [re.search(r"event='([^']*)'", line) for line in shown]
    names = [found.group(1) for found in events if found]
    assert {"step", "task_deferred", "task_succeeded"} <= set(names), names
    assert names.count("task_succeeded") == 3  # prepare, the tile, the stitch
    for line in shown:
        assert f"job_id='{job_id}'" in line and "host='" in line, line
        if "task_id=" in line:
            assert "tenant='default'" in line and f"traceparent='{TRACEPARENT}'" in line, line
    # The server's log holds other lines too: the command kept only this job's.
    assert len(server.log_path.read_text().splitlines()) > len(shown)
