"""The OpenAPI document against the API itself: schemathesis (pinned, a fixed seed, a bounded
number of examples per operation) fuzzes every operation of a live server, whose workers are
off, with a tenant's key, its rate limit raised and key revocation left out (it would end the
run's own key). Any finding fails: a server error, a status the document does not list, a body
or content type that does not match what it declares."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
SEED = 1
EXAMPLES = 10


@pytest.fixture
def idle_server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "home", workers=0, rate_limit_per_minute=1_000_000)
    server.start()
    try:
        yield server
    finally:
        assert server.stop() == 0, server.log()


# About 100 s here (most of it schemathesis's coverage phase), more under coverage measurement.
@pytest.mark.timeout(500)
def test_schemathesis_finds_nothing(idle_server: ServerProcess) -> None:
    schemathesis = Path(sys.executable).parent / "schemathesis"
    ran = subprocess.run(
        [
            str(schemathesis),
            "run",
            f"{idle_server.url}/openapi.json",
            "--checks",
            ",".join(CHECKS),
            "--header",
            f"Authorization: Bearer {idle_server.tenant_key()}",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            str(SEED),
            "--exclude-path-regex",
            "/revoke$",
            "--phases",
            "examples,coverage,fuzzing",
            "--workers",
            "1",
            "--continue-on-failure",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = ran.stdout + ran.stderr
    assert ran.returncode == 0, report
    assert " passed" in report and "failures" not in report.split("SUMMARY")[-1].lower(), report
