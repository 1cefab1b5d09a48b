"""Ids, formats, keys, signing, settings, progress and retry policy."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.formats import InputFormat, sniff
from tilework.core.ids import new_id
from tilework.core.jobs import JobRecord, JobStatus, job_progress
from tilework.core.settings import Settings
from tilework.objects.paths import validate_key
from tilework.objects.signing import UrlSigner
from tilework.queue import QueuePolicy


def test_ids_are_unique_and_sort_by_creation_time() -> None:
    first = new_id()
    time.sleep(0.002)
    later = [new_id() for _ in range(1000)]
    assert len(set(later)) == 1000
    assert all(len(value) == 26 for value in later)
    assert all(first < value for value in later)
    # Many ids fall in one millisecond; they still come out in the order they were made.
    assert later == sorted(later)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0rest", InputFormat.JPEG),
        (b"\x89PNG\r\n\x1a\nrest", InputFormat.PNG),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", InputFormat.WEBP),
        (b"GIF89a....", InputFormat.GIF),
        (b"II*\x00....", InputFormat.TIFF),
        (b"MM\x00*....", InputFormat.TIFF),
        (b"\x00\x00\x00\x1cftypavif", InputFormat.HEIF),
        (b"<svg xmlns=", None),
        (b"%PDF-1.7", None),
        (b"%!PS-Adobe-3.0 EPSF", None),
        (b"<html><body>", None),
        (b"", None),
    ],
)
def test_formats_are_recognised_by_their_bytes(head: bytes, expected: InputFormat | None) -> None:
    assert sniff(head) is expected


@pytest.mark.parametrize(
    "key",
    [
        "../etc/passwd",
        "a/../../b",
        "/abs",
        "a//b",
        ".hidden",
        "a/./b",
        "a\\b",
        "",
        "a/b/",
        "x" * 600,
        "sp ace",
        "nul\x00",
    ],
)
def test_unsafe_keys_are_refused(key: str) -> None:
    with pytest.raises(TileworkError) as caught:
        validate_key(key)
    assert caught.value.code is ErrorCode.VALIDATION_FAILED


def test_safe_keys_pass() -> None:
    assert validate_key("jobs/01abc/output.png") == "jobs/01abc/output.png"


def test_signed_urls_verify_only_untampered_and_unexpired() -> None:
    signer = UrlSigner(b"k", "http://h")
    url = signer.sign("jobs/a/output.png", 60)
    query = dict(part.split("=") for part in url.split("?")[1].split("&"))
    expires, signature = int(query["expires"]), query["signature"]
    assert signer.verify("GET", "jobs/a/output.png", expires, signature)
    assert not signer.verify("GET", "jobs/b/output.png", expires, signature)
    assert not signer.verify("GET", "jobs/a/output.png", expires + 1, signature)
    assert not signer.verify("PUT", "jobs/a/output.png", expires, signature)
    assert not UrlSigner(b"other", "http://h").verify(
        "GET", "jobs/a/output.png", expires, signature
    )
    assert not signer.verify(
        "GET",
        "jobs/a/output.png",
        int(time.time()) - 1,
        signer.signature("GET", "jobs/a/output.png", int(time.time()) - 1),
    )


def test_settings_read_the_environment_and_mask_secrets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TILEWORK_HOME", str(tmp_path))
    monkeypatch.setenv("TILEWORK_WORKERS", "3")
    monkeypatch.setenv("TILEWORK_DATABASE_URL", "postgresql://user:hunter2@db/tw")
    monkeypatch.setenv("TILEWORK_SECRET_KEY", "sekrit")
    values = Settings().effective()
    assert values["workers"] == 3
    assert "hunter2" not in values["database_url"]
    assert values["secret_key"] == "********"
    assert "sekrit" not in str(values)


def test_providers_of_each_kind_default_to_its_public_service_and_mask_their_tokens(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TILEWORK_HOME", str(tmp_path))
    providers = {
        "rep": {"token": "r8_hunter2"},
        "fal": {"kind": "fal", "token": "fal-hunter2"},
        "own": {"kind": "fal", "base_url": "http://gpu.internal:8000/fal"},
    }
    monkeypatch.setenv("TILEWORK_PROVIDERS", json.dumps(providers))
    settings = Settings()
    shown = settings.effective()["providers"]
    assert "hunter2" not in str(shown)
    assert shown["rep"] == {
        "kind": "replicate",
        "base_url": "https://api.replicate.com/",
        "model": "tilework/upscale",
        "token": "********",
        "webhook_secret": None,
    }
    assert shown["fal"]["base_url"] == "https://queue.fal.run/"
    assert shown["fal"]["jwks_url"] == "https://rest.alpha.fal.ai/.well-known/jwks.json"
    assert shown["own"]["token"] is None
    assert settings.providers["own"].hosts == ["gpu.internal", "rest.alpha.fal.ai"]
    monkeypatch.setenv("TILEWORK_PROVIDERS", json.dumps({"x": {"kind": "modal"}}))
    with pytest.raises(ValueError, match="modal"):
        Settings()


def test_generated_signing_key_is_stable_across_processes(tmp_path: Path) -> None:
    first = Settings(home=tmp_path).signing_key()
    assert len(first) >= 32
    # Another process with the same home (a restart, the CLI) reads the same key back.
    script = "import sys; from tilework.core.settings import Settings; " + (
        "sys.stdout.write(Settings(home=sys.argv[1]).signing_key().hex())"
    )
    read = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert bytes.fromhex(read.stdout) == first
    assert Settings(home=tmp_path / "elsewhere").signing_key() != first


def _job(status: JobStatus, stage: int, stage_tasks: int, remaining: int) -> JobRecord:
    return JobRecord(
        id="j",
        operation="op",
        status=status,
        params={},
        input={},
        stages=["tiles", "stitch"],
        stage=stage,
        stage_tasks=stage_tasks,
        stage_remaining=remaining,
        tasks_done=0,
        attempts=1,
        outputs=[],
        warnings=[],
        timings={},
        error_code=None,
        error_message=None,
        idempotency_key=None,
        created_at=0.0,
        started_at=None,
        completed_at=None,
    )


def test_progress_fills_each_stage_in_turn() -> None:
    assert job_progress(_job(JobStatus.QUEUED, 0, 4, 4)).percent == 0
    halfway = job_progress(_job(JobStatus.RUNNING, 0, 4, 2))
    assert (halfway.percent, halfway.stage, halfway.done, halfway.total) == (25.0, "tiles", 2, 4)
    assert job_progress(_job(JobStatus.RUNNING, 1, 1, 1)).percent == 50.0
    assert job_progress(_job(JobStatus.SUCCEEDED, 1, 1, 0)).percent == 100.0


def test_retry_delays_grow_exponentially_with_jitter_and_a_cap() -> None:
    policy = QueuePolicy(retry_base_seconds=1, retry_max_seconds=10)
    for attempts, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (9, 10)]:
        delays = [policy.retry_delay(attempts) for _ in range(200)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 1
