"""Signatures checked by the official ``standardwebhooks`` package; the retry schedule's rules."""

from __future__ import annotations

import base64
import json
import os
from email.utils import formatdate

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from tilework.core.errors import TileworkError
from tilework.core.settings import WEBHOOK_RETRY_SECONDS
from tilework.core.signatures import new_secret, signed_headers, verify
from tilework.store.deliveries import DeliveryStatus
from tilework.webhooks.deliverer import (
    JITTER,
    MAX_RETRY_AFTER_SECONDS,
    Answer,
    outcome,
    retry_after_seconds,
)

BODY = json.dumps({"type": "job.succeeded", "data": {"id": "x"}}).encode()


def test_a_signed_message_verifies_with_the_reference_package() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    headers = signed_headers([secret], "msg_1", BODY)
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-signature"].startswith("v1,")


def test_during_rotation_either_secret_verifies_and_a_stranger_does_not() -> None:
    current, previous = new_secret(), new_secret()
    headers = signed_headers([current, previous], "msg_2", BODY)
    assert len(headers["webhook-signature"].split()) == 2
    for secret in (current, previous):
        Webhook(secret).verify(BODY, headers)
        verify(secret, headers, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)
    with pytest.raises(TileworkError) as refused:
        verify(new_secret(), headers, BODY)
    assert refused.value.code == "unauthorized"


def test_a_tampered_body_or_an_old_timestamp_is_refused() -> None:
    secret = new_secret()
    headers = signed_headers([secret], "msg_3", BODY)
    with pytest.raises(TileworkError):
        verify(secret, headers, BODY + b" ")
    stale = signed_headers([secret], "msg_3", BODY, timestamp=1_000_000_000)
    with pytest.raises(TileworkError):
        verify(secret, stale, BODY)
    with pytest.raises(TileworkError):
        verify(secret, {}, BODY)


def test_unpadded_secrets_work_as_in_the_reference_package() -> None:
    raw = os.urandom(24)
    unpadded = "whsec_" + base64.b64encode(raw).decode().rstrip("=")
    headers = signed_headers([unpadded], "msg_4", BODY)
    Webhook(unpadded).verify(BODY, headers)


def test_the_default_schedule_is_the_standard_one() -> None:
    assert WEBHOOK_RETRY_SECONDS == [5, 300, 1800, 7200, 18000, 36000, 36000]


@pytest.mark.parametrize("attempt", range(1, len(WEBHOOK_RETRY_SECONDS) + 1))
def test_each_failed_attempt_waits_its_step_with_jitter(attempt: int) -> None:
    step = WEBHOOK_RETRY_SECONDS[attempt - 1]
    status, when = outcome(Answer(500), attempt, WEBHOOK_RETRY_SECONDS, now=0.0)
    assert status is DeliveryStatus.PENDING
    assert when is not None and step * (1 - JITTER) <= when <= step * (1 + JITTER)


def test_only_2xx_delivers_410_disables_and_the_last_attempt_fails() -> None:
    schedule = [1.0, 2.0]
    assert outcome(Answer(204), 1, schedule)[0] is DeliveryStatus.DELIVERED
    assert outcome(Answer(302), 1, schedule)[0] is DeliveryStatus.PENDING
    assert outcome(Answer(error="ConnectError"), 1, schedule)[0] is DeliveryStatus.PENDING
    assert outcome(Answer(410), 1, schedule) == (DeliveryStatus.DISABLED, None)
    assert outcome(Answer(500), 3, schedule) == (DeliveryStatus.FAILED, None)


def test_429_waits_as_long_as_retry_after_says_within_reason() -> None:
    schedule = [1.0, 100.0]
    assert outcome(Answer(429, "30"), 1, schedule, now=0.0) == (DeliveryStatus.PENDING, 30.0)
    assert outcome(Answer(429, "3000"), 1, schedule, now=0.0) == (DeliveryStatus.PENDING, 3000.0)
    # Never past the standard's longest wait, whatever the receiver asks.
    longest = (DeliveryStatus.PENDING, MAX_RETRY_AFTER_SECONDS)
    assert outcome(Answer(429, "9999999"), 1, schedule, now=0.0) == longest
    status, when = outcome(Answer(429, "soon"), 1, schedule, now=0.0)
    assert status is DeliveryStatus.PENDING and when is not None and when <= 1.2


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = 1_700_000_000.0
    assert retry_after_seconds("120", now) == 120.0
    assert retry_after_seconds(formatdate(now + 60, usegmt=True), now) == pytest.approx(60, abs=1)
    assert retry_after_seconds(None, now) is None
    assert retry_after_seconds("tomorrow", now) is None
