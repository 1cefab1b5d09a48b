"""fal's webhook signatures: Ed25519 over ``request_id \\n user_id \\n timestamp \\n
sha256_hex(body)``, sent in the ``X-Fal-Webhook-*`` headers, the public key published as a
JWKS document (``/.well-known/jwks.json``) so receivers verify as they verify fal's own.

The private key is 32 random bytes, base64, kept in the database (``store.secrets``): every
host that sends webhooks signs with the same key, and the JWKS any API host serves names it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

KEY_BYTES = 32


def new_signing_key() -> str:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def _private(signing_key: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(signing_key))


def public_key_bytes(signing_key: str) -> bytes:
    return _private(signing_key).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_jwk(signing_key: str) -> dict[str, Any]:
    """The key as fal publishes its own: an OKP (Ed25519) JWK, ``x`` unpadded base64url."""
    public = public_key_bytes(signing_key)
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": base64.urlsafe_b64encode(public).rstrip(b"=").decode(),
        # A stable id for the key, so a receiver that caches keys can tell a new one apart.
        "kid": hashlib.sha256(public).hexdigest()[:16],
        "alg": "EdDSA",
        "use": "sig",
    }


def signed_message(request_id: str, user_id: str, timestamp: int, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return f"{request_id}\n{user_id}\n{timestamp}\n{digest}".encode()


def fal_signed_headers(
    signing_key: str, request_id: str, user_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The four headers of a webhook message as fal sends them; the signature is hex."""
    when = int(time.time()) if timestamp is None else timestamp
    signature = _private(signing_key).sign(signed_message(request_id, user_id, when, body))
    return {
        "X-Fal-Webhook-Request-Id": request_id,
        "X-Fal-Webhook-User-Id": user_id,
        "X-Fal-Webhook-Timestamp": str(when),
        "X-Fal-Webhook-Signature": signature.hex(),
    }


TIMESTAMP_TOLERANCE_SECONDS = 300  # fal's advice: refuse a message more than 5 min off


def jwks_public_keys(document: dict[str, Any]) -> list[bytes]:
    """The Ed25519 public keys of a JWKS document (others skipped)."""
    keys = []
    for jwk in document.get("keys") or []:
        if isinstance(jwk, dict) and jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
            encoded = str(jwk.get("x", ""))
            try:
                keys.append(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
            except ValueError:
                continue
    return keys


def verify_fal_webhook(
    public_keys: list[bytes], headers: Any, body: bytes, now: float | None = None
) -> bool:
    """Whether a message carries a valid fal signature by one of ``public_keys``, made within
    the tolerance of ``now``. ``headers``: any case-insensitive mapping."""
    try:
        request_id = headers["x-fal-webhook-request-id"]
        user_id = headers["x-fal-webhook-user-id"]
        timestamp = int(headers["x-fal-webhook-timestamp"])
        signature = bytes.fromhex(headers["x-fal-webhook-signature"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > TIMESTAMP_TOLERANCE_SECONDS:
        return False
    message = signed_message(request_id, user_id, timestamp, body)
    for public in public_keys:
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
        except (InvalidSignature, ValueError):
            continue
        return True
    return False
