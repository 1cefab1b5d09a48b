"""Standard Webhooks signatures: ``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``.

Secrets are ``whsec_`` + base64 of the key bytes. A message carries one signature per current
secret, separated by spaces, so receivers keep verifying while a secret is rotated.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping, Sequence

from tilework.core.errors import ErrorCode, TileworkError

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
# How far a message's timestamp may be from now before it is refused (replayed or stale).
TOLERANCE_SECONDS = 300


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The key bytes of a ``whsec_`` secret; ValueError when it is not one."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        # Padding is optional, as for the reference implementation.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret is whsec_ followed by base64") from exc
    if len(key) < 16:
        raise ValueError("a webhook secret must hold at least 16 bytes")
    return key


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    secrets_: Sequence[str], msg_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The three headers of a message signed with every secret in ``secrets_``."""
    when = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(when),
        "webhook-signature": " ".join(signature(s, msg_id, when, body) for s in secrets_),
    }


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None) -> None:
    """Refuse (401 ``unauthorized``) a message not signed with ``secret`` or too far from
    ``now`` (the clock's, unless given)."""
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp", "")
    offered = headers.get("webhook-signature", "").split()
    if not msg_id or not stamp.isdigit() or not offered:
        raise _refused("the webhook headers are missing")
    if abs((time.time() if now is None else now) - int(stamp)) > TOLERANCE_SECONDS:
        raise _refused("the webhook timestamp is too far from now")
    expected = signature(secret, msg_id, int(stamp), body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise _refused("no webhook signature matches")


def _refused(message: str) -> TileworkError:
    return TileworkError(ErrorCode.UNAUTHORIZED, message)
