"""The event stream over a real socket: ``Client.wait`` follows a job through a connection
that drops mid-job, resuming after its last event (the rest: ``tests/api/test_events.py``)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from tests.support.server import ServerProcess
from tests.support.tcpproxy import TcpProxy
from tilework.client import Client


def test_wait_resumes_after_the_connection_drops(server: ServerProcess, photo: Path) -> None:
    key = server.tenant_key()
    with Client(server.url, key) as client:
        image = client.upload(photo)["key"]
        job_id = client.submit("test_fanout", key=image, params={"tasks": 12, "seconds": 0.3})["id"]
    proxy = TcpProxy("127.0.0.1", server.port).start()
    seen: list[dict[str, Any]] = []
    outcome: list[dict[str, Any]] = []
    with Client(f"http://127.0.0.1:{proxy.port}", key) as through_proxy:
        follower = threading.Thread(
            target=lambda: outcome.append(through_proxy.wait(job_id, seen.append, timeout=60))
        )
        follower.start()
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.02)
        proxy.cut()  # the stream drops mid-job; the client reconnects and resumes
        time.sleep(0.3)
        proxy.start()
        follower.join(60)
    proxy.cut()
    assert seen and seen[0]["status"] != "succeeded"  # it was following when the line dropped
    assert outcome and outcome[0]["status"] == "succeeded"
    percents = [job["progress"]["percent"] for job in seen]
    assert percents == sorted(percents)  # resumed where it left off, in order
