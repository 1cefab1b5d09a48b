"""fal-style signatures: Ed25519 as RFC 8032 defines it (its first test vector), checked by an
independent implementation (libsodium, through PyNaCl) from the published JWK alone."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from tilework.core.falsigning import (
    fal_signed_headers,
    jwks_public_keys,
    new_signing_key,
    public_jwk,
    public_key_bytes,
    signed_message,
    verify_fal_webhook,
)

# RFC 8032, section 7.1, TEST 1: the secret key, its public key, and the signature of "".
RFC_SECRET = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
RFC_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
RFC_SIGNATURE = (
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
BODY = json.dumps({"request_id": "r1", "status": "OK", "payload": {"images": []}}).encode()


def jwk_key(jwk: dict[str, str]) -> VerifyKey:
    return VerifyKey(base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4)))


def test_the_signer_is_rfc_8032_ed25519() -> None:
    signing_key = base64.b64encode(bytes.fromhex(RFC_SECRET)).decode()
    assert public_key_bytes(signing_key).hex() == RFC_PUBLIC
    jwk = public_jwk(signing_key)
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("OKP", "Ed25519", "EdDSA")
    assert jwk_key(jwk).verify(b"", bytes.fromhex(RFC_SIGNATURE)) == b""


def test_a_message_verifies_from_the_jwk_as_fal_receivers_verify() -> None:
    signing_key = new_signing_key()
    headers = fal_signed_headers(signing_key, "req_1", "acme", BODY, timestamp=1_700_000_000)
    assert headers["X-Fal-Webhook-Request-Id"] == "req_1"
    assert headers["X-Fal-Webhook-User-Id"] == "acme"
    assert headers["X-Fal-Webhook-Timestamp"] == "1700000000"
    message = b"req_1\nacme\n1700000000\n" + hashlib.sha256(BODY).hexdigest().encode()
    assert signed_message("req_1", "acme", 1_700_000_000, BODY) == message
    key = jwk_key(public_jwk(signing_key))
    key.verify(message, bytes.fromhex(headers["X-Fal-Webhook-Signature"]))


@pytest.mark.parametrize(
    ("request_id", "user_id", "timestamp", "body"),
    [
        ("req_2", "acme", 1_700_000_000, BODY),
        ("req_1", "other", 1_700_000_000, BODY),
        ("req_1", "acme", 1_700_000_001, BODY),
        ("req_1", "acme", 1_700_000_000, BODY + b" "),
    ],
)
def test_changing_any_signed_part_breaks_the_signature(
    request_id: str, user_id: str, timestamp: int, body: bytes
) -> None:
    signing_key = new_signing_key()
    headers = fal_signed_headers(signing_key, "req_1", "acme", BODY, timestamp=1_700_000_000)
    key = jwk_key(public_jwk(signing_key))
    with pytest.raises(BadSignatureError):
        key.verify(
            signed_message(request_id, user_id, timestamp, body),
            bytes.fromhex(headers["X-Fal-Webhook-Signature"]),
        )


def test_another_key_does_not_verify() -> None:
    headers = fal_signed_headers(new_signing_key(), "req_1", "acme", BODY)
    stranger = jwk_key(public_jwk(new_signing_key()))
    stamp = int(headers["X-Fal-Webhook-Timestamp"])
    with pytest.raises(BadSignatureError):
        stranger.verify(
            signed_message("req_1", "acme", stamp, BODY),
            bytes.fromhex(headers["X-Fal-Webhook-Signature"]),
        )


def test_the_receiving_side_verifies_a_message_signed_by_libsodium() -> None:
    """``verify_fal_webhook`` as the callback route uses it: a message signed independently
    (PyNaCl) with keys read from a JWKS document; tampering, a stranger's key and a stale
    timestamp are refused."""
    signer = SigningKey(bytes.fromhex(RFC_SECRET))
    x = base64.urlsafe_b64encode(bytes(signer.verify_key)).rstrip(b"=").decode()
    document = {"keys": [{"kty": "RSA", "n": "x"}, {"kty": "OKP", "crv": "Ed25519", "x": x}]}
    keys = jwks_public_keys(document)
    assert keys == [bytes.fromhex(RFC_PUBLIC)]  # the RSA key skipped
    stamp = 1_700_000_000
    digest = hashlib.sha256(BODY).hexdigest()
    signature = signer.sign(f"req_1\nacme\n{stamp}\n{digest}".encode()).signature.hex()
    headers = {
        "x-fal-webhook-request-id": "req_1",
        "x-fal-webhook-user-id": "acme",
        "x-fal-webhook-timestamp": str(stamp),
        "x-fal-webhook-signature": signature,
    }
    assert verify_fal_webhook(keys, headers, BODY, now=stamp + 299)
    assert not verify_fal_webhook(keys, headers, BODY + b" ", now=stamp)
    assert not verify_fal_webhook(keys, headers, BODY, now=stamp + 301)
    assert not verify_fal_webhook(keys, {**headers, "x-fal-webhook-user-id": "x"}, BODY, now=stamp)
    stranger = public_key_bytes(new_signing_key())
    assert not verify_fal_webhook([stranger], headers, BODY, now=stamp)
    assert not verify_fal_webhook(keys, {**headers, "x-fal-webhook-signature": "zz"}, BODY)
