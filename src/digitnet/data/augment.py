"""Data augmentation: new training images made from the old ones each epoch.

shift: every 28×28 image moves by a random whole number of pixels, up to `max_shift` in each
direction (rows and columns independently), the uncovered border filled with 0 (background).
A digit moved by a pixel or two is still the same digit, so the network learns that position
does not matter, which is worth a few tenths of a point of test accuracy on MNIST for wide MLPs.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

AUGMENTATIONS = ("shift",)


def check_augment(name: str | None) -> str | None:
    if name is not None and name not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {name!r}; expected one of {', '.join(AUGMENTATIONS)} or none")
    return name


def random_shift(x: NDArray[np.floating], rng: np.random.Generator, max_shift: int = 2, side: int = 28) -> NDArray[np.floating]:
    """Each row of x (n, side²) shifted by (dy, dx) drawn uniformly from [−max_shift, max_shift]².

    Returns a new (n, side²) array; x is not modified. Images are grouped by their shift so the
    copy is a handful of slice assignments rather than a per-image loop.
    """
    n = len(x)
    images = x.reshape(n, side, side)
    k = int(max_shift)
    padded = np.zeros((n, side + 2 * k, side + 2 * k), dtype=x.dtype)
    padded[:, k : k + side, k : k + side] = images
    shifts = rng.integers(-k, k + 1, size=(n, 2))  # (n, 2): dy, dx
    out = np.empty_like(images)
    codes = (shifts[:, 0] + k) * (2 * k + 1) + (shifts[:, 1] + k)
    for code in np.unique(codes):
        rows = np.flatnonzero(codes == code)
        dy, dx = divmod(int(code), 2 * k + 1)
        dy, dx = dy - k, dx - k
        # Content moves by (dy, dx): output pixel (r, c) reads input pixel (r − dy, c − dx).
        out[rows] = padded[rows, k - dy : k - dy + side, k - dx : k - dx + side]
    return out.reshape(n, side * side)
