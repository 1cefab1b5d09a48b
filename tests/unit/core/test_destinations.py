"""Destinations' pure parts: sealed credentials and the path template's rules."""

from __future__ import annotations

import pytest

from tilework.core.destinations import delivered_key, missing_fields, template_fields
from tilework.core.sealing import SealBrokenError, seal, unseal

KEY = b"k" * 32


def test_a_sealed_secret_opens_only_with_its_key_and_for_its_row() -> None:
    sealed = seal(KEY, "s3cr3t", "destination:acme/renders")
    assert "s3cr3t" not in sealed and sealed.startswith("v1:")
    assert seal(KEY, "s3cr3t", "destination:acme/renders") != sealed  # a fresh nonce each time
    assert unseal(KEY, sealed, "destination:acme/renders") == "s3cr3t"
    with pytest.raises(SealBrokenError):
        unseal(b"another key", sealed, "destination:acme/renders")
    with pytest.raises(SealBrokenError):  # moved onto another tenant's row
        unseal(KEY, sealed, "destination:other/renders")
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(SealBrokenError):
        unseal(KEY, flipped, "destination:acme/renders")


def test_templates_name_plain_fields_and_make_relative_keys() -> None:
    assert template_fields("renders/{user_id}/{project_id}-{job_id}.png") == [
        "user_id",
        "project_id",
        "job_id",
    ]
    for bad in ("{a.b}", "{0}", "{job_id!r}", "{job_id:>9}", "/abs/{job_id}", "a/../{x}", "{"):
        with pytest.raises(ValueError):
            template_fields(bad)


def test_what_a_job_cannot_fill_is_named_before_it_runs() -> None:
    template = "r/{user_id}/{project_id}-{job_id}.{ext}"
    assert missing_fields(template, {"project_id": "p"}, {}) == ["user_id"]
    assert missing_fields(template, {"project_id": "p"}, {"user_id": "u"}) == []
    # A param that is no plain name (a list, a path) fills nothing.
    assert missing_fields(template, {"project_id": "a/b", "user_id": ["u"]}, {}) == [
        "user_id",
        "project_id",
    ]


def test_several_outputs_get_their_index_unless_the_template_places_it() -> None:
    values = {"job_id": "J"}
    outputs = [{"key": "jobs/J/variation-0.png"}, {"key": "jobs/J/variation-1.webp"}]
    made = [delivered_key("p/{job_id}.{ext}", values, each, i, 2) for i, each in enumerate(outputs)]
    assert made == ["p/J-0.png", "p/J-1.webp"]
    placed = [
        delivered_key("p/{index}/{name}", values, each, i, 2) for i, each in enumerate(outputs)
    ]
    assert placed == ["p/0/variation-0.png", "p/1/variation-1.webp"]
    assert delivered_key("p/{job_id}", values, {"key": "jobs/J/out"}, 0, 1) == "p/J"
