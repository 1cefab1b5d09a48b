"""Output uploads: a bound shared by processes, and retries against a flaky real S3 server."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.httpproxy import HttpProxy
from tests.support.s3 import S3Server
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.settings import Settings
from tilework.objects.factory import open_object_store
from tilework.objects.store import ObjectInfo, ObjectStore
from tilework.objects.uploads import upload, upload_slot

HOLD_SECONDS = 0.4


def hold_a_slot(directory: Path, record: Path) -> None:
    with upload_slot(directory, 2):
        started = time.time()
        time.sleep(HOLD_SECONDS)
        record.write_text(json.dumps([started, time.time()]))


def test_at_most_the_bound_of_processes_hold_slots_at_once(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")  # as separate as task processes are
    records = [tmp_path / f"{index}.json" for index in range(5)]
    processes = [
        context.Process(target=hold_a_slot, args=(tmp_path / "slots", record)) for record in records
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    spans = [json.loads(record.read_text()) for record in records]
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running, most = 0, 0
    for _, change in edges:
        running += change
        most = max(most, running)
    assert most == 2
    # Five holds of 0.4 s, two at a time: three rounds.
    assert max(end for _, end in spans) - min(start for start, _ in spans) >= 3 * HOLD_SECONDS


def hold_until_killed(directory: Path, marker: Path) -> None:
    with upload_slot(directory, 1):
        marker.touch()
        time.sleep(120)


def slot_is_free(path: Path) -> bool:
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True  # closing the file drops the lock again


def test_a_killed_holder_frees_its_slot(tmp_path: Path) -> None:
    directory, marker = tmp_path / "slots", tmp_path / "holding"
    holder = multiprocessing.get_context("spawn").Process(
        target=hold_until_killed, args=(directory, marker)
    )
    holder.start()
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not slot_is_free(directory / "slot-0")
    holder.kill()  # no cleanup runs: the kernel drops the lock with the process
    holder.join()
    assert slot_is_free(directory / "slot-0")  # at once, with no clock to race
    with upload_slot(directory, 1) as waited:
        assert waited < 10  # a slot still held would never be granted


@pytest.fixture
def proxy(s3_server: S3Server) -> Iterator[HttpProxy]:
    running = HttpProxy(s3_server.endpoint).start()
    yield running
    running.stop()


def flaky_upload(
    s3_server: S3Server, proxy: HttpProxy, folder: Path, attempts: int, failing: int
) -> tuple[ObjectStore, Callable[[], ObjectInfo]]:
    """A store behind the proxy, whose next ``failing`` PUTs fail, and an upload to try."""
    storage = s3_server.settings(s3_server.new_bucket())
    storage["s3_endpoint"] = proxy.endpoint
    settings = Settings(home=folder / "home", upload_attempts=attempts, **storage)
    store = open_object_store(settings)
    source = folder / "out.png"
    source.write_bytes(b"x" * 1000)
    proxy.failing["PUT"] = failing
    return store, lambda: upload(store, "jobs/a/output.png", source, settings)


def test_transient_failures_are_retried_until_the_upload_lands(
    s3_server: S3Server, proxy: HttpProxy, tmp_path: Path
) -> None:
    store, attempt = flaky_upload(s3_server, proxy, tmp_path, attempts=3, failing=2)
    assert attempt().bytes == 1000
    assert proxy.seen["PUT"] == 3  # two 503s, then the one that landed
    with store.readable("jobs/a/output.png") as local:
        assert local.read_bytes() == b"x" * 1000


def test_an_upload_out_of_attempts_fails_retryably(
    s3_server: S3Server, proxy: HttpProxy, tmp_path: Path
) -> None:
    store, attempt = flaky_upload(s3_server, proxy, tmp_path, attempts=2, failing=10)
    with pytest.raises(TileworkError) as failed:
        attempt()
    assert failed.value.code is ErrorCode.UPLOAD_FAILED
    assert failed.value.retryable  # the task's own retry may yet succeed
    assert proxy.seen["PUT"] == 2
    assert not store.exists("jobs/a/output.png")
