"""An httpx client whose every connection goes to an address the policy checked.

httpx resolves names inside the socket connect, after any check we could make beforehand, so a
name could pass the check and then connect somewhere else. Here the network backend itself
resolves, checks every address and connects to one of those same addresses; TLS still verifies
the certificate against the URL's host name. Proxies from the environment are ignored: a proxy
would resolve the name itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from tilework.net.policy import FetchPolicy


class PinnedBackend(httpcore.SyncBackend):
    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        failure: Exception | None = None
        for address in self.policy.addresses(host, port):  # raises ssrf_blocked
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # addresses() returns at least one
        raise failure


def pinned_client(policy: FetchPolicy, **options: Any) -> httpx.Client:
    """An ``httpx.Client`` (``options`` as for it) that can reach only what ``policy`` allows."""
    transport = httpx.HTTPTransport(trust_env=False)
    # httpx takes no network backend of its own; its transport is a thin shell around this pool.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        network_backend=PinnedBackend(policy),
    )
    return httpx.Client(transport=transport, trust_env=False, **options)
