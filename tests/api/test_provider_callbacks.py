"""Callbacks from providers, refused before they can wake anything: unsigned, or signed by
keys that cannot be read. (Accepted ones are in tests/acceptance/test_predict.py.)"""

from __future__ import annotations

import json

import pytest

from tests.support.api import InProcessApi, MakeApi

PROVIDERS = {
    "rep": {"base_url": "http://127.0.0.1:9", "webhook_secret": "whsec_" + "A" * 32},
    # Its key document is where nothing answers.
    "fal": {
        "kind": "fal",
        "base_url": "http://127.0.0.1:9/fal",
        "jwks_url": "http://127.0.0.1:9/.well-known/jwks.json",
    },
}


@pytest.fixture
def api(make_api: MakeApi) -> InProcessApi:
    return make_api(providers=PROVIDERS, fetch_allow_hosts=["127.0.0.1"])


@pytest.mark.parametrize("kind", ["rep", "fal"])
def test_an_unsigned_callback_is_401(api: InProcessApi, kind: str) -> None:
    with api.anonymous() as anyone:
        answer = anyone.post(
            f"/v1/providers/{kind}/callbacks/1",
            content=json.dumps({"id": "x", "request_id": "x"}),
            headers={"content-type": "application/json"},
        )
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "unauthorized"


def test_a_callback_for_no_configured_provider_is_404(api: InProcessApi) -> None:
    with api.anonymous() as anyone:
        answer = anyone.post("/v1/providers/nobody/callbacks/1", content=b"{}")
    assert answer.status_code == 404
