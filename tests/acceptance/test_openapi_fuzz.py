"""The OpenAPI document against the API itself: schemathesis (pinned, a fixed seed, a bounded
number of examples per operation) fuzzes every operation of a live server, whose workers are
off, with a tenant's key, its rate limit raised and key revocation left out (it would end the
run's own key). Any finding fails: a server error, a status the document does not list, a body
or content type that does not match what it declares."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess, unmeasured

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
SEED = 1
EXAMPLES = 5  # each operation's fuzzing phase; the coverage phase is not bounded by it


@pytest.fixture
def idle_server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "home", workers=0, rate_limit_per_minute=1_000_000)
    server.start()
    try:
        yield server
    finally:
        assert server.stop() == 0, server.log()


# The coverage phase walks every keyword of every schema, and POST /v1/jobs's body is a union
# of every operation's params: that one operation's coverage costs about 75 s of the suite's
# budget. In the suite it gets the examples and fuzzing phases (as every operation does); its
# coverage phase runs with TILEWORK_FUZZ_ALL=1 (by hand, before a release), as the rest's does
# in every run.
FULL = os.environ.get("TILEWORK_FUZZ_ALL") == "1"
COSTLY = "^/v1/jobs$"


@pytest.mark.timeout(500)
def test_schemathesis_finds_nothing(idle_server: ServerProcess, tmp_path: Path) -> None:
    key = idle_server.tenant_key()
    if FULL:
        fuzz(idle_server, key, tmp_path, "examples,coverage,fuzzing")
    else:
        fuzz(idle_server, key, tmp_path, "examples,coverage,fuzzing", exclude=COSTLY)
        fuzz(idle_server, key, tmp_path, "examples,fuzzing", include=COSTLY)


def fuzz(
    server: ServerProcess,
    key: str,
    folder: Path,
    phases: str,
    include: str = ".",
    exclude: str = "",
) -> None:
    """One schemathesis run over the operations whose paths match ``include`` and not
    ``exclude``; any finding fails the test. It runs in ``folder``, where it keeps its cache of
    past crashes: a cache in the checkout would replay old findings and change with every run."""
    schemathesis = Path(sys.executable).parent / "schemathesis"
    excluded = "|".join(filter(None, ["/revoke$", exclude]))
    ran = subprocess.run(
        [
            str(schemathesis),
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            ",".join(CHECKS),
            "--header",
            f"Authorization: Bearer {key}",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            str(SEED),
            "--include-path-regex",
            include,
            "--exclude-path-regex",
            excluded,
            "--phases",
            phases,
            "--workers",
            "1",
            "--continue-on-failure",
            "--no-color",
        ],
        env=unmeasured(dict(os.environ)),  # schemathesis runs none of tilework's code
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = ran.stdout + ran.stderr
    assert ran.returncode == 0, report
    assert " passed" in report and "failures" not in report.split("SUMMARY")[-1].lower(), report
