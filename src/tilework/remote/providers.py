"""A client for one Replicate-compatible provider: create a prediction, read it, learn the
secret its webhooks are signed with.

Failures are ``provider_failed``: retryable when the provider (or the way to it) may recover,
as for 5xx, 429 and transport errors; not when it refused the request itself.
"""

from __future__ import annotations

from typing import Any

import httpx

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.settings import Provider, Settings
from tilework.net.policy import configured_policy
from tilework.net.transport import pinned_client

TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_TRANSIENT = frozenset({408, 425, 429})


class ProviderClient:
    def __init__(self, name: str, provider: Provider, settings: Settings) -> None:
        """The fetch policy is ``settings``'; the provider's own host is trusted too, as the
        operator configured it. Redirects are not followed."""
        self.name = name
        self.provider = provider
        headers = {"User-Agent": "tilework"}
        if provider.token is not None:
            headers["Authorization"] = f"Bearer {provider.token.get_secret_value()}"
        policy = configured_policy(settings, provider.host)
        self._http = pinned_client(
            policy, base_url=str(provider.base_url).rstrip("/"), headers=headers, timeout=TIMEOUT
        )

    def __enter__(self) -> ProviderClient:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def create(self, inputs: dict[str, Any], webhook: str) -> dict[str, Any]:
        """Start a prediction of the provider's model; it calls ``webhook`` when it ends."""
        body = {"input": inputs, "webhook": webhook, "webhook_events_filter": ["completed"]}
        return self._call("POST", f"/v1/models/{self.provider.model}/predictions", json=body)

    def get(self, prediction_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/predictions/{prediction_id}")

    def webhook_secret(self) -> str:
        """The configured secret, else the one the provider names for its default webhook."""
        if self.provider.webhook_secret is not None:
            return self.provider.webhook_secret.get_secret_value()
        key = self._call("GET", "/v1/webhooks/default/secret").get("key")
        if not isinstance(key, str):
            raise self._failed("answered no webhook secret", retryable=True)
        return key

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self._failed(f"could not be reached: {exc}", retryable=True) from exc
        if response.status_code >= 400:
            transient = response.status_code >= 500 or response.status_code in _TRANSIENT
            raise self._failed(
                f"answered HTTP {response.status_code} to {method} {path}: {response.text[:300]}",
                retryable=transient,
                status=response.status_code,
            )
        try:
            body: dict[str, Any] = response.json()
        except ValueError as exc:
            raise self._failed(f"answered {method} {path} with no JSON", retryable=True) from exc
        return body

    def _failed(self, message: str, *, retryable: bool, status: int | None = None) -> TileworkError:
        details: dict[str, Any] = {"provider": self.name}
        if status is not None:
            details["status"] = status
        return TileworkError(
            ErrorCode.PROVIDER_FAILED,
            f"provider {self.name} {message}",
            details,
            retryable=retryable,
        )
