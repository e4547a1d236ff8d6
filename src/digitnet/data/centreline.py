"""A bold stroke thinned to the path the pen took, and redrawn with MNIST's pen.

A marker draws the same path as a pen, only wider: its loops close up (a 9's loop becomes a
small hole or none, a 3 turns into a blob with a tail), and eroding its outline evenly (digitnet.
data.strokes.erode) breaks the thin places before the bold ones come down to MNIST's width. The
path itself survives: thinned to its centre line, the stroke's topology is kept — every loop
around a hole, however small the hole, stays a loop — and redrawn with a round pen of MNIST's
width, each hole opens up again by the width the marker took from it.

All of it works on the digit cropped and enlarged so its longer side is BOX·UPSCALE px
(digitnet.data.strokes), before the 20 px box: a hole a few px wide there is gone at 20 px.

1. `ink_mask`: the saturated ink at INK_LEVEL, with holes smaller than MIN_HOLE MNIST px² filled
   (grain inside a bold stroke would otherwise become a loop of its own).
2. `thin`: Zhang & Suen (1984) thinning, mask → 1 px wide centre line, topology kept.
3. `distance_to`: the exact Euclidean distance from every pixel to the nearest marked pixel,
   separably: along each row g(r, c) = min |c − c'| over marked (r, c'), then
   d(r, c)² = min over r' of g(r', c)² + (r − r')²   ((h, h, w) at once; h ≤ ~200 here).
4. `pen_radius`: the radius r that leaves the digit `width` MNIST px wide once its box (the centre
   line's box grown by r each side, longer side S + 2r) is scaled to BOX px:
   2r · BOX / (S + 2r) = width  ⇒  r = width · S / (2 (BOX − width)).
5. `draw_along`: a round pen of radius r pressed along the centre line, anti-aliased:
   ink(p) = clip(r + ½ − d(p), 0, 1), d the distance to the line.
`restroke` runs 1-5.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from digitnet.data import components

__all__ = ["INK_LEVEL", "MIN_HOLE", "distance_to", "draw_discs", "ink_mask", "pen_radii", "restroke", "thin"]

Array = NDArray[np.float32]
Mask = NDArray[np.bool_]

INK_LEVEL = 0.5  # saturated ink at or above this is the stroke
MIN_HOLE = 0.8  # MNIST px²: smaller holes in a stroke are grain, filled before thinning
KEEP_BLOBS = True  # a filled loop keeps its excess width (pen_radii)
DISC_CHUNK = 32  # centre-line points drawn at once (draw_discs)
FLOOR = 1.6  # MNIST px: the thinnest pen when shrinking
# Zhang–Suen's neighbours P2..P9: north, then clockwise.
_NEIGHBOURS = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))


def ink_mask(ink: Array, upscale: int) -> Mask:
    """ink (h, w) in [0, 1] at `upscale` px per MNIST px → the stroke as a mask, small holes
    (under MIN_HOLE MNIST px² of paper enclosed by ink) filled."""
    mask = ink >= INK_LEVEL
    labels, count = components.label_components(~mask)
    if count == 0:
        return mask
    area = np.bincount(labels.ravel(), minlength=count + 1)  # (count + 1,), [0] the ink
    outside = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    small = area < MIN_HOLE * upscale * upscale
    small[0] = False
    small[outside] = False  # paper reaching the frame is not a hole
    return mask | small[labels]


def thin(mask: Mask) -> Mask:
    """Zhang–Suen thinning of mask (h, w): the 1 px wide centre line, same connectivity and holes."""
    height, width = mask.shape
    image = np.pad(mask.astype(bool), 1)  # (h + 2, w + 2), a frame of paper
    core = image[1:-1, 1:-1]  # a view: clearing pixels of core clears them in image
    while True:
        changed = False
        for step in (0, 1):
            p = [image[1 + dr:1 + dr + height, 1 + dc:1 + dc + width] for dr, dc in _NEIGHBOURS]
            neighbours = sum(q.astype(np.int8) for q in p)  # (h, w): B(P1)
            transitions = sum((~p[k] & p[(k + 1) % 8]).astype(np.int8) for k in range(8))  # A(P1)
            if step == 0:
                rule = ~(p[0] & p[2] & p[4]) & ~(p[2] & p[4] & p[6])
            else:
                rule = ~(p[0] & p[2] & p[6]) & ~(p[0] & p[4] & p[6])
            remove = core & (neighbours >= 2) & (neighbours <= 6) & (transitions == 1) & rule
            if remove.any():
                core &= ~remove
                changed = True
        if not changed:
            return core.copy()


def distance_to(points: Mask) -> Array:
    """(h, w) float32: the Euclidean distance from each pixel to the nearest True of points (h, w);
    inf everywhere when there is none."""
    height, width = points.shape
    if not points.any():
        return np.full((height, width), np.inf, dtype=np.float32)
    cols = np.arange(width)
    far = 2 * (height + width)  # beyond any distance in the picture
    left = np.maximum.accumulate(np.where(points, cols, -far), axis=1)  # (h, w): nearest marked column ≤ c
    right = np.minimum.accumulate(np.where(points, cols, 2 * far)[:, ::-1], axis=1)[:, ::-1]  # ... ≥ c
    along_row = np.minimum(cols - left, right - cols).astype(np.float32)  # (h, w)
    rows = np.arange(height, dtype=np.float32)
    across = np.square(rows[:, None] - rows[None, :])  # (h, h): (r − r')²
    squared = (np.square(along_row)[None, :, :] + across[:, :, None]).min(axis=1)  # (h, w)
    return np.sqrt(squared)


def pen_radii(points: NDArray[np.intp], reach: NDArray[np.float32], width: float, box: int) -> NDArray[np.float32]:
    """The pen's radius (px) at each centre-line point (n, 2) (row, col), from its reach (n,): the
    distance from the point to the paper, the marker's radius there.

    The marker's own radius is the median reach R̃; a point reaching further (a filled loop, a
    blob) keeps the excess, e = max(reach − R̃, 0), so a filled blob shrinks as the strokes do and
    is not lost. ρ = r + e, with r chosen so the strokes are `width` MNIST px wide once the
    drawing's longer side (S₀ + 2r, S₀ from the points' extents p ± e) is scaled to `box` MNIST px:
    2r · box / (S₀ + 2r) = width  ⇒  r = width · S₀ / (2 (box − width)).
    """
    excess = np.maximum(reach - np.median(reach), 0.0) if KEEP_BLOBS else np.zeros_like(reach)  # (n,)
    low = (points - excess[:, None]).min(axis=0)  # (2,): top, left of the drawing without r
    high = (points + excess[:, None]).max(axis=0)  # (2,): bottom, right
    side = float((high - low).max()) + 1
    return (width * side / (2 * (box - width)) + excess).astype(np.float32)


def draw_discs(points: NDArray[np.intp], radii: NDArray[np.float32], shape: tuple[int, int]) -> Array:
    """A round pen pressed at each point (n, 2) with its radius (n,): (h, w) float32 ink in [0, 1],
    anti-aliased: ink(q) = clip(max over p of (ρ_p − |q − p|) + ½, 0, 1)."""
    height, width = shape
    rr, cc = np.mgrid[:height, :width].astype(np.float32)  # (h, w) each
    best = np.full((height, width), -np.inf, dtype=np.float32)
    for start in range(0, len(points), DISC_CHUNK):  # (chunk, h, w) at a time: a few MB
        p, r = points[start:start + DISC_CHUNK], radii[start:start + DISC_CHUNK]
        distance = np.hypot(rr[None] - p[:, 0, None, None], cc[None] - p[:, 1, None, None])
        np.maximum(best, (r[:, None, None] - distance).max(axis=0), out=best)
    return np.clip(best + 0.5, 0.0, 1.0)


def restroke(ink: Array, width: float, box: int, upscale: int, shrink: float | None = None) -> Array:
    """Steps 1-5: the saturated bold ink (h, w), `upscale` px per MNIST px, thinned to its centre
    line and redrawn so the strokes are `width` MNIST px wide once the digit's longer side is
    `box` MNIST px.

    Returns the new ink, padded by enough to hold every disc; ink itself when no stroke is found.
    """
    mask = ink_mask(ink, upscale)
    line = thin(mask)
    if not line.any():
        return ink
    reach = distance_to(~np.pad(mask, 1))[1:-1, 1:-1][line]  # (n,): the paper is outside too
    points = np.argwhere(line)  # (n, 2)
    if shrink is None:
        radii = pen_radii(points, reach, width, box)
    else:
        radii = np.maximum(reach - shrink, FLOOR * upscale / 2).astype(np.float32)
    margin = math.ceil(float(radii.max())) + 1
    return draw_discs(points + margin, radii, (ink.shape[0] + 2 * margin, ink.shape[1] + 2 * margin))
