"""Clients of the two kinds of provider, behind one interface: submit a model's request with a
callback URL, read where it stands, cancel it.

A request is remembered as ``RemoteRequest``, plain JSON a deferred task keeps in its payload:
its id and the URLs the provider said to use for it (fal asks callers never to build them).
Reading gives a ``RemoteState``: still running, or ended with the model's output JSON or the
provider's error, and what the provider says was used (Replicate's ``metrics.predict_time``,
fal's ``x-fal-billable-units``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlencode

from tilework.core.errors import TileworkError
from tilework.core.settings import Provider, ProviderKind, Settings
from tilework.remote.http import ProviderHttp, log, provider_message

# How many pages of predictions a search for a lost request reads (100 a page at Replicate).
FIND_PAGES = 10
# Replicate's states that are not an end.
REPLICATE_RUNNING = frozenset({"starting", "processing"})


class RemoteStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


@dataclass(frozen=True)
class RemoteRequest:
    id: str
    urls: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "urls": self.urls}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RemoteRequest:
        return cls(str(data["id"]), dict(data.get("urls") or {}))


@dataclass(frozen=True)
class RemoteState:
    status: RemoteStatus
    output: Any = None
    error: str | None = None
    predict_seconds: float | None = None  # Replicate's metrics.predict_time
    billable_units: float | None = None  # fal's x-fal-billable-units


class ProviderClient:
    """One provider of either kind; ``provider_client`` picks the class for its kind."""

    scheme = "Bearer"  # how the token is sent

    def __init__(self, name: str, provider: Provider, settings: Settings) -> None:
        self.name = name
        self.provider = provider
        self.http = ProviderHttp(name, provider, settings, self.scheme)

    def submit(self, model: str, inputs: dict[str, Any], webhook: str | None) -> RemoteRequest:
        """Start ``model`` on ``inputs``; the provider calls ``webhook`` when it ends."""
        raise NotImplementedError

    def read(self, request: RemoteRequest) -> RemoteState:
        raise NotImplementedError

    def cancel(self, request: RemoteRequest) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ProviderClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class ReplicateClient(ProviderClient):
    """Replicate's HTTP API: predictions of a model (``owner/name``) or of one of its
    versions (``owner/name:version``)."""

    def submit(self, model: str, inputs: dict[str, Any], webhook: str | None) -> RemoteRequest:
        body: dict[str, Any] = {"input": inputs}
        if webhook is not None:
            body |= {"webhook": webhook, "webhook_events_filter": ["completed"]}
        name, _, version = model.partition(":")
        if version:
            path, body = "/v1/predictions", {**body, "version": version}
        else:
            path = f"/v1/models/{quote(name, safe='/')}/predictions"
        prediction = self.http.call("POST", path, json=body, submitting=True)
        return RemoteRequest(str(prediction["id"]))

    def read(self, request: RemoteRequest) -> RemoteState:
        return replicate_state(self.http.call("GET", f"/v1/predictions/{quote(request.id)}"))

    def cancel(self, request: RemoteRequest) -> None:
        self.http.call("POST", f"/v1/predictions/{quote(request.id)}/cancel")

    def find(self, task_callback: str, created_after: float) -> RemoteRequest | None:
        """A prediction made since ``created_after`` whose webhook is ``task_callback`` for
        any attempt: the request a host submitted and died before recording."""
        since = datetime.fromtimestamp(created_after, UTC).isoformat()
        page: str | None = f"/v1/predictions?{urlencode({'created_after': since})}"
        for _ in range(FIND_PAGES):
            if page is None:
                return None
            listed = self.http.call("GET", page)
            for prediction in listed.get("results") or []:
                if str(prediction.get("webhook") or "").partition("?")[0] == task_callback:
                    return RemoteRequest(str(prediction["id"]))
            page = listed.get("next")
        return None

    def webhook_secret(self) -> str:
        """The configured secret, else the one the provider names for its default webhook."""
        if self.provider.webhook_secret is not None:
            return self.provider.webhook_secret.get_secret_value()
        key = self.http.call("GET", "/v1/webhooks/default/secret").get("key")
        if not isinstance(key, str):
            raise self.http.failed("answered no webhook secret", retryable=True)
        return key


def replicate_state(prediction: dict[str, Any]) -> RemoteState:
    """A prediction as Replicate's API shows it (also its webhook's body)."""
    status = prediction.get("status")
    if status in REPLICATE_RUNNING:
        return RemoteState(RemoteStatus.RUNNING)
    metrics = prediction.get("metrics") or {}
    seconds = metrics.get("predict_time")
    spent = float(seconds) if isinstance(seconds, int | float) else None
    if status == "succeeded":
        return RemoteState(RemoteStatus.SUCCEEDED, prediction.get("output"), None, spent)
    ended = RemoteStatus.CANCELED if status in ("canceled", "aborted") else RemoteStatus.FAILED
    error = prediction.get("error") or f"the prediction ended {status}"
    return RemoteState(ended, None, str(error), spent)


class FalClient(ProviderClient):
    """fal's queue API: ``owner/app[/path]`` models, the request's own status, result and
    cancel URLs as fal answered them."""

    scheme = "Key"

    def submit(self, model: str, inputs: dict[str, Any], webhook: str | None) -> RemoteRequest:
        params = {"fal_webhook": webhook} if webhook is not None else {}
        answer = self.http.call(
            "POST", f"/{quote(model, safe='/')}", json=inputs, params=params, submitting=True
        )
        urls = {
            name: answer[f"{name}_url"]
            for name in ("status", "response", "cancel")
            if isinstance(answer.get(f"{name}_url"), str)
        }
        return RemoteRequest(str(answer["request_id"]), urls)

    def read(self, request: RemoteRequest) -> RemoteState:
        status = self.http.call("GET", request.urls["status"])
        if status.get("status") != "COMPLETED":
            return RemoteState(RemoteStatus.RUNNING)
        # fal has no failed state: a failure is COMPLETED, and its error is the result's answer.
        response = self.http.answer("GET", request.urls["response"])
        units = _number(response.headers.get("x-fal-billable-units"))
        if response.status_code == 200:
            return RemoteState(RemoteStatus.SUCCEEDED, response.json(), None, None, units)
        error = status.get("error") or provider_message(response) or f"HTTP {response.status_code}"
        return RemoteState(RemoteStatus.FAILED, None, str(error), None, units)

    def cancel(self, request: RemoteRequest) -> None:
        self.http.send("PUT", request.urls["cancel"])


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def callback_url(base_url: str, provider: str, task_id: int, attempt: int | None = None) -> str:
    """Where the provider reports a task's request ended (``api/v1/providers``). The attempt
    is in the query: the path alone names the task, which is what finding an orphan matches."""
    url = f"{base_url}/v1/providers/{provider}/callbacks/{task_id}"
    return url if attempt is None else f"{url}?attempt={attempt}"


def cancel_recorded(settings: Settings, remote: dict[str, Any], job_id: str) -> None:
    """Cancel the request a job's ``remote`` names, best effort: the job ends either way, and
    a provider that refuses (the request already ended) or is away is only logged."""
    configured = settings.providers.get(str(remote.get("provider")))
    if configured is None or "request" not in remote:
        return
    try:
        with provider_client(remote["provider"], configured, settings) as client:
            client.cancel(RemoteRequest.from_json(remote["request"]))
    except TileworkError as error:
        log.warning("remote_cancel_failed", job_id=job_id, error=error.message)


def provider_client(name: str, provider: Provider, settings: Settings) -> ProviderClient:
    """The client for ``provider``'s kind."""
    if provider.kind is ProviderKind.FAL:
        return FalClient(name, provider, settings)
    return ReplicateClient(name, provider, settings)
