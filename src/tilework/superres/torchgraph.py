"""An ncnn graph as a ``torch.nn.Module``: the same weights, run by PyTorch on any device.

Covers the layer types Real-ESRGAN's ncnn exports use: Input, Split, Concat, Convolution (with
its fused activation), Eltwise (with coefficients), BinaryOp, Interp (nearest, bilinear,
bicubic), PReLU and PixelShuffle. ncnn blobs are (C, H, W); here every tensor carries a batch
dimension in front, so ncnn's axis 0 is dimension 1.

ncnn's resize arithmetic is PyTorch's: the output size is ``int(side × scale)``, source
coordinates are ``(x + 0.5) · in/out - 0.5`` (so the size, not the scale, is handed to
``interpolate``), bicubic uses a = -0.75 and clamps at the border.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812 (PyTorch's own convention)
from torch import Tensor, nn

from tilework.core.errors import ErrorCode, TileworkError
from tilework.superres.ncnnfile import Graph, Layer, read_model

Step = Callable[..., Tensor]

INTERP_MODES = {1: "nearest", 2: "bilinear", 3: "bicubic"}


class NcnnModule(nn.Module):
    """Runs the layers in file order (ncnn writes them topologically sorted); each blob is
    dropped after its last reader, so peak memory is the widest point of the graph."""

    def __init__(self, graph: Graph) -> None:
        super().__init__()
        if len(graph.inputs) != 1:
            raise _unsupported("graph", f"{len(graph.inputs)} inputs (expected 1)")
        self.input = graph.inputs[0]
        self.layer_modules = nn.ModuleDict()
        self.steps: list[tuple[Step, tuple[str, ...], tuple[str, ...]]] = []
        for layer in graph.layers:
            if layer.type == "Input":
                continue
            step = self._step(layer)
            self.steps.append((step, layer.inputs, layer.outputs))
        self.output = graph.layers[-1].outputs[0]
        self.last_use = _last_uses(self.steps, self.output)

    def _step(self, layer: Layer) -> Step:
        if layer.type in MODULES:
            module = MODULES[layer.type](layer)
            # ModuleDict keys may not contain dots; ncnn names sometimes do.
            self.layer_modules[layer.name.replace(".", "_")] = module
            return module
        if layer.type in FUNCTIONS:
            return FUNCTIONS[layer.type](layer)
        raise _unsupported(layer.name, f"layer type {layer.type}")

    def forward(self, x: Tensor) -> Tensor:
        blobs = {self.input: x}
        for index, (step, inputs, outputs) in enumerate(self.steps):
            args = [blobs[name] for name in inputs]
            results = step(*args)
            if len(outputs) == 1:
                blobs[outputs[0]] = results
            else:  # Split: every output is the input
                for name in outputs:
                    blobs[name] = results
            for name in inputs:
                if self.last_use.get(name) == index:
                    del blobs[name]
        return blobs[self.output]


def load_module(param: Path, weights: Path) -> NcnnModule:
    """The fp32 module for one ncnn model; move and cast it with ``.to()``."""
    return NcnnModule(read_model(param, weights)).eval()


def _last_uses(
    steps: list[tuple[Step, tuple[str, ...], tuple[str, ...]]], output: str
) -> dict[str, int]:
    last: dict[str, int] = {}
    for index, (_, inputs, _) in enumerate(steps):
        for name in inputs:
            last[name] = index
    last.pop(output, None)
    return last


# --- layers with weights --------------------------------------------------------------------


class Convolution(nn.Module):
    def __init__(self, layer: Layer) -> None:
        super().__init__()
        out_channels, kernel_w = layer.get_int(0, 0), layer.get_int(1, 0)
        kernel_h = layer.get_int(11, kernel_w)
        pad_left = layer.get_int(4, 0)
        pad_top = layer.get_int(14, pad_left)
        if pad_left < 0 or layer.get_int(15, pad_left) != pad_left:
            raise _unsupported(layer.name, "asymmetric or 'same' padding")
        if layer.get_int(16, pad_top) != pad_top or layer.get_float(18, 0.0) != 0.0:
            raise _unsupported(layer.name, "asymmetric padding or a pad value")
        weight = torch.from_numpy(layer.weights["weight"].copy())
        in_channels = weight.numel() // (out_channels * kernel_h * kernel_w)
        # Parameters straight from the file and F.conv2d: an nn.Conv2d would first fill its
        # weights randomly, which was most of x4plus's load time.
        self.weight = nn.Parameter(
            weight.reshape(out_channels, in_channels, kernel_h, kernel_w), requires_grad=False
        )
        bias = layer.weights.get("bias")
        self.bias = None if bias is None else nn.Parameter(torch.from_numpy(bias.copy()), False)
        self.stride = (layer.get_int(13, layer.get_int(3, 1)), layer.get_int(3, 1))
        self.padding = (pad_top, pad_left)
        self.dilation = (layer.get_int(12, layer.get_int(2, 1)), layer.get_int(2, 1))
        self.activation = _activation(layer)

    def forward(self, x: Tensor) -> Tensor:
        y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)
        return self.activation(y)


def _activation(layer: Layer) -> Callable[[Tensor], Tensor]:
    kind, values = layer.get_int(9, 0), layer.get_array(10)
    if kind == 0:
        return lambda x: x
    if kind == 1:
        slope = values[0] if values else 0.0
        return (lambda x: F.leaky_relu(x, slope)) if slope else F.relu
    if kind == 2:
        return lambda x: F.leaky_relu(x, values[0])
    if kind == 3:
        return lambda x: torch.clamp(x, values[0], values[1])
    if kind == 4:
        return torch.sigmoid
    raise _unsupported(layer.name, f"fused activation type {kind}")


class PReLU(nn.Module):
    def __init__(self, layer: Layer) -> None:
        super().__init__()
        slopes = torch.from_numpy(layer.weights["slope"].copy())
        self.weight = nn.Parameter(slopes, requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.prelu(x, self.weight)


MODULES: dict[str, Callable[[Layer], nn.Module]] = {
    "Convolution": Convolution,
    "PReLU": PReLU,
}


# --- layers without weights -----------------------------------------------------------------


def _split(layer: Layer) -> Step:
    return lambda x: x


def _concat(layer: Layer) -> Step:
    dim = layer.get_int(0, 0) + 1
    return lambda *xs: torch.cat(xs, dim=dim)


def _eltwise(layer: Layer) -> Step:
    op, coeffs = layer.get_int(0, 1), layer.get_array(1)
    if op == 1:
        if not coeffs:
            return lambda *xs: torch.stack(xs).sum(dim=0)

        def weighted_sum(*xs: Tensor) -> Tensor:
            total = xs[0] * coeffs[0]
            for x, c in zip(xs[1:], coeffs[1:], strict=True):
                total = total + x * c
            return total

        return weighted_sum
    if op == 0:
        return lambda *xs: torch.stack(xs).prod(dim=0)
    if op == 2:
        return lambda *xs: torch.stack(xs).amax(dim=0)
    raise _unsupported(layer.name, f"eltwise operation {op}")


BINARY: dict[int, Callable[[Tensor, Tensor], Tensor]] = {
    0: torch.add,
    1: torch.sub,
    2: torch.mul,
    3: torch.div,
    4: torch.maximum,
    5: torch.minimum,
    7: lambda a, b: b - a,
    8: lambda a, b: b / a,
}


def _binary(layer: Layer) -> Step:
    op = layer.get_int(0, 0)
    if op not in BINARY:
        raise _unsupported(layer.name, f"binary operation {op}")
    fn = BINARY[op]
    if layer.get_int(1, 0):  # with a scalar operand
        scalar = layer.get_float(2, 0.0)
        return lambda a: fn(a, torch.tensor(scalar, dtype=a.dtype, device=a.device))
    return fn


def _interp(layer: Layer) -> Step:
    kind = layer.get_int(0, 0)
    if kind not in INTERP_MODES:
        raise _unsupported(layer.name, f"resize type {kind}")
    mode = INTERP_MODES[kind]
    scale_h, scale_w = layer.get_float(1, 1.0), layer.get_float(2, 1.0)
    out_h, out_w = layer.get_int(3, 0), layer.get_int(4, 0)
    align = bool(layer.get_int(6, 0)) if mode != "nearest" else None

    def interp(x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        size = (out_h or int(height * scale_h), out_w or int(width * scale_w))
        return F.interpolate(x, size=size, mode=mode, align_corners=align)

    return interp


def _pixel_shuffle(layer: Layer) -> Step:
    if layer.get_int(1, 0) != 0:
        raise _unsupported(layer.name, "pixel shuffle mode 1")
    factor = layer.get_int(0, 1)
    return lambda x: F.pixel_shuffle(x, factor)


FUNCTIONS: dict[str, Callable[[Layer], Step]] = {
    "Split": _split,
    "Concat": _concat,
    "Eltwise": _eltwise,
    "BinaryOp": _binary,
    "Interp": _interp,
    "PixelShuffle": _pixel_shuffle,
}


def _unsupported(where: str, what: str) -> TileworkError:
    return TileworkError(ErrorCode.PIPELINE_ERROR, f"ncnn model: {where}: {what} is not supported")
