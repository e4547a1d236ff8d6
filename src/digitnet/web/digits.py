"""Does a 28×28 input look like a digit at all? Signs measured on MNIST's 70,000 digits.

A network trained on digits gives every input a confident-looking answer: one black pixel, a
tap on the pad or random noise all come out as "8" at 0.99, because preprocessing scales any
mark up to a 20-pixel blot. Two measurements tell such inputs apart from handwriting:

    ink  = Σ x                    MNIST: 19.9 to 312 (a pixel's worth per unit of brightness)
    fill = mean(x > 0.5) over the bounding box of the ink (x ≥ 0.15), when both its sides
           are at least 10 px     MNIST: at most 0.78, and 0.74 for 99.99% of digits;
                                  a dot, a tap, a filled square or noise scaled to 20 px: 0.77–1

not_a_digit(x) names what is wrong when ink < MIN_INK or > MAX_INK, or fill > MAX_FILL (6 of
the 70,000 MNIST digits exceed it). It does not catch everything (a scribble is ink in strokes).
"""

from __future__ import annotations

import numpy as np

MIN_INK = 15.0
MAX_INK = 320.0
MAX_FILL = 0.75
MIN_BOX = 10  # px: the fill test needs a box, not a stroke (a "1" is 2-4 px wide)
STRONG, INK_FLOOR = 0.5, 0.15


def not_a_digit(x: np.ndarray) -> str | None:
    """Why the 28×28 (or 784) input x in [0, 1] does not look like a digit; None if it may be one."""
    grid = np.asarray(x, dtype=np.float32).reshape(28, 28)
    ink = float(grid.sum(dtype=np.float64))
    if ink < MIN_INK:
        return (f"too little ink for a digit: {ink:.1f} pixels' worth, where MNIST digits have at least "
                f"{MIN_INK:g} (a dot or a stray mark?)")
    marked = grid >= INK_FLOOR
    if not marked.any():
        return (f"no pen stroke: no pixel reaches {INK_FLOOR:g} brightness, the ink is a faint haze "
                f"({ink:.0f} pixels' worth spread thin)")
    rows, cols = np.flatnonzero(marked.any(axis=1)), np.flatnonzero(marked.any(axis=0))
    box = grid[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]  # (h, w)
    if min(box.shape) >= MIN_BOX:
        fill = float((box > STRONG).mean())
        if fill > MAX_FILL:
            return (f"a blot, not pen strokes: the ink covers {fill:.0%} of its {box.shape[1]}×{box.shape[0]} box, "
                    f"where MNIST digits cover at most {MAX_FILL:.0%} (a tap, a dot scaled up, a filled shape or noise?)")
    if ink > MAX_INK:
        return (f"too much ink for a digit: {ink:.0f} pixels' worth, where MNIST digits have at most "
                f"{MAX_INK:g} (noise or a filled area?)")
    return None
