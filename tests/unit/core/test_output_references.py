"""A job's result names its outputs by reference; each read signs them afresh."""

from __future__ import annotations

from tilework.core.jobs import output_reference, output_reference_index, with_output_urls


def test_references_anywhere_in_the_result_become_the_outputs_urls() -> None:
    result = {
        "images": [{"url": output_reference(1), "width": 3}, {"url": output_reference(0)}],
        "seed": 42,
        "note": "tilework:outputs/x",  # not a reference: left alone
        "far": output_reference(7),  # no such output: left alone
    }
    assert with_output_urls(result, ["https://a/0", "https://a/1"]) == {
        "images": [{"url": "https://a/1", "width": 3}, {"url": "https://a/0"}],
        "seed": 42,
        "note": "tilework:outputs/x",
        "far": "tilework:outputs/7",
    }
    assert with_output_urls([output_reference(0)], ["u"]) == ["u"]
    assert with_output_urls(None, ["u"]) is None
    assert output_reference_index("tilework:outputs/12") == 12
    assert output_reference_index("https://tilework:outputs/1") is None
