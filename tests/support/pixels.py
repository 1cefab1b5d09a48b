"""Images as arrays, for comparing outputs pixel by pixel."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyvips

Pixels = npt.NDArray[np.uint8]


def pixels(image: pyvips.Image) -> Pixels:
    data = image.write_to_memory()
    return np.frombuffer(data, dtype=np.uint8).reshape(image.height, image.width, image.bands)


def psnr(a: Pixels, b: Pixels) -> float:
    assert a.shape == b.shape
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)
