"""The ``tilework`` command as a user runs it: a subprocess against the running server."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from tests.server import ServerProcess, tilework_env


def tilework(
    server: ServerProcess, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = tilework_env(server.home, url=server.url)
    return subprocess.run(
        [sys.executable, "-m", "tilework", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_submit_waits_and_downloads(server: ServerProcess, photo: Path, tmp_path: Path) -> None:
    target = tmp_path / "small.png"
    done = tilework(
        server,
        "submit",
        "resize",
        str(photo),
        "-p",
        "width=50",
        "-p",
        "format=png",
        "-o",
        str(target),
    )
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)  # stdout is not a terminal: JSON
    assert job["status"] == "succeeded"
    assert hashlib.sha256(target.read_bytes()).hexdigest() == job["outputs"][0]["sha256"]
    assert f"saved {target}" in done.stderr


def test_submit_into_a_directory_by_default_name(
    server: ServerProcess, photo: Path, tmp_path: Path
) -> None:
    done = tilework(server, "submit", "resize", str(photo), "-p", "width=20", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "photo.resize.jpg").is_file()


def test_no_wait_then_show_watch_and_list(server: ServerProcess, photo: Path) -> None:
    queued = tilework(server, "submit", "resize", str(photo), "-p", "width=30", "--no-wait")
    job_id = json.loads(queued.stdout)["id"]
    watched = tilework(server, "jobs", "watch", job_id)
    assert watched.returncode == 0 and json.loads(watched.stdout)["status"] == "succeeded"
    shown = json.loads(tilework(server, "jobs", "show", job_id).stdout)
    assert shown["id"] == job_id and shown["outputs"][0]["width"] == 30
    listed = json.loads(
        tilework(server, "jobs", "list", "--operation", "resize", "--limit", "50").stdout
    )
    assert job_id in [job["id"] for job in listed["items"]]


def test_cancel(server: ServerProcess, photo: Path) -> None:
    queued = tilework(server, "submit", "test_sleep", str(photo), "-p", "seconds=30", "--no-wait")
    job_id = json.loads(queued.stdout)["id"]
    canceled = tilework(server, "jobs", "cancel", job_id)
    assert canceled.returncode == 0 and json.loads(canceled.stdout)["status"] == "canceled"
    assert tilework(server, "jobs", "watch", job_id).returncode == 1


def test_failures_have_distinct_exit_codes(
    server: ServerProcess, photo: Path, tmp_path: Path
) -> None:
    invalid = tilework(server, "submit", "resize", str(photo), "-p", "width=-3")
    assert invalid.returncode == 2 and "params.width" in invalid.stderr
    not_an_image = tmp_path / "notes.txt"
    not_an_image.write_text("hello")
    assert (
        "unsupported_format"
        in tilework(server, "submit", "resize", str(not_an_image), "-p", "width=3").stderr
    )
    failed = tilework(server, "submit", "resize", "http://127.0.0.1:9/x.png", "-p", "width=3")
    assert (
        failed.returncode == 1 and json.loads(failed.stdout)["error"]["code"] == "download_failed"
    )
    missing = tilework(server, "submit", "resize", str(tmp_path / "missing.jpg"))
    assert missing.returncode == 2 and "neither a file nor" in missing.stderr
    assert tilework(server, "jobs", "show", "nope").returncode == 2


def test_config_prints_effective_settings_with_secrets_masked(server: ServerProcess) -> None:
    shown = tilework(server, "config")
    values = json.loads(shown.stdout)
    assert values["home"] == str(server.home.resolve())
    assert values["secret_key"] == "********" and "test-secret" not in shown.stdout
    assert values["database_url"].startswith("sqlite:///")
