"""Read an ncnn model (``.param`` text and ``.bin`` weights) into plain layers and numpy arrays.

Only numpy is needed here: the PyTorch builder (``torchgraph``) turns the result into a module,
and the tests read it to check what the files hold.

The ``.bin`` is the layers' weights back to back, in ``.param`` order, with no index: a layer's
type and parameters say how many values it reads. A *tagged* array starts with a 4-byte tag
naming its storage (fp16 for these models' convolution weights); an *untagged* one is raw fp32
(biases, PReLU slopes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tilework.core.errors import ErrorCode, TileworkError

MAGIC = 7767517
ARRAY_KEY_BASE = -23300  # a key k <= -23300 holds an array for parameter id -23300 - k
TAG_FP16 = 0x01306B47
TAG_FP32 = 0x0002C056

Floats = npt.NDArray[np.float32]
ParamValue = int | float | tuple[float, ...]


@dataclass(frozen=True)
class Layer:
    type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[int, ParamValue]
    weights: dict[str, Floats] = field(default_factory=dict)

    def get_int(self, key: int, default: int) -> int:
        return int(self.params.get(key, default))  # type: ignore[arg-type]

    def get_float(self, key: int, default: float) -> float:
        return float(self.params.get(key, default))  # type: ignore[arg-type]

    def get_array(self, key: int) -> tuple[float, ...]:
        value = self.params.get(key, ())
        return value if isinstance(value, tuple) else (float(value),)


@dataclass(frozen=True)
class Graph:
    layers: list[Layer]

    @property
    def inputs(self) -> list[str]:
        return [layer.outputs[0] for layer in self.layers if layer.type == "Input"]


def read_model(param: Path, weights: Path) -> Graph:
    """Both files of a model, checked: every byte of the ``.bin`` must be accounted for."""
    layers = parse_param(param.read_text())
    data = weights.read_bytes()
    reader = _Weights(data, weights.name)
    loaded = [_with_weights(layer, reader) for layer in layers]
    if reader.offset != len(data):
        raise _bad(f"{weights.name}: {len(data) - reader.offset} bytes left after the last layer")
    return Graph(loaded)


def parse_param(text: str) -> list[Layer]:
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != [str(MAGIC)]:
        raise _bad(f"not an ncnn .param file (the first line is not {MAGIC})")
    layer_count = int(lines[1][0])
    layers = [_parse_layer(words) for words in lines[2:]]
    if len(layers) != layer_count:
        raise _bad(f".param declares {layer_count} layers and holds {len(layers)}")
    return layers


def _parse_layer(words: list[str]) -> Layer:
    kind, name, n_in, n_out = words[0], words[1], int(words[2]), int(words[3])
    inputs = tuple(words[4 : 4 + n_in])
    outputs = tuple(words[4 + n_in : 4 + n_in + n_out])
    params: dict[int, ParamValue] = {}
    for item in words[4 + n_in + n_out :]:
        key_text, _, value = item.partition("=")
        key = int(key_text)
        if key <= ARRAY_KEY_BASE:
            count, *values = value.split(",")
            if len(values) != int(count):
                raise _bad(f"{name}: array parameter {key} declares {count} values")
            params[ARRAY_KEY_BASE - key] = tuple(float(v) for v in values)
        else:
            params[key] = _number(value)
    return Layer(kind, name, inputs, outputs, params)


def _number(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


def _with_weights(layer: Layer, reader: _Weights) -> Layer:
    """Read the arrays ``layer`` owns, in the order ncnn's ``load_model`` reads them."""
    if layer.type == "Convolution":
        if layer.get_int(8, 0):
            raise _bad(f"{layer.name}: int8 convolutions are not supported")
        weights = {"weight": reader.tagged(layer.get_int(6, 0))}
        if layer.get_int(5, 0):
            weights["bias"] = reader.raw(layer.get_int(0, 0))
        return Layer(layer.type, layer.name, layer.inputs, layer.outputs, layer.params, weights)
    if layer.type == "PReLU":
        slopes = reader.raw(layer.get_int(0, 0))
        return Layer(
            layer.type, layer.name, layer.inputs, layer.outputs, layer.params, {"slope": slopes}
        )
    return layer


class _Weights:
    def __init__(self, data: bytes, name: str) -> None:
        self.data, self.name, self.offset = data, name, 0

    def _take(self, size: int) -> bytes:
        if self.offset + size > len(self.data):
            raise _bad(f"{self.name} ends at byte {len(self.data)}; a layer needs more")
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def raw(self, count: int) -> Floats:
        return np.frombuffer(self._take(4 * count), dtype="<f4").astype(np.float32)

    def tagged(self, count: int) -> Floats:
        tag = int.from_bytes(self._take(4), "little")
        if tag == TAG_FP16:
            # fp16 arrays are padded to a multiple of 4 bytes.
            stored = self._take((2 * count + 3) // 4 * 4)
            return np.frombuffer(stored[: 2 * count], dtype="<f2").astype(np.float32)
        if tag in (0, TAG_FP32):
            return self.raw(count)
        raise _bad(f"{self.name}: weight storage tag {tag:#010x} is not supported (fp16/fp32 only)")


def _bad(message: str) -> TileworkError:
    return TileworkError(ErrorCode.PIPELINE_ERROR, f"ncnn model: {message}")
