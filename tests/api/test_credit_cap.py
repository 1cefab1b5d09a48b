"""A success is charged what it made, never more than was reserved: an operation that makes
more than it declared (``test_oversize``) costs its key only the declared price."""

from __future__ import annotations

from pathlib import Path

from tests.support import images
from tests.support.api import MakeApi
from tilework.core.credits import megapixel_cost

DECLARED_PIXELS = 2_000_000  # the price: 2 credits
SIDE = 2000  # what it makes: 4 megapixels, 4 credits


def test_a_success_is_charged_no_more_than_was_reserved(make_api: MakeApi, tmp_path: Path) -> None:
    api = make_api(max_attempts=1)
    reserved = megapixel_cost(DECLARED_PIXELS)
    assert megapixel_cost(SIDE * SIDE) > reserved  # else the cap would not be tested
    with api.tenant(credits=10) as client:
        key = client.upload(images.photo(tmp_path / "p.jpg", 64, 64))["key"]
        params = {"declared_pixels": DECLARED_PIXELS, "side": SIDE}
        job = client.submit("test_oversize", key=key, params=params)
        assert client.current_key()["credits"] == 10 - reserved
        api.work()
        done = client.job(job["id"])
        assert done["status"] == "succeeded", done
        (output,) = done["outputs"]
        assert (output["width"], output["height"]) == (SIDE, SIDE)
        assert client.current_key()["credits"] == 10 - reserved
        movements = [(e["kind"], e["amount"], e["balance"]) for e in client.ledger()["items"]]
    assert movements == [
        ("charge", -reserved, 10 - reserved),
        ("release", reserved, 10),
        ("reserve", -reserved, 10 - reserved),
        ("grant", 10, 10),
    ]
