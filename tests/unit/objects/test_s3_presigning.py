"""Presigned S3 GET URLs, their signature recomputed by botocore's SigV4 query signer.

What this proves: the ``X-Amz-Signature`` that tilework (through obstore's Rust signer) puts in a
presigned URL is exactly the one AWS's reference implementation (botocore's
``S3SigV4QueryAuth``, code independent of obstore) computes for the same method, path, query
parameters, host, timestamp, region and credentials, with ``UNSIGNED-PAYLOAD``; that the URL's
credential scope and signed headers are the ones botocore would set; that it lives as long as
tilework promises (``signed_url_seconds``); and that the URL fetches the object's bytes.

What it does not prove: that any server accepts it. No S3 server reachable here verifies SigV4
signatures (moto and s3rver accept any signature), so the fetch below would succeed with a wrong
signature too (see test-audit finding 9). Agreement with botocore is second-best evidence: a
server whose canonicalisation differs from both (some S3-compatible ones do) could still refuse
the URL, and expiry is not enforced by anything here.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, S3Server
from tilework.core.settings import Settings
from tilework.objects.factory import open_object_store
from tilework.objects.s3 import S3ObjectStore

KEY = "jobs/p/output.png"
CONTENT = b"presigned bytes \x00\x01\x02"


def botocore_signature(unsigned_url: str, timestamp: str, expires: int, secret: str) -> str:
    """``S3SigV4QueryAuth.add_auth`` minus its two side effects: it would stamp the current time
    and rebuild the auth parameters, where these must be the URL's own (they are signed)."""
    auth = S3SigV4QueryAuth(Credentials(ACCESS_KEY, secret), "s3", REGION, expires=expires)
    request = AWSRequest(method="GET", url=unsigned_url)
    request.context["timestamp"] = timestamp
    canonical = auth.canonical_request(request)
    assert canonical.endswith("\nUNSIGNED-PAYLOAD")
    return auth.signature(auth.string_to_sign(request, canonical), request)


def test_presigned_get_url_carries_botocores_signature(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.new_bucket()
    settings = Settings(home=tmp_path / "home", **s3_server.settings(bucket, "tenant/outputs"))
    store = open_object_store(settings)
    assert isinstance(store, S3ObjectStore)
    source = tmp_path / "output.png"
    source.write_bytes(CONTENT)
    store.put_file(KEY, source)

    url = store.url(KEY, settings.signed_url_seconds)
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = dict(pairs)
    assert len(query) == len(pairs)  # no repeated parameter
    assert parts.path == f"/{bucket}/tenant/outputs/{KEY}"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    timestamp = query["X-Amz-Date"]
    assert len(timestamp) == 16 and timestamp[8] == "T" and timestamp.endswith("Z")
    assert query["X-Amz-Credential"] == f"{ACCESS_KEY}/{timestamp[:8]}/{REGION}/s3/aws4_request"
    assert query["X-Amz-Expires"] == str(settings.signed_url_seconds) == "3600"
    assert query["X-Amz-SignedHeaders"] == "host"
    signature = query["X-Amz-Signature"]
    assert len(signature) == 64

    # The URL as signed: every parameter but the signature, encoded as tilework sent them.
    raw = [p for p in parts.query.split("&") if not p.startswith("X-Amz-Signature=")]
    unsigned_url = urlunsplit(parts._replace(query="&".join(raw)))
    expires = int(query["X-Amz-Expires"])

    # The scope and signed headers botocore itself would put in this URL.
    auth = S3SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION, expires=expires)
    request = AWSRequest(method="GET", url=unsigned_url)
    request.context["timestamp"] = timestamp
    assert auth.scope(request) == query["X-Amz-Credential"]
    assert auth.signed_headers(auth.headers_to_sign(request)) == query["X-Amz-SignedHeaders"]

    assert botocore_signature(unsigned_url, timestamp, expires, SECRET_KEY) == signature
    # Sanity: the comparison depends on the secret.
    assert botocore_signature(unsigned_url, timestamp, expires, SECRET_KEY + "x") != signature

    answer = httpx.get(url, timeout=60)
    assert answer.status_code == 200
    assert answer.content == CONTENT
