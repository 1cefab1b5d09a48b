"""The API in this process: tilework's app driven through its ASGI interface
(``tests/support/asgi.py``: requests and live streams, no socket, no uvicorn), on a real SQLite
database cloned from the session's template and a local object directory.

Its lifespan runs, so the submit thread is the server's own; beside it runs the webhook sender a
worker host would run (``wiring.build_deliverer``). No worker runs unless the test asks for one:
``work()`` runs the queue dry in this thread, ``working()`` keeps a worker on a thread while a
request waits (``tests/support/workers.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx

from tests.support.asgi import AppTransport
from tests.support.workers import work_until_idle, working
from tilework.api.app import create_app
from tilework.client import Client
from tilework.core.settings import Settings
from tilework.service.services import Services
from tilework.wiring import build_deliverer, build_services, ensure_admin_key
from tilework.worker.executor import TaskExecutor
from tilework.worker.loop import Worker

BASE_URL = "http://testserver"


class InProcessApi:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings.model_copy(update={"public_url": BASE_URL})
        self.services: Services = build_services(self.settings)
        key_file = ensure_admin_key(self.settings, self.services.keys)
        assert key_file is not None
        self.admin_key = key_file.read_text().strip()
        self.app = create_app(self.services)
        self._transport = AppTransport(self.app)  # its lifespan runs
        self.deliverer = build_deliverer(self.settings, self.services.database)
        self.deliverer.start()
        self.http = httpx.Client(
            transport=self.transport,
            base_url=BASE_URL,
            headers={"Authorization": f"Bearer {self.admin_key}"},
            timeout=60,
        )

    @property
    def transport(self) -> httpx.BaseTransport:
        """The app as an httpx transport, for clients of our own (the SDK)."""
        return _Shared(self._transport)

    def anonymous(self) -> httpx.Client:
        """Requests to the app with no API key (the caller closes it)."""
        return httpx.Client(transport=self.transport, base_url=BASE_URL)

    def client(self, key: str | None = None) -> Client:
        """The SDK on this app, with ``key`` or else the admin key."""
        return Client(BASE_URL, key or self.admin_key, transport=self.transport)

    def tenant_key(self, **limits: Any) -> str:
        """The secret of a new tenant's key, made by the admin key."""
        with self.client() as admin:
            made = admin.create_key(f"t-{uuid.uuid4().hex[:10]}", "test", **limits)
        return str(made["key"])

    def tenant(self, **limits: Any) -> Client:
        """The SDK with the key of a new tenant, made by the admin key."""
        return self.client(self.tenant_key(**limits))

    def work(self, executor: TaskExecutor | None = None) -> None:
        """Run every task there is to run until nothing is running or due: in this thread, or
        through ``executor`` (``Executor(settings)`` runs them in a real task process)."""
        work_until_idle(self.settings, self.services.queue, executor)

    def working(self, executor: TaskExecutor | None = None) -> AbstractContextManager[Worker]:
        """A worker on a thread for the duration of a ``with`` block."""
        return working(self.settings, self.services.queue, executor)

    def close(self) -> None:
        self.http.close()
        self._transport.close()
        self.deliverer.stop()
        self.services.database.dispose()


class _Shared(httpx.BaseTransport):
    """The app's transport lent to a client: closing the client must not stop the app."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(request)


# The ``make_api`` fixture: an app on the test's settings with these overrides.
MakeApi = Callable[..., InProcessApi]


def error_of(response: httpx.Response) -> tuple[int, str]:
    """An error answer's status and stable code."""
    return response.status_code, response.json()["error"]["code"]
