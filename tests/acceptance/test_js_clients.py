"""The official JavaScript client (``replicate`` on npm, pinned in ``tests/js/package-lock.json``
and installed by ``make test`` with ``npm ci``), unchanged, driven by ``node --test`` against a
real server. The checks are in ``tests/js/*.test.mjs``; this runs them and shows their report."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import images
from tests.support.server import SHARED_DEPLOYMENT, ServerProcess

JS_TESTS = Path(__file__).resolve().parents[1] / "js"


def node_tests(script: str, env: dict[str, str], count: int) -> None:
    """Run ``script``'s tests, all ``count`` of them, and none failing."""
    node = shutil.which("node")
    assert node, "Node.js (20 or later) runs the JavaScript clients' tests; install it"
    if not (JS_TESTS / "node_modules").is_dir():
        pytest.fail("the JavaScript clients are not installed: run make test (npm ci)")
    ran = subprocess.run(
        [node, "--test", "--test-reporter=tap", script],
        cwd=JS_TESTS,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    # The TAP summary: a script that ran fewer tests (an import that went
    # wrong, a test left out) is caught too.
    assert f"# pass {count}\n" in ran.stdout, ran.stdout


def test_the_replicate_npm_client(loopback_server: ServerProcess, tmp_path: Path) -> None:
    """Files (Buffer, Blob), run, create/wait/get/cancel, paginate, a deployment, Cancel-After,
    Idempotency-Key, a webhook checked with the client's own validator, errors."""
    photo = images.photo(tmp_path / "photo.jpg", 64, 48)
    node_tests(
        "replicate.test.mjs",
        {
            "TILEWORK_URL": loopback_server.url,
            "TILEWORK_KEY": loopback_server.tenant_key(),
            "PHOTO": str(photo),
            "DEPLOYMENT": SHARED_DEPLOYMENT,
        },
        count=10,
    )
