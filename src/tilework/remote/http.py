"""One provider's HTTP: a client pinned to the fetch policy (the provider's own hosts trusted,
as the operator named them), and its answers turned into tilework's failures.

What a refusal means decides what happens next, so it is data, not a message:

- 400/422 to a submit: the input is wrong; ``validation_failed``, final, with its message;
- 401/402/403/404: a bad token, no credit with the provider, a wrong model; nothing a retry
  mends, and the operator must hear of it: ``provider_misconfigured``, final;
- 408/425/429, 5xx and transport errors: ``provider_failed``, retried, after ``Retry-After``
  when the provider gave one;
- any other 4xx: ``provider_failed``, final.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx
import structlog

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.settings import Provider, Settings
from tilework.core.tracing import current_traceparent
from tilework.net.policy import configured_policy
from tilework.net.transport import pinned_client

TIMEOUT = httpx.Timeout(30.0, connect=10.0)
TRANSIENT = frozenset({408, 425, 429})
MISCONFIGURED = frozenset({401, 402, 403, 404})
INVALID_INPUT = frozenset({400, 422})
log = structlog.get_logger("tilework.remote")


class ProviderHttp:
    def __init__(self, name: str, provider: Provider, settings: Settings, scheme: str) -> None:
        """``scheme``: how the token is sent (``Bearer`` for Replicate, ``Key`` for fal).
        Redirects are not followed."""
        self.name = name
        self.provider = provider
        headers = {"User-Agent": "tilework"}
        if provider.token is not None:
            headers["Authorization"] = f"{scheme} {provider.token.get_secret_value()}"
        self._http = pinned_client(
            configured_policy(settings, *provider.hosts),
            base_url=str(provider.base_url).rstrip("/"),
            headers=headers,
            timeout=TIMEOUT,
        )

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, url: str, *, submitting: bool = False, **kwargs: Any) -> Any:
        """The JSON answer to a request (``url``: a path under the base URL, or a URL the
        provider gave); a refusal or no answer raises the failure it stands for."""
        response = self.send(method, url, submitting=submitting, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise self.failed(f"answered {method} {url} with no JSON", retryable=True) from exc

    def send(
        self, method: str, url: str, *, submitting: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """The answer, when it is not a refusal (below 400)."""
        response = self.answer(method, url, **kwargs)
        if response.status_code >= 400:
            raise self.refusal(response, method, url, submitting)
        return response

    def answer(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Whatever the provider answered, refusals included; no answer raises."""
        traceparent = current_traceparent.get()
        if traceparent is not None:  # the job's trace goes on to the provider
            kwargs["headers"] = {**(kwargs.get("headers") or {}), "traceparent": traceparent}
        try:
            return self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise self.failed(f"could not be reached: {exc}", retryable=True) from exc

    def refusal(
        self, response: httpx.Response, method: str, url: str, submitting: bool
    ) -> TileworkError:
        status = response.status_code
        said = provider_message(response)
        details: dict[str, Any] = {"provider": self.name, "status": status}
        if submitting and status in INVALID_INPUT:
            return TileworkError(
                ErrorCode.VALIDATION_FAILED,
                f"provider {self.name} refused the input: {said}",
                details,
                retryable=False,
            )
        if status in MISCONFIGURED:
            # The operator's to mend (a token, a model name, credit): said in the log too.
            log.error("provider_misconfigured", provider=self.name, status=status, said=said)
            return TileworkError(
                ErrorCode.PROVIDER_MISCONFIGURED,
                f"provider {self.name} answered HTTP {status} to {method} {url}: {said}",
                details,
                retryable=False,
            )
        transient = status >= 500 or status in TRANSIENT
        wait = retry_after(response)
        if wait is not None:
            details["retry_after_seconds"] = wait
        return self.failed(
            f"answered HTTP {status} to {method} {url}: {said}",
            retryable=transient,
            details=details,
        )

    def failed(
        self, message: str, *, retryable: bool, details: dict[str, Any] | None = None
    ) -> TileworkError:
        return TileworkError(
            ErrorCode.PROVIDER_FAILED,
            f"provider {self.name} {message}",
            details or {"provider": self.name},
            retryable=retryable,
        )


def provider_message(response: httpx.Response) -> str:
    """What the provider said, from the fields its error bodies use, else the text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        for field in ("detail", "message", "error", "title"):
            said = body.get(field)
            if isinstance(said, str) and said:
                return said[:300]
            if isinstance(said, list) and said:  # fal's and FastAPI's field errors
                return "; ".join(_field_error(item) for item in said[:5])[:300]
    return response.text[:300]


def _field_error(item: Any) -> str:
    """``{loc, msg}`` as ``width: must be ≥ 1`` (the ``body`` prefix dropped)."""
    if not isinstance(item, dict):
        return str(item)
    loc = [str(part) for part in item.get("loc") or [] if part != "body"]
    message = str(item.get("msg", item))
    return f"{'.'.join(loc)}: {message}" if loc else message


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (given as seconds or as an HTTP date), or None."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
