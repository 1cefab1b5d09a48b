"""The pixels every super-resolution pass takes and returns: 8-bit RGB, shape (height, width, 3)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Pixels = npt.NDArray[np.uint8]
