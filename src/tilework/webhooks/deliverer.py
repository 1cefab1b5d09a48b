"""The sender: a thread that claims due webhook deliveries, posts them signed and records how
each attempt went.

Only a 2xx answer delivers. Redirects are not followed (a receiver that moved must be
re-registered, not chased). A target that resolves to a blocked address (``net.policy``) fails
at once, without retries: it is refused, not away. 410 Gone disables the endpoint; 429 is
retried when its ``Retry-After`` says; anything else is retried on the schedule until the
attempts run out. A delivery's outcome never touches its job.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx
import structlog

from tilework.core.errors import TileworkError
from tilework.core.ids import holder_id
from tilework.core.settings import Settings
from tilework.net.policy import configured_policy
from tilework.net.transport import pinned_client
from tilework.store.deliveries import Deliveries, Delivery, DeliveryStatus
from tilework.store.events import EventLog, JobEvent

log = structlog.get_logger("tilework.webhooks")

POLL_SECONDS = 0.1
BATCH = 16
SENDERS = 8  # attempts in flight at once: one slow receiver must not hold up the others
LEASE_SECONDS = 120.0  # past the longest attempt; a sender gone longer has died
JITTER = 0.2
ERROR_BODY_CHARS = 200
# The longest a receiver's Retry-After may hold a message back: the standard's longest wait.
MAX_RETRY_AFTER_SECONDS = 36000.0


@dataclass(frozen=True)
class Message:
    """A webhook as it is posted: the body and the headers that sign it."""

    body: bytes
    headers: dict[str, str]


# Turns a delivery's event into the signed message its format calls for.
Render = Callable[[Delivery, JobEvent], Message]


@dataclass(frozen=True)
class Answer:
    """What one attempt got: an HTTP status (and Retry-After), or a transport error."""

    status: int | None = None
    retry_after: str | None = None
    error: str | None = None
    refused: bool = False  # by the fetch policy: no retry can change that


class Deliverer:
    def __init__(
        self,
        settings: Settings,
        deliveries: Deliveries,
        events: EventLog,
        render: Render,
    ) -> None:
        self.settings = settings
        self.deliveries = deliveries
        self.events = events
        self.render = render
        # The lease holder's name, as a worker's: which host and process holds a delivery.
        self.sender = holder_id("webhooks")
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="webhook-deliverer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(self.settings.webhook_timeout + 5)

    def _run(self) -> None:
        timeout = httpx.Timeout(self.settings.webhook_timeout)
        policy = configured_policy(self.settings)
        with (
            pinned_client(policy, timeout=timeout, follow_redirects=False) as http,
            ThreadPoolExecutor(SENDERS, thread_name_prefix="webhook-send") as senders,
        ):
            while True:
                try:
                    batch = self.deliveries.claim(self.sender, BATCH, LEASE_SECONDS)
                except Exception as exc:  # the database may be away; the rows wait for us
                    log.warning("webhook_claim_failed", error=str(exc)[:300])
                    batch = []
                if not batch:
                    # Stopping waits for nothing more than what is due now: the last jobs'
                    # webhooks go out before a burst worker exits.
                    if self._stopping.is_set():
                        return
                    self._stopping.wait(POLL_SECONDS)
                    continue
                list(senders.map(lambda delivery: self._attempt(http, delivery), batch))

    def _attempt(self, http: httpx.Client, delivery: Delivery) -> None:
        try:
            event = self.events.get(delivery.event_id)
            if event is None:  # the job and its events were deleted
                return
            message = self.render(delivery, event)
            started = time.time()
            answer = _post(http, delivery, message)
            self._settle(delivery, answer, started)
        except Exception:  # a sender must outlive any one delivery
            log.exception("webhook_attempt_crashed", delivery_id=delivery.id)

    def _settle(self, delivery: Delivery, answer: Answer, started: float) -> None:
        attempt = delivery.attempts + 1
        status, next_at = outcome(answer, attempt, self.settings.webhook_retry_seconds)
        entry = {
            "attempt": attempt,
            "at": started,
            "status_code": answer.status,
            "error": answer.error,
            "duration_seconds": round(time.time() - started, 4),
            "outcome": status.value,
            "next_attempt_at": next_at,
        }
        if not self.deliveries.settle(delivery.id, self.sender, entry, status, next_at):
            # Held too long (past LEASE_SECONDS) or deleted: whoever holds it now records it.
            log.warning("webhook_lease_lost", delivery_id=delivery.id)
            return
        if status is DeliveryStatus.DISABLED:
            self.deliveries.disable_endpoint(delivery.url, "answered 410 Gone")
        log.info(
            "webhook_attempt",
            delivery_id=delivery.id,
            job_id=delivery.job_id,
            event_type=delivery.event,
            attempt=attempt,
            status_code=answer.status,
            error=answer.error,
            outcome=status.value,
        )


def _post(http: httpx.Client, delivery: Delivery, message: Message) -> Answer:
    headers = {
        "content-type": "application/json",
        "user-agent": "tilework-webhooks",
        **message.headers,
    }
    try:
        response = http.post(delivery.url, content=message.body, headers=headers)
    except httpx.HTTPError as exc:
        return Answer(error=f"{type(exc).__name__}: {exc}"[:ERROR_BODY_CHARS])
    except TileworkError as error:  # the policy refused the address
        return Answer(error=f"{error.code.value}: {error.message}"[:ERROR_BODY_CHARS], refused=True)
    return Answer(response.status_code, response.headers.get("retry-after"))


def outcome(
    answer: Answer, attempt: int, schedule: list[float], now: float | None = None
) -> tuple[DeliveryStatus, float | None]:
    """After attempt number ``attempt``: delivered, disabled, failed, or pending until when."""
    now = time.time() if now is None else now
    if answer.status is not None and 200 <= answer.status < 300:
        return DeliveryStatus.DELIVERED, None
    if answer.status == 410:
        return DeliveryStatus.DISABLED, None
    if answer.refused or attempt > len(schedule):
        return DeliveryStatus.FAILED, None
    delay = schedule[attempt - 1] * random.uniform(1 - JITTER, 1 + JITTER)
    if answer.status == 429:
        asked = retry_after_seconds(answer.retry_after, now)
        if asked is not None:
            # The receiver's own pace, within reason.
            delay = min(asked, MAX_RETRY_AFTER_SECONDS)
    return DeliveryStatus.PENDING, now + delay


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from now: delay-seconds or an HTTP date; None if absent/bad."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)
