"""Warping 28×28 images: every output pixel reads the input at a computed source point.

A warp is given backwards, as a map from output pixels to source points. Pixel (r, c) of image i
in the output takes the value of image i at the real-valued point (rows[i, r, c], cols[i, r, c]):

    out[i, r, c] = bilinear(image[i], rows[i, r, c], cols[i, r, c])

Bilinear interpolation between the four pixels around the point, with the outside of the image
reading 0 (background). Its output is a convex combination of input pixels, so images in [0, 1]
stay in [0, 1]. A whole batch is warped at once: the four neighbours are gathered with flat
indices (no per-image Python loop), a few thousand images at a time to bound the memory.

Coordinates: r is the row (downwards), c the column (rightwards); pixel centres sit at whole
numbers, so the image centre of a 28×28 image is (13.5, 13.5).

An affine warp moves content by a 2×2 matrix A about a centre p₀ and then by a shift t:
content at p goes to A (p − p₀) + p₀ + t, so the output at q reads the source at
A⁻¹ (q − p₀ − t) + p₀.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

CHUNK = 256  # images per pass: their temporaries (~1 MB each) stay in the CPU's cache


def grid(side: int, dtype=np.float32) -> tuple[NDArray, NDArray]:
    """The output pixels' own coordinates: rows, cols, each (side, side)."""
    r = np.arange(side, dtype=dtype)
    return np.meshgrid(r, r, indexing="ij")


def bilinear(images: NDArray[np.floating], rows: NDArray[np.floating], cols: NDArray[np.floating]) -> NDArray[np.float32]:
    """out[i, r, c] = images[i] sampled bilinearly at (rows[i, r, c], cols[i, r, c]); 0 outside.

    images: (n, h, w); rows, cols: (n, h, w) source coordinates (any real values).
    Returns a new float32 (n, h, w) array, clipped to [0, 1] (rounding aside, a blend of [0, 1]
    values is already in [0, 1]).
    """
    n, h, w = images.shape
    out = np.empty((n, h, w), dtype=np.float32)
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        out[start:stop] = _bilinear_chunk(images[start:stop], rows[start:stop], cols[start:stop])
    return np.clip(out, 0.0, 1.0, out=out)


def _bilinear_chunk(images, rows, cols):
    n, h, w = images.shape
    H, W = h + 2, w + 2
    # A border of zeros all round: every source point is clipped into [0, h+1] × [0, w+1] of the
    # padded image, so points off the picture read (and blend towards) background.
    padded = np.zeros((n, H, W), dtype=np.float32)
    padded[:, 1:-1, 1:-1] = images
    flat = padded.reshape(-1)
    r = np.clip(np.asarray(rows, np.float32) + 1, 0, H - 1)  # (n, h, w), in padded coordinates
    c = np.clip(np.asarray(cols, np.float32) + 1, 0, W - 1)
    r0 = np.minimum(np.floor(r), H - 2)  # r0 + 1 stays inside; r − r0 may then be 1: the zero border
    c0 = np.minimum(np.floor(c), W - 2)
    r -= r0  # the fractions, in [0, 1]
    c -= c0
    base = r0.astype(np.int32)
    base *= W
    base += c0.astype(np.int32)
    base += (np.arange(n, dtype=np.int32) * (H * W))[:, None, None]  # flat index of the top-left neighbour
    top, top_right = flat[base], flat[1:][base]
    bottom, bottom_right = flat[W:][base], flat[W + 1 :][base]
    # In place, to keep the temporaries few: top ← top + c·(top_right − top), the same for the
    # bottom row, then top ← top + r·(bottom − top).
    top_right -= top
    top_right *= c
    top += top_right
    bottom_right -= bottom
    bottom_right *= c
    bottom += bottom_right
    bottom -= top
    bottom *= r
    top += bottom
    return top


def affine_source(matrices: NDArray, shifts: NDArray, side: int, centre: NDArray | None = None) -> tuple[NDArray, NDArray]:
    """Source points of the affine warps q ← A (p − p₀) + p₀ + t, one per image.

    matrices: (n, 2, 2) forward matrices A acting on (row, col); shifts: (n, 2) t in pixels;
    centre: p₀, (2,) or (n, 2), default the image centre. Returns rows, cols, each (n, side, side):
    A⁻¹ (q − p₀ − t) + p₀ for every output pixel q.
    """
    matrices = np.asarray(matrices, dtype=np.float64)
    n = len(matrices)
    if centre is None:
        centre = np.full((n, 2), (side - 1) / 2)
    centre = np.broadcast_to(np.asarray(centre, dtype=np.float64), (n, 2))
    a, b, c, d = matrices[:, 0, 0], matrices[:, 0, 1], matrices[:, 1, 0], matrices[:, 1, 1]
    det = a * d - b * c
    if np.any(np.abs(det) < 1e-12):
        raise ValueError("affine matrices must be invertible; got one with determinant 0")
    inverse = np.stack([np.stack([d, -b], -1), np.stack([-c, a], -1)], 1) / det[:, None, None]  # (n, 2, 2)
    offset = centre + np.asarray(shifts, dtype=np.float64)  # (n, 2): p₀ + t
    # The source point is A⁻¹ q + (p₀ − A⁻¹ (p₀ + t)), and q = (r, c) enters linearly, so each
    # coordinate is a sum of a row term and a column term: one broadcast add per coordinate.
    constant = centre - np.einsum("nij,nj->ni", inverse, offset)  # (n, 2)
    q = np.arange(side, dtype=np.float64)  # (side,)
    row_terms = (inverse[:, :, 0, None] * q + constant[:, :, None]).astype(np.float32)  # (n, 2, side)
    col_terms = (inverse[:, :, 1, None] * q).astype(np.float32)  # (n, 2, side)
    rows = row_terms[:, 0, :, None] + col_terms[:, 0, None, :]  # (n, side, side)
    cols = row_terms[:, 1, :, None] + col_terms[:, 1, None, :]
    return rows, cols


def gaussian_matrix(side: int, sigma: float) -> NDArray[np.float32]:
    """G (side, side): G @ f smooths a length-side signal f with a Gaussian of width σ pixels.

    The kernel is normalised to sum 1 and cut at 4σ, with zeros beyond the edge (no
    renormalisation there): scipy.ndimage.gaussian_filter(f, σ, mode="constant") as a matrix, so a
    2-D field F smooths as G F Gᵀ, two batched matrix products.
    """
    radius = int(4 * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    distance = np.arange(side)[:, None] - np.arange(side)[None, :]  # (side, side): i − j
    G = np.where(np.abs(distance) <= radius, kernel[np.clip(distance + radius, 0, 2 * radius)], 0.0)
    return G.astype(np.float32)
