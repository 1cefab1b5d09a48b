"""The ``tilework`` command as a user runs it: a subprocess against a running server, with a
key of a tenant of its own (``TILEWORK_API_KEY``), or the admin key its server wrote."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path
from typing import Any

import pytest
import pyvips

from tests.support import images
from tests.support.databases import fresh_database
from tests.support.jobs import submit
from tests.support.server import ServerProcess, free_port, tilework_env
from tilework.client import ApiError, Client
from tilework.core.jobs import JobStatus
from tilework.core.settings import Settings
from tilework.ops.registry import Registry
from tilework.queue.sql import SqlQueue
from tilework.store.database import Database
from tilework.wiring import queue_policy


def tilework(
    server: ServerProcess, *args: str, cwd: Path | None = None, key: str | None = None
) -> subprocess.CompletedProcess[str]:
    settings = {"url": server.url} | ({"api_key": key} if key else {})
    return subprocess.run(
        [sys.executable, "-m", "tilework", *args],
        env=tilework_env(server.home, **settings),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def key(loopback_server: ServerProcess) -> str:
    return loopback_server.tenant_key()


def test_submit_waits_and_downloads(
    loopback_server: ServerProcess, key: str, photo: Path, tmp_path: Path
) -> None:
    # A path longer than a line: stderr is not a terminal here, and the line naming the saved
    # file must not be wrapped at 80 columns (a log reader searches for the whole path).
    folder = tmp_path / ("a-folder-with-a-long-name-" * 3)
    folder.mkdir()
    target = folder / "small [1].png"  # and brackets, which rich would read as markup
    done = tilework(
        loopback_server,
        "submit",
        "resize",
        str(photo),
        "-p",
        "width=50",
        "-p",
        "format=png",
        "-o",
        str(target),
        key=key,
    )
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)  # stdout is not a terminal: JSON
    assert job["status"] == "succeeded"
    assert hashlib.sha256(target.read_bytes()).hexdigest() == job["outputs"][0]["sha256"]
    assert f"saved {target}" in done.stderr
    # The task process's step lines reach the server's log, each with the job's id.
    steps = [
        line
        for line in loopback_server.log().splitlines()
        if "event='step'" in line and f"job_id='{job['id']}'" in line
    ]
    assert any("step='resize'" in line for line in steps), steps


def test_submit_into_a_directory_by_default_name(
    loopback_server: ServerProcess, key: str, photo: Path, tmp_path: Path
) -> None:
    done = tilework(
        loopback_server, "submit", "resize", str(photo), "-p", "width=20", cwd=tmp_path, key=key
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "photo.resize.jpg").is_file()


def test_no_wait_then_show_watch_and_list(
    loopback_server: ServerProcess, key: str, photo: Path
) -> None:
    queued = tilework(
        loopback_server, "submit", "resize", str(photo), "-p", "width=30", "--no-wait", key=key
    )
    job_id = json.loads(queued.stdout)["id"]
    watched = tilework(loopback_server, "jobs", "watch", job_id, key=key)
    assert watched.returncode == 0 and json.loads(watched.stdout)["status"] == "succeeded"
    shown = json.loads(tilework(loopback_server, "jobs", "show", job_id, key=key).stdout)
    assert shown["id"] == job_id and shown["outputs"][0]["width"] == 30
    listed = json.loads(
        tilework(
            loopback_server, "jobs", "list", "--operation", "resize", "--limit", "50", key=key
        ).stdout
    )
    assert [job["id"] for job in listed["items"]] == [job_id]


def on_a_terminal(
    server: ServerProcess, *args: str, key: str | None = None, columns: int = 200
) -> tuple[int, str]:
    """The command as a person sees it: its output a terminal (a pty, ``columns`` wide), so it
    prints tables and lines rather than JSON. Its exit status and what it printed, uncoloured."""
    settings = {"url": server.url} | ({"api_key": key} if key else {})
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "tilework", *args],
        env=tilework_env(server.home, **settings) | {"COLUMNS": str(columns), "TERM": "xterm"},
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=subprocess.DEVNULL,
    )
    os.close(follower)
    printed = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the command closed its terminal
            break
        if not chunk:
            break
        printed += chunk
    status = process.wait(timeout=120)
    os.close(leader)
    return status, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", printed.decode())


def test_on_a_terminal_people_get_lines_and_tables(
    loopback_server: ServerProcess, key: str, photo: Path
) -> None:
    queued = tilework(
        loopback_server, "submit", "resize", str(photo), "-p", "width=30", "--no-wait", key=key
    )
    job_id = json.loads(queued.stdout)["id"]  # not a terminal: JSON
    assert tilework(loopback_server, "jobs", "watch", job_id, key=key).returncode == 0
    status, shown = on_a_terminal(loopback_server, "jobs", "show", job_id, key=key)
    assert status == 0 and f"{job_id} resize succeeded 100.0%" in shown, shown
    # Its output's size, then its signed URL (which rich may wrap onto a line of its own).
    assert "output: 30x" in shown and f"/jobs/{job_id}/output." in shown, shown
    status, listed = on_a_terminal(loopback_server, "jobs", "list", key=key)
    row = next(line for line in listed.splitlines() if job_id in line)
    assert status == 0 and "resize" in row and "succeeded" in row and "100.0%" in row, listed
    assert not listed.lstrip().startswith("{")
    status, keys = on_a_terminal(loopback_server, "keys", "list")  # the admin key of its home
    assert status == 0 and "prefix" in keys and "tw_" in keys, keys
    status, settings = on_a_terminal(loopback_server, "config")
    assert status == 0 and "TILEWORK_HOME" in settings and "********" in settings, settings


def test_cancel(loopback_server: ServerProcess, key: str, photo: Path) -> None:
    queued = tilework(
        loopback_server,
        "submit",
        "test_sleep",
        str(photo),
        "-p",
        "seconds=30",
        "--no-wait",
        key=key,
    )
    job_id = json.loads(queued.stdout)["id"]
    canceled = tilework(loopback_server, "jobs", "cancel", job_id, key=key)
    assert canceled.returncode == 0 and json.loads(canceled.stdout)["status"] == "canceled"
    assert tilework(loopback_server, "jobs", "watch", job_id, key=key).returncode == 1
    # Retried as a new job; asked again, the same one; the retry, open, cannot be retried.
    retried = tilework(loopback_server, "jobs", "retry", job_id, key=key)
    retry = json.loads(retried.stdout)
    assert retried.returncode == 0 and retry["retry_of"] == job_id, retried.stderr
    again = tilework(loopback_server, "jobs", "retry", job_id, key=key)
    assert json.loads(again.stdout)["id"] == retry["id"]
    refused = tilework(loopback_server, "jobs", "retry", retry["id"], key=key)
    assert refused.returncode != 0 and "job_not_retryable" in refused.stdout + refused.stderr
    assert tilework(loopback_server, "jobs", "cancel", retry["id"], key=key).returncode == 0


def test_failures_have_distinct_exit_codes(
    loopback_server: ServerProcess, key: str, photo: Path, tmp_path: Path
) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return tilework(loopback_server, *args, key=key)

    invalid = run("submit", "resize", str(photo), "-p", "width=-3")
    assert invalid.returncode == 2 and "params.width" in invalid.stderr
    not_an_image = tmp_path / "notes.txt"
    not_an_image.write_text("hello")
    refused = run("submit", "resize", str(not_an_image), "-p", "width=3")
    assert "unsupported_format" in refused.stderr
    # Port 9 on loopback (which this server may reach): nothing listens there.
    failed = run("submit", "resize", "http://127.0.0.1:9/x.png", "-p", "width=3")
    assert (
        failed.returncode == 1 and json.loads(failed.stdout)["error"]["code"] == "download_failed"
    )
    missing = run("submit", "resize", str(tmp_path / "missing.jpg"))
    assert missing.returncode == 2 and "neither a file nor" in missing.stderr
    assert run("jobs", "show", "nope").returncode == 2


def test_config_prints_effective_settings_with_secrets_masked(
    loopback_server: ServerProcess,
) -> None:
    shown = tilework(loopback_server, "config")
    values = json.loads(shown.stdout)
    assert values["home"] == str(loopback_server.home.resolve())
    assert values["secret_key"] == "********" and "test-secret" not in shown.stdout
    assert values["database_url"].startswith("sqlite:///")


def test_the_cli_creates_lists_and_revokes_keys(loopback_server: ServerProcess) -> None:
    def cli(*args: str) -> Any:
        done = tilework(loopback_server, *args)  # the admin key in the server's home
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    created = cli("keys", "create", "--tenant", "initech", "--name", "ci", "--rate-per-minute", "9")
    assert created["tenant"] == "initech" and created["rate_per_minute"] == 9
    with loopback_server.client(created["key"]) as initech:
        assert initech.jobs()["items"] == []
        listed = {key["id"]: key for key in cli("keys", "list")["items"]}
        assert listed[created["id"]]["revoked_at"] is None
        assert cli("keys", "revoke", created["id"])["revoked_at"] is not None
        with pytest.raises(ApiError) as revoked:
            initech.jobs()
    assert revoked.value.status == 401


def test_the_cli_upscales_a_file_and_reports_its_stages(
    loopback_server: ServerProcess, key: str, tmp_path: Path
) -> None:
    photo = images.natural_photo(tmp_path / "photo.png", 100, 80)
    out = tmp_path / "big.png"
    done = tilework(loopback_server, "upscale", str(photo), "--scale", "6", "-o", str(out), key=key)
    assert done.returncode == 0, done.stderr
    image = pyvips.Image.new_from_file(str(out))
    assert (image.width, image.height) == (600, 480)
    job = json.loads(done.stdout)
    assert job["progress"]["stages"] == ["prepare", "tiles: animevideov3 ×2 ×3", "stitch"]


def test_a_burst_worker_works_through_the_queue_and_exits(
    settings: Settings, tmp_path: Path
) -> None:
    with fresh_database("sqlite", tmp_path / "db") as url:
        database = Database(url)
        queue = SqlQueue(database, Registry.load(settings), queue_policy(settings))
        ids = [submit(queue, "noop", tasks=3, stages=2) for _ in range(3)]
        burst = subprocess.run(
            [sys.executable, "-m", "tilework", "worker", "--workers", "2", "--burst"],
            env=tilework_env(tmp_path / "home", database_url=url),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert burst.returncode == 0, burst.stderr
        jobs = [queue.get_job(job_id) for job_id in ids]
        database.dispose()
    assert [job.status if job else None for job in jobs] == [JobStatus.SUCCEEDED] * 3
    assert all(job is not None and job.tasks_done == 6 for job in jobs)


def test_the_cli_watches_a_job_through_its_event_stream(
    loopback_server: ServerProcess, key: str, photo: Path
) -> None:
    with Client(loopback_server.url, key) as client:
        image = client.upload(photo)["key"]
        job_id = client.submit("test_fanout", key=image, params={"tasks": 4, "seconds": 0.3})["id"]
    watched = tilework(loopback_server, "jobs", "watch", job_id, key=key)
    assert watched.returncode == 0, watched.stderr
    assert json.loads(watched.stdout)["status"] == "succeeded"


def test_the_cli_talks_to_an_https_server_that_trusts_a_ca_of_its_own(
    tls_server: ServerProcess, photo: Path, tmp_path: Path
) -> None:
    """``serve --tls-certfile --tls-keyfile`` (as the tests start it); the CLI trusts the CA
    through ``SSL_CERT_FILE``, and without it refuses the certificate."""
    assert tls_server.tls is not None and tls_server.url.startswith("https://")
    env = {
        **tilework_env(tls_server.home, url=tls_server.url, api_key=tls_server.tenant_key()),
        **tls_server.tls.trusting_env(),
    }

    def run(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tilework", *args],
            env=environment,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    made = run(
        env, "submit", "resize", str(photo), "-p", "width=20", "-p", "format=png", "-o", "out.png"
    )
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "out.png").read_bytes().startswith(b"\x89PNG")
    untrusting = {name: value for name, value in env.items() if name != "SSL_CERT_FILE"}
    refused = run(untrusting, "jobs", "list")
    assert refused.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr


def test_serve_refuses_tls_options_it_cannot_honour(tmp_path: Path) -> None:
    def serve(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tilework", "serve", *args],
            env=tilework_env(tmp_path / "home"),
            capture_output=True,
            text=True,
            timeout=120,
        )

    alone = serve("--tls-keyfile", str(tmp_path / "key.pem"))
    assert alone.returncode == 3 and "--tls-keyfile needs --tls-certfile" in alone.stderr
    missing = serve("--tls-certfile", str(tmp_path / "cert.pem"))
    assert missing.returncode == 3 and "no TLS file" in missing.stderr


def test_listings_keep_full_ids_in_a_narrow_terminal(
    loopback_server: ServerProcess, key: str, photo: Path
) -> None:
    """An id cut short with an ellipsis cannot be pasted into the next command."""
    queued = tilework(
        loopback_server,
        "submit",
        "resize",
        str(photo),
        "-p",
        "width=8",
        "--no-wait",
        "-q",
        key=key,
    )
    job_id = queued.stdout.strip()  # --quiet: the id alone
    assert queued.returncode == 0 and len(job_id) >= 20 and "{" not in job_id
    for columns in (80,):  # where ids were cut short before
        status, listed = on_a_terminal(loopback_server, "jobs", "list", key=key, columns=columns)
        assert status == 0 and job_id in listed, listed
        status, keys = on_a_terminal(loopback_server, "keys", "list", columns=columns)
        with loopback_server.client() as admin:
            ids = [item["id"] for item in admin.keys()["items"]]
        assert status == 0 and all(key_id in keys for key_id in ids), keys
    # --json on a terminal: JSON all the same.
    status, shown = on_a_terminal(loopback_server, "jobs", "show", job_id, "--json", key=key)
    assert status == 0 and json.loads(shown)["id"] == job_id


def test_refusals_are_json_on_stdout_with_their_exit_codes(
    loopback_server: ServerProcess, key: str, photo: Path, tmp_path: Path
) -> None:
    def refusal(done: subprocess.CompletedProcess[str], status: int) -> dict[str, Any]:
        assert done.returncode == status, (done.stdout, done.stderr)
        error: dict[str, Any] = json.loads(done.stdout)["error"]
        assert error["code"] in done.stderr  # and a line for whoever watches
        return error

    typo = refusal(tilework(loopback_server, "submit", "resise", str(photo), key=key), 2)
    assert typo["code"] == "validation_failed" and "did you mean 'resize'?" in typo["message"]
    missing = refusal(tilework(loopback_server, "jobs", "show", "nope", key=key), 2)
    assert missing["code"] == "not_found"
    bad_param = refusal(tilework(loopback_server, "submit", "resize", str(photo), "-p", "w"), 2)
    assert bad_param["details"]["errors"][0]["field"] == "--param"
    no_file = refusal(tilework(loopback_server, "submit", "resize", "nowhere.jpg", key=key), 2)
    assert "neither a file nor" in no_file["message"]

    # No key: where it looked, and how to pass one.
    home = tmp_path / "elsewhere"
    no_key = subprocess.run(
        [sys.executable, "-m", "tilework", "jobs", "list"],
        env=tilework_env(home, url=loopback_server.url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    error = refusal(no_key, 2)
    assert error["code"] == "no_api_key"
    assert error["details"]["tried"] == ["TILEWORK_API_KEY", str(home / "admin_key")]
    assert "TILEWORK_API_KEY=" in error["message"] and "TILEWORK_HOME" in error["message"]

    # No server: the URL tried and the settings that chose it, exit 3, no traceback.
    nobody = subprocess.run(
        [sys.executable, "-m", "tilework", "jobs", "list"],
        env=tilework_env(home, port=free_port(), api_key=key),
        capture_output=True,
        text=True,
        timeout=120,
    )
    error = refusal(nobody, 3)
    assert error["code"] == "unreachable" and "TILEWORK_PORT" in error["message"]
    assert error["details"]["url"].startswith("http://127.0.0.1:")
    assert "Traceback" not in nobody.stderr and len(nobody.stderr.splitlines()) < 8


def test_output_paths_say_what_they_mean(
    loopback_server: ServerProcess, key: str, photo: Path, tmp_path: Path
) -> None:
    palettes = ["-p", 'palettes=[["#d33"], ["#36c"]]']
    into = tmp_path / "not-yet" / "variations"
    made = tilework(
        loopback_server, "submit", "palette", str(photo), *palettes, "-o", f"{into}/", key=key
    )
    assert made.returncode == 0, made.stderr
    assert sorted(path.suffix for path in into.iterdir()) == [".webp", ".webp"]
    single = tilework(
        loopback_server,
        "submit",
        "resize",
        str(photo),
        "-p",
        "width=9",
        "-o",
        f"{tmp_path}/one/",
        key=key,
    )
    assert single.returncode == 0 and (tmp_path / "one" / "photo.resize.jpg").is_file()
    # A file name for several outputs: refused, nothing written, the outputs' URLs printed.
    target = tmp_path / "x.webp"
    refused = tilework(
        loopback_server, "submit", "palette", str(photo), *palettes, "-o", str(target), key=key
    )
    assert refused.returncode == 2 and not target.exists()
    error = json.loads(refused.stdout)["error"]
    assert error["details"]["errors"][0]["field"] == "--output"
    assert len(error["details"]["job"]["outputs"]) == 2


def test_cancelling_a_job_that_ended_says_so(
    loopback_server: ServerProcess, key: str, photo: Path
) -> None:
    done = tilework(
        loopback_server, "submit", "resize", str(photo), "-p", "width=7", "--no-wait", "-q", key=key
    )
    job_id = done.stdout.strip()
    assert tilework(loopback_server, "jobs", "watch", job_id, key=key).returncode == 0
    again = tilework(loopback_server, "jobs", "cancel", job_id, key=key)
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "succeeded"
    assert f"job {job_id} already ended (succeeded): nothing to cancel" in again.stderr
