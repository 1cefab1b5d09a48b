"""HMAC-signed, expiring URLs for objects the API serves itself."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote, urlencode


class UrlSigner:
    def __init__(self, key: bytes, base_url: str) -> None:
        self._key = key
        self._base_url = base_url.rstrip("/")

    def sign(self, key: str, expires_in: int) -> str:
        expires = int(time.time()) + expires_in
        query = urlencode({"expires": expires, "signature": self.signature("GET", key, expires)})
        return f"{self._base_url}/v1/objects/{quote(key)}?{query}"

    def verify(self, method: str, key: str, expires: int, signature: str) -> bool:
        if expires < time.time():
            return False
        # As bytes: compare_digest refuses a str with anything but ASCII in it, and a
        # signature is whatever the URL's holder typed.
        expected = self.signature(method, key, expires).encode()
        return hmac.compare_digest(expected, signature.encode("utf-8", "surrogateescape"))

    def signature(self, method: str, key: str, expires: int) -> str:
        message = f"{method}\n{key}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()
