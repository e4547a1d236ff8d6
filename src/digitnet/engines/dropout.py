"""Dropout masks, drawn one way for every engine.

Inverted dropout: each hidden unit of each example is kept with probability keep = 1 − rate and
then scaled by 1/keep, so a layer's expected output is unchanged and nothing is rescaled at test
time. A mask holds 0 (dropped) or 1/keep (kept).

The draws for `steps` mini-batches come from one call of the generator, in the order step, then
hidden layer, then example, then unit: drawing one step at a time, or a block of steps at once,
consumes the generator identically, so every engine sees the same masks for the same seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]


def draw_dropout_masks(
    rng: np.random.Generator,
    rate: float,
    units: Sequence[int],
    width: int,
    steps: int,
    dtype: np.dtype,
    out: Sequence[Array] | None = None,
) -> list[Array]:
    """Masks for `steps` mini-batches of `width` examples: one (steps, width, units[l]) array per
    hidden layer l, each value 0 or 1/(1 − rate). out: arrays (or views) of those shapes to fill."""
    dtype = np.dtype(dtype)
    keep = 1.0 - rate
    scale = dtype.type(1.0) / dtype.type(keep)  # kept units × 1/keep
    draws = rng.random((steps, width * sum(units)), dtype=dtype)
    masks, offset = [], 0
    for layer, count in enumerate(units):
        part = draws[:, offset : offset + width * count].reshape(steps, width, count)
        masks.append(np.multiply(part < keep, scale, out=None if out is None else out[layer]))
        offset += width * count
    return masks
