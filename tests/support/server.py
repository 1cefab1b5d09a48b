"""The real server (``tilework serve``) and worker hosts (``tilework worker``) as subprocesses
on free 127.0.0.1 ports, for the acceptance tier."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from tests.support import images
from tests.support.databases import fresh_database
from tests.support.loopback import LOOPBACK
from tests.support.testops import TEST_PLUGINS
from tests.support.tls import TlsFiles, certificates
from tilework.client import Client

REPO = Path(__file__).resolve().parents[2]
START_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# What coverage's subprocess patch puts in the environment so that a child measures itself.
COVERAGE_ENV = "COVERAGE_PROCESS_CONFIG"


def unmeasured(env: dict[str, str]) -> dict[str, str]:
    """``env`` for a child coverage leaves alone: a process that runs no tilework code of its
    own (a fuzzer), or paths other tests measure already, where tracing only costs time."""
    return {name: value for name, value in env.items() if name != COVERAGE_ENV}


def tilework_env(home: Path, **settings: object) -> dict[str, str]:
    """The environment of a tilework process: only what the test sets, plus the test plugins.
    Lists and mappings are written as JSON, as the settings read them."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("TILEWORK_")}
    env.update(
        # The checkout's tests (their plugins) and its sources, ahead of any installed copy.
        PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "src")]),
        PYTHONUNBUFFERED="1",
        TILEWORK_HOME=str(home),
        TILEWORK_PLUGINS=json.dumps(TEST_PLUGINS),
        TILEWORK_SECRET_KEY="test-secret",
        # Tests and benches make requests and jobs faster than any client should; the tests
        # of those limits give their keys their own.
        TILEWORK_RATE_LIMIT_PER_MINUTE="10000000",
        TILEWORK_MAX_QUEUED_JOBS_PER_KEY="10000000",
    )
    env.update(
        {
            f"TILEWORK_{name.upper()}": json.dumps(value)
            if isinstance(value, list | dict)
            else str(value)
            for name, value in settings.items()
        }
    )
    return env


class WorkerProcess:
    """``tilework worker`` as a subprocess: a worker host apart from the server's."""

    def __init__(self, env: dict[str, str], log_path: Path, workers: int = 1) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tilework", "worker", "--workers", str(workers)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_started(self, timeout: float = START_SECONDS) -> WorkerProcess:
        """Wait until this host's first worker loop runs: on a loaded machine a new worker host
        can take seconds to import, and a test that needs it to claim work must not race that."""
        mark = f":{self.process.pid}:0'"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker host exited at start:\n{self.log_path.read_text()}")
            lines = self.log_path.read_text(errors="replace").splitlines()
            if any("event='worker_started'" in line and mark in line for line in lines):
                return self
            time.sleep(0.05)
        raise RuntimeError("worker host did not start")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


class ServerProcess:
    def __init__(self, home: Path, tls: TlsFiles | None = None, **settings: object) -> None:
        """``tls``: serve HTTPS with its certificate; this side trusts its CA."""
        self.home = home
        self.port = free_port()
        self.tls = tls
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.env = tilework_env(home, port=self.port, **settings)
        # How this side checks the server's certificate: the CA of its TLS files, or none.
        self.verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(tls.ca)) if tls else True
        )
        self.log_path = home.parent / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._http: httpx.Client | None = None

    def start(self) -> ServerProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # TLS as the README says to ask for it: the serve command's options.
            tls = (
                ["--tls-certfile", str(self.tls.cert), "--tls-keyfile", str(self.tls.key)]
                if self.tls
                else []
            )
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tilework", "serve", *tls],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited at start:\n{self.log()}")
            try:
                ready = httpx.get(f"{self.url}/readyz", timeout=1, verify=self.verify)
                if ready.status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{self.log()}")

    def worker(self, workers: int = 1) -> WorkerProcess:
        """Start one more worker host on this server's database and storage."""
        return WorkerProcess(self.env, self.log_path, workers)

    @property
    def api_key(self) -> str:
        """The admin key the server wrote into its home at its first start."""
        return (self.home / "admin_key").read_text().strip()

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    @property
    def http(self) -> httpx.Client:
        """An HTTP client that sends the admin key (closed with the server)."""
        if self._http is None:
            self._http = httpx.Client(
                base_url=self.url, headers=self.auth, timeout=30, verify=self.verify
            )
        return self._http

    def client(self, key: str | None = None) -> Client:
        """The SDK on this server, with ``key`` or else the admin key."""
        return Client(self.url, key or self.api_key, verify=self.verify)

    def tenant_key(self, **limits: object) -> str:
        """The secret of a new key for a tenant of its own, so that tests sharing this server
        never see each other's jobs."""
        with self.client() as admin:
            made = admin.create_key(f"t-{uuid.uuid4().hex[:10]}", "test", **limits)
        return str(made["key"])

    def tenant(self, **limits: object) -> Client:
        """The SDK with the key of a new tenant (``tenant_key``)."""
        return self.client(self.tenant_key(**limits))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60) -> int:
        assert self.process is not None
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@contextmanager
def running_server(
    folder: Path, backend: str, tls: TlsFiles | None = None, **settings: object
) -> Iterator[ServerProcess]:
    """A server with two workers on a fresh ``backend`` database, stopped cleanly after."""
    with fresh_database(backend, folder / "db") as url:
        running = ServerProcess(
            folder / "home", tls, workers=2, database_url=url, **settings
        ).start()
        yield running
        assert running.stop() == 0, running.log()


@contextmanager
def providing_server(folder: Path) -> Iterator[ServerProcess]:
    """A server that is another's provider: it fetches inputs from, and calls back, servers
    on loopback. Stopped cleanly after."""
    running = ServerProcess(folder / "home", workers=2, fetch_allow_hosts=LOOPBACK).start()
    yield running
    assert running.stop() == 0, running.log()


# The deployment every shared server has: 16 pixels wide, as PNG.
SHARED_DEPLOYMENT = "tilework-tests/thumbs"
THUMBNAILS = {"operation": "resize", "params": {"width": 16, "format": "png"}}


class SharedServers:
    """Servers the acceptance tests share for the session: one per backend and fetch policy,
    started when first asked for, stopped (cleanly, or the session fails) at its end. Tests on
    them keep apart by tenant (``ServerProcess.tenant``)."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._running: dict[tuple[str, bool, bool], ServerProcess] = {}
        self._stack = ExitStack()

    def get(self, backend: str, loopback: bool = False, tls: bool = False) -> ServerProcess:
        """The shared server on ``backend``; with ``loopback``, one that may fetch from and
        deliver to loopback (``tests/support/loopback.py``); with ``tls``, one that serves
        HTTPS with a certificate from a CA of the test's (``tests/support/tls.py``)."""
        key = (backend, loopback, tls)
        if key not in self._running:
            name = f"{backend}-{'loopback' if loopback else 'default'}{'-tls' if tls else ''}"
            folder = self._folder / name
            settings: dict[str, object] = {
                "lease_seconds": 2,
                "max_upload_bytes": 5_000_000,
                # Retries soon after a failure: a test of a failing job waits for all of them.
                "retry_base_seconds": 0.05,
                "retry_max_seconds": 0.2,
                "deployments": {SHARED_DEPLOYMENT: THUMBNAILS},
            }
            if loopback:
                settings["fetch_allow_hosts"] = LOOPBACK
            files = certificates(folder / "tls") if tls else None
            self._running[key] = self._stack.enter_context(
                running_server(folder, backend, files, **settings)
            )
        return self._running[key]

    def close(self) -> None:
        self._stack.close()


def uploaded_photo(server: ServerProcess, folder: Path) -> str:
    """The key of a small photo uploaded to ``server``."""
    photo = images.photo(folder / "photo.jpg", 64, 48)
    with server.client() as client:
        return str(client.upload(photo)["key"])
