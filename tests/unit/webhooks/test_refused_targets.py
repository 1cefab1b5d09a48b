"""A webhook target the fetch policy refuses is never contacted, and fails without retries."""

from __future__ import annotations

import httpx

from tests.support.receiver import receiving
from tilework.net.policy import FetchPolicy
from tilework.net.transport import pinned_client
from tilework.store.deliveries import Delivery, DeliveryStatus
from tilework.webhooks.deliverer import Message, _post, outcome

MESSAGE = Message(b"{}", {"webhook-id": "msg_1"})


def delivery(url: str) -> Delivery:
    return Delivery(
        id="msg_1",
        job_id="job",
        event_id=1,
        event="job.succeeded",
        url=url,
        format="tilework",
        status=DeliveryStatus.SENDING,
        attempts=0,
        log=[],
        next_attempt_at=0.0,
        created_at=0.0,
        completed_at=None,
    )


def test_a_loopback_receiver_is_refused_unless_allowed() -> None:
    schedule = [1.0, 2.0]
    with receiving() as receiver:
        with pinned_client(FetchPolicy(), timeout=httpx.Timeout(5)) as http:
            answer = _post(http, delivery(f"{receiver.url}/hook"), MESSAGE)
        assert answer.refused and answer.status is None
        assert answer.error is not None and answer.error.startswith("ssrf_blocked")
        assert outcome(answer, 1, schedule) == (DeliveryStatus.FAILED, None)
        assert receiver.received() == []

        allowed = FetchPolicy.allowing(["127.0.0.1"])
        with pinned_client(allowed, timeout=httpx.Timeout(5)) as http:
            answer = _post(http, delivery(f"{receiver.url}/hook"), MESSAGE)
        assert answer.status == 200 and not answer.refused
        assert outcome(answer, 1, schedule) == (DeliveryStatus.DELIVERED, None)
        assert len(receiver.received("/hook")) == 1
