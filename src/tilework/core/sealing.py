"""Secrets kept in the database sealed (AES-256-GCM) with a key derived from the server's
secret key, so a copy of the database alone reveals none of them.

A sealed value is bound to what it belongs to (``context``: a tenant and a destination, say):
moved onto another row, it no longer opens.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"
NONCE_BYTES = 12
# Derived, not the secret key itself: the same key also signs URLs, and one key should never
# serve two algorithms.
_LABEL = b"tilework sealed secrets v1\x00"


class SealBrokenError(Exception):
    """The value was sealed with another key or for another context, or was altered."""


def _cipher(secret_key: bytes) -> AESGCM:
    return AESGCM(hashlib.sha256(_LABEL + secret_key).digest())


def seal(secret_key: bytes, plaintext: str, context: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    sealed = _cipher(secret_key).encrypt(nonce, plaintext.encode(), context.encode())
    return f"{VERSION}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def unseal(secret_key: bytes, value: str, context: str) -> str:
    version, _, body = value.partition(":")
    if version != VERSION:
        raise SealBrokenError(f"unknown sealed format {version!r}")
    try:
        raw = base64.urlsafe_b64decode(body)
        opened = _cipher(secret_key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
    except (InvalidTag, ValueError) as exc:
        raise SealBrokenError("sealed with another secret key, or altered") from exc
    return opened.decode()
