"""How soon a client learns that a job ended: the event stream and a webhook, against polling.

Run by hand: ``.venv/bin/python bench/events.py [--jobs N]``. It starts a real server on
127.0.0.1 and runs quick one-task jobs (``noop``), one at a time. For each, three followers
start at submit and stop when they see the end:

- the anchor: polling ``GET /v1/jobs/{id}`` every 250 ms (what the SDK did before the stream);
- the SSE stream (``Client.wait``);
- a webhook receiver on 127.0.0.1 (Standard Webhooks, verified).

Each latency is from the job's ``completed_at`` (the commit that ended it) to the moment the
follower knew. The sender polls its table every 100 ms and the stream its log at most every
200 ms when idle, so both are bounded by those, not by the network.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from standardwebhooks import Webhook
from tests.support import images
from tests.support.loopback import LOOPBACK
from tests.support.receiver import Receiver, receiving
from tests.support.server import ServerProcess

from tilework.client import Client
from tilework.core.signatures import new_secret

POLL_SECONDS = 0.25


@dataclass(frozen=True)
class Latency:
    poll: float
    stream: float
    webhook: float


def poll(client: Client, job_id: str, seen: list[float]) -> None:
    while client.job(job_id)["status"] not in ("succeeded", "failed", "canceled"):
        time.sleep(POLL_SECONDS)
    seen.append(time.time())


def one_job(server: ServerProcess, receiver: Receiver, key: str, n: int, secret: str) -> Latency:
    """Submit one quick job with a webhook and follow it three ways at once."""
    hook = {"url": f"{receiver.url}/{n}", "events": ["succeeded"]}
    body = {"operation": "noop", "input": {"key": key}, "params": {"sleep_ms": 300}}
    job = server.http.post(
        f"{server.url}/v1/jobs", json={**body, "webhook": hook}, timeout=30
    ).json()
    polled: list[float] = []
    with server.client() as poller, server.client() as streamer:
        polling = threading.Thread(target=poll, args=(poller, job["id"], polled))
        polling.start()
        done = streamer.wait(job["id"], timeout=60)
        streamed = time.time()
        polling.join()
    (request,) = receiver.wait_for(1, f"/{n}")
    Webhook(secret).verify(request.body, request.headers)
    ended = datetime.fromisoformat(done["completed_at"]).timestamp()
    return Latency(polled[0] - ended, streamed - ended, request.at - ended)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=40)
    args = parser.parse_args()
    secret = new_secret()
    results: list[Latency] = []
    with tempfile.TemporaryDirectory() as folder:
        server = ServerProcess(
            Path(folder) / "home",
            workers=1,
            webhook_secret=secret,
            fetch_allow_hosts=LOOPBACK,  # the receiver
        ).start()
        photo = images.photo(Path(folder) / "photo.jpg", 32, 32)
        try:
            with receiving() as receiver, server.client() as client:
                key = client.upload(photo)["key"]
                results = [one_job(server, receiver, key, n, secret) for n in range(args.jobs)]
        finally:
            server.stop()
    print(f"{args.jobs} jobs; from completed_at until the follower knew (ms):")
    for name, values in [
        ("poll every 250 ms (anchor)", [r.poll for r in results]),
        ("event stream", [r.stream for r in results]),
        ("webhook", [r.webhook for r in results]),
    ]:
        ordered = sorted(values)
        p95 = ordered[int(0.95 * (len(ordered) - 1))]
        print(
            f"  {name:<27} p50 {1000 * statistics.median(values):6.1f}   p95 {1000 * p95:6.1f}"
            f"   max {1000 * max(values):6.1f}"
        )


if __name__ == "__main__":
    main()
