"""Cleaning a picture before its ink is cropped: background, noise, threshold.

A photo or a scan is not a canvas. Light falls unevenly across the paper, the sensor adds grain,
JPEG adds ringing around every edge; counted as ink, each widens the crop until the digit shrinks
to a few pixels (and the dark side of a sheet becomes a blob of "ink"). digitnet.data.preprocess
runs these steps, each a small function, on channels (h, w, c) float32 in [0, 1] (c = 1 grey,
3 RGB, or the alpha channel alone):

1. Background, the paper's colour at every pixel:
   - `border_background`: the per-channel median of the outermost ring (RING of the shorter
     side) — a canvas or a scan, where the paper is one colour;
   - `lighting_background`: a smooth surface fitted to the paper, for a photo lit from one side:
     per channel, a least-squares quadratic
         bg(u, v) = k₀ + k₁u + k₂v + k₃u² + k₄uv + k₅v²     (u, v ∈ [−1, 1] across the picture)
     fitted to a coarse copy of the picture (LIGHT_SIDE px), again and again, each fit leaving
     out the pixels the previous one found far on the ink side of it (the strokes);
   - `estimate_background` takes the surface only where lighting is uneven: when it strays from
     the border colour by more than UNEVEN somewhere in the picture, and fits the paper on the
     outermost ring at least twice as closely as the border colour does;
   - `even_out_shadow`: a shadow with a sharp edge (a hand, a phone, a fold across the page)
     is neither one colour nor a smooth surface. Where neither explains the outermost ring
     (SHADOWED of it stays SHADOW_STEP away), the paper is taken as the picture's grey closing
     (`closing`: the largest value over a SHADOW_WINDOW square, then the smallest — strokes
     thinner than the square vanish, while the shadow, wider than it, keeps its sharp edge) if
     that explains the ring four times better and is a shadow (its darkest paper on the ring
     keeps SHADOW_DEPTH of the light), not a bold stroke at the edge. The paper is held no
     darker than that shade, so a blot wider than the square stays ink. Dark ink is then
     evened out: every pixel divided by its paper and multiplied by the lit paper's colour, so
     a stroke in the shadow is as dark as one in the light. `shadow_across_border` and
     `ink_is_dark` tell the ink's polarity when the shadow covers most of the border
     (digitnet.data.preprocess).
2. `ink_from_background`: ink(p) = ‖rgb(p) − bg(p)‖ / √c, the distance to the paper colour
   (0 paper, 1 black on white). One rule covers dark on light, light on dark, coloured ink.
3. `denoise`: a Gaussian blur (σ = DENOISE_SIGMA px) of the picture, then the ink of that.
   Grain and ringing average out; a stroke, wider than a pixel, keeps its height. The blurred
   ink decides *where* the digit is; the digit keeps its own, unblurred grey values.
4. `noise_level`: the median blurred ink on the outermost ring (paper, by the same assumption
   as the border colour, so strokes touching the edge do not count).
5. `ink_threshold`: Otsu's threshold of the blurred ink (the level that best splits its
   histogram in two), kept between MASK_LOW·peak and MASK_HIGH·peak and NOISE_MARGIN times
   above the noise level. Pixels above it are the candidate ink (digitnet.data.components).
6. `ruled_lines`, `remove_lines`: a ruled or squared page's printed lines cross it from edge to
   edge, so each is its row's (column's) median ink; with at least MIN_LINES of them (each at
   most LINE_WIDTH of the page thick: `thin_runs`) the medians are subtracted, and the lines no
   longer join the digit's pieces.
7. `subtract_floor`: ink' = clip((ink − floor) / (1 − floor), 0, 1) lifts the grey veil of
   noise off the paper inside the digit's region (floor = the unblurred ink's noise level).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFilter

__all__ = [
    "DENOISE_SIGMA",
    "LIGHT_SIDE",
    "UNEVEN",
    "border_background",
    "border_ring",
    "closing",
    "denoise",
    "estimate_background",
    "even_out_shadow",
    "gaussian_blur",
    "ink_from_background",
    "ink_is_dark",
    "ink_threshold",
    "lighting_background",
    "noise_level",
    "otsu_threshold",
    "remove_lines",
    "ring_misfit",
    "ruled_lines",
    "shadow_across_border",
    "sliding_extreme",
    "subtract_floor",
    "thin_runs",
]

Array = NDArray[np.float32]

LIGHT_SIDE = 48  # the coarse copy the lighting surface is fitted to (longer side, px)
FIT_ROUNDS = 6  # least-squares fits, each without the ink the previous one found
UNEVEN = 0.06  # lighting counts as uneven when the surface strays this far from the border colour
MIN_LIGHT_SIDE = 64  # smaller pictures (a 28×28 digit, an icon) are taken as evenly lit
DENOISE_SIGMA = 1.0  # px of the working picture
MASK_LOW, MASK_HIGH = 0.2, 0.5  # the threshold stays within these fractions of the peak ink
NOISE_MARGIN = 4.0  # ... and this many times above the paper's noise level
LINE_MARGIN, LINE_MIN, MIN_LINES = 3.0, 0.04, 4  # a ruled page's printed lines: see ruled_lines
LINE_WIDTH = 0.04  # a printed line is at most this share of the page thick (a bold digit's stroke is more)
LINE_SPAN = 0.6  # fewer lines count when the ink off them spans at most this share of the page: a form
RING = 0.02  # the outermost ring: this fraction of the shorter side, at least 1 px
SHADOW_STEP = 0.08  # a ring pixel this far from the paper's estimate is not explained by it ...
SHADOWED = 0.2  # ... and a shadow crosses the border when this share of the ring is so
SHADOW_WINDOW = 0.12  # the shadow's paper: a closing by a square this fraction of the shorter side
MIN_SHADOW_WINDOW = 9  # px, at least
SHADOW_DEPTH = 0.3  # a shadow keeps at least this share of the light (ink keeps less)
EXTREME = 0.1  # ink is this far beyond the border's darkest (or lightest) paper


# --------------------------------------------------------------------------- background


def border_ring(values: NDArray, fraction: float = 0.0) -> NDArray:
    """The outermost rows and columns of (h, w, ...) as (n, ...); `fraction` of the shorter side
    thick (at least 1 px). Corners are counted twice, which a median does not mind."""
    k = max(1, int(fraction * min(values.shape[:2])))
    return np.concatenate(
        [values[:k].reshape(-1, *values.shape[2:]), values[-k:].reshape(-1, *values.shape[2:]),
         values[:, :k].reshape(-1, *values.shape[2:]), values[:, -k:].reshape(-1, *values.shape[2:])]
    )


def border_background(channels: Array) -> Array:
    """bg = median over the outermost ring (RING of the shorter side, at least 1 px), per
    channel: (c,). A ring a few px wide, so one printed line along the edge cannot be it."""
    return np.median(border_ring(channels, RING), axis=0).astype(np.float32)


def _quadratic_terms(u: NDArray, v: NDArray) -> NDArray:
    """[1, u, v, u², uv, v²] for each point: (n,) -> (n, 6)."""
    return np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=1)


def lighting_background(channels: Array, dark_ink: bool) -> Array:
    """bg(u, v) = k₀ + k₁u + k₂v + k₃u² + k₄uv + k₅v² per channel, fitted to the paper: (h, w, c).

    dark_ink: the ink is darker than the paper (else lighter). The surface is fitted by least
    squares to a LIGHT_SIDE px copy, FIT_ROUNDS times; after each fit the pixels more than
    2.5 robust spreads on the ink side of it (ink, not paper) are left out of the next.
    """
    height, width, depth = channels.shape
    scale = LIGHT_SIDE / max(height, width)
    small_w, small_h = max(2, round(width * scale)), max(2, round(height * scale))
    sign = 1.0 if dark_ink else -1.0  # residuals on the ink side are negative after this sign
    v, u = np.meshgrid(np.linspace(-1, 1, small_h), np.linspace(-1, 1, small_w), indexing="ij")
    terms = _quadratic_terms(u.ravel(), v.ravel()).astype(np.float64)  # (n, 6)
    full_v, full_u = np.linspace(-1, 1, height), np.linspace(-1, 1, width)
    surface = np.empty((height, width, depth), dtype=np.float32)
    for c in range(depth):
        small = np.asarray(Image.fromarray(np.ascontiguousarray(channels[..., c]))
                           .resize((small_w, small_h), Image.Resampling.BOX), dtype=np.float64).ravel()
        keep = np.ones(small.size, dtype=bool)
        for _ in range(FIT_ROUNDS):
            fit = terms[keep]  # (m, 6): least squares by the normal equations, 6 unknowns
            k = np.linalg.solve(fit.T @ fit + 1e-9 * np.eye(6), fit.T @ small[keep])  # (6,)
            residual = sign * (small - terms @ k)
            spread = 1.4826 * np.median(np.abs(residual[keep])) + 1e-3
            keep = residual > -2.5 * spread
        # The surface at every pixel: separable in u and v, so no (h·w, 6) matrix is built.
        surface[..., c] = (k[0] + k[2] * full_v[:, None] + k[5] * full_v[:, None] ** 2
                           + (k[1] + k[4] * full_v[:, None]) * full_u[None, :] + k[3] * full_u[None, :] ** 2)
    return np.clip(surface, 0.0, 1.0)


def estimate_background(channels: Array, dark_ink: bool) -> tuple[Array, bool]:
    """The paper colour at every pixel, broadcastable to (h, w, c), and whether lighting is uneven.

    The border colour (c,), unless the picture is large enough to be a photo and the fitted
    lighting surface (h, w, c) both strays from it by more than UNEVEN somewhere and explains
    the outermost ring (paper) better: its median distance to the ring is under half the border
    colour's. A clean canvas's ring *is* the border colour, so a surface bent by bold strokes
    never replaces it.
    """
    flat = border_background(channels)  # (c,)
    if max(channels.shape[:2]) < MIN_LIGHT_SIDE:
        return flat, False
    surface = lighting_background(channels, dark_ink)  # (h, w, c)
    depth = channels.shape[-1]
    stray = np.sqrt(np.square(surface - flat).sum(axis=-1) / depth)  # (h, w)
    if float(stray.max()) <= UNEVEN:
        return flat, False
    ring = border_ring(channels, RING)  # (n, c)
    to_flat = np.median(np.sqrt(np.square(ring - flat).sum(axis=-1) / depth))
    to_surface = np.median(np.sqrt(np.square(ring - border_ring(surface, RING)).sum(axis=-1) / depth))
    if to_surface >= 0.5 * to_flat:
        return flat, False
    return surface, True


def sliding_extreme(values: Array, size: int, axis: int, largest: bool) -> Array:
    """The largest (or smallest) value in a window of `size` (odd) centred on each element along
    `axis`; positions past the ends do not count. Van Herk / Gil-Werman: the values cut into
    blocks of `size`, a running maximum forward and backward inside each block, so every window
    is one suffix and one prefix whatever its size — three passes over the array."""
    moved = np.moveaxis(values, axis, -1)
    n, half = moved.shape[-1], size // 2
    blocks = -(-(n + 2 * half) // size)
    padded = np.full((*moved.shape[:-1], blocks * size), -np.inf if largest else np.inf, dtype=np.float32)
    padded[..., half:half + n] = moved
    running = np.maximum.accumulate if largest else np.minimum.accumulate
    cut = padded.reshape(*moved.shape[:-1], blocks, size)
    prefix = running(cut, axis=-1).reshape(padded.shape)
    suffix = running(cut[..., ::-1], axis=-1)[..., ::-1].reshape(padded.shape)
    pick = np.maximum if largest else np.minimum
    return np.moveaxis(pick(suffix[..., :n], prefix[..., size - 1:size - 1 + n]), -1, axis)


def closing(plane: Array, size: int, dark_ink: bool) -> Array:
    """The paper under dark ink: the largest value over a size × size square, then the smallest
    (light ink: the smallest, then the largest). Strokes thinner than the square are gone; the
    edge of anything wider (a shadow) stays where it was. (h, w) -> (h, w)."""
    first, second = (True, False) if dark_ink else (False, True)
    for largest in (first, second):
        plane = sliding_extreme(sliding_extreme(plane, size, 0, largest), size, 1, largest)
    return plane


def ring_misfit(channels: Array, background: Array) -> float:
    """The share of the outermost ring further than SHADOW_STEP from `background` (c,) or (h, w, c)."""
    depth = channels.shape[-1]
    ring = border_ring(channels, RING)  # (n, c)
    paper = border_ring(np.broadcast_to(background, channels.shape), RING) if background.ndim == 3 else background
    return float(np.mean(np.sqrt(np.square(ring - paper).sum(axis=-1) / depth) > SHADOW_STEP))


def shadow_across_border(channels: Array) -> bool:
    """Whether the outermost ring is paper of two brightnesses (a shadow crosses it): SHADOWED of
    it or more stands SHADOW_STEP from its median colour. Photos only (MIN_LIGHT_SIDE)."""
    if max(channels.shape[:2]) < MIN_LIGHT_SIDE:
        return False
    return ring_misfit(channels, np.median(border_ring(channels, RING), axis=0)) > SHADOWED


def ink_is_dark(channels: Array) -> bool:
    """Whether more pixels are EXTREME darker than the ring's darkest paper (its 2nd percentile
    of brightness) than lighter than its lightest (98th): the ink's side, whatever the shadows."""
    brightness = channels.mean(axis=-1)  # (h, w)
    low, high = np.percentile(border_ring(brightness, RING), [2, 98])
    return int(np.count_nonzero(brightness < low - EXTREME)) >= int(np.count_nonzero(brightness > high + EXTREME))


def even_out_shadow(channels: Array, background: Array, dark_ink: bool) -> tuple[Array, Array, bool]:
    """A sharp-edged shadow taken off: (channels, background, found).

    When `background` leaves SHADOWED of the outermost ring unexplained, the paper is re-estimated
    as the closing of the lightly blurred picture (a SHADOW_WINDOW square); it is taken if it leaves
    under a quarter as much of the ring unexplained. For dark ink, the shade is the darkest paper
    on the ring (a shadow falls from outside the page); if it keeps under SHADOW_DEPTH of the lit
    paper's brightness it is a bold stroke cut by the edge, and nothing changes. The paper is held
    no darker than the shade (a blot wider than the square is ink), and the picture is evened out
    — channels × lit / paper, the background the lit paper's colour (c,) — so strokes in the
    shadow are as dark as the others. Light ink keeps the closing as its background.
    """
    if max(channels.shape[:2]) < MIN_LIGHT_SIDE or (misfit := ring_misfit(channels, background)) <= SHADOWED:
        return channels, background, False
    size = max(MIN_SHADOW_WINDOW, int(SHADOW_WINDOW * min(channels.shape[:2]))) | 1
    smooth = gaussian_blur(channels, DENOISE_SIGMA)
    paper = np.stack([closing(smooth[..., c], size, dark_ink) for c in range(channels.shape[-1])], axis=-1)
    if ring_misfit(channels, paper) >= 0.25 * misfit:
        return channels, background, False
    if not dark_ink:
        return channels, paper, True
    # A shadow falls from outside the page, so the border holds its darkest part; a blot darker
    # than that inside (a bold stroke wider than the square) is ink, not shade.
    ring = border_ring(paper, RING)  # (n, c)
    shade = ring[int(np.argmin(ring.mean(axis=-1)))]  # (c,)
    brightness = paper.mean(axis=-1)  # (h, w)
    colour = paper[np.unravel_index(int(np.argmax(brightness)), brightness.shape)]  # (c,): the lit paper
    if float(shade.mean()) < SHADOW_DEPTH * float(colour.mean()):  # as dark as ink: a bold stroke at the edge
        return channels, background, False
    paper = np.maximum(paper, shade)
    evened = np.clip(channels * (colour / np.maximum(paper, 1e-3)), 0.0, 1.0).astype(np.float32)
    return evened, colour.astype(np.float32), True


def ink_from_background(channels: Array, background: Array) -> Array:
    """ink = ‖pixel − bg‖ / √c: (h, w, c), (c,) or (h, w, c) -> (h, w) in [0, 1]."""
    depth = channels.shape[-1]
    total = np.zeros(channels.shape[:2], dtype=np.float32)
    for c in range(depth):  # one plane at a time: a reduction over a short last axis is slow
        difference = channels[..., c] - background[..., c]
        total += difference * difference
    return np.sqrt(total / depth)


# --------------------------------------------------------------------------- noise


def gaussian_blur(values: Array, sigma: float) -> Array:
    """G_σ * values over the first two axes of (h, w) or (h, w, c) in [0, 1]: shape kept.

    Pillow's Gaussian blur on 8-bit planes (C speed; edges repeated). Eight bits are plenty for
    what it serves: deciding where ink is, at levels far above 1/255.
    """
    planes = values[..., None] if values.ndim == 2 else values
    out = np.empty(planes.shape, dtype=np.float32)
    for c in range(planes.shape[-1]):
        grey = Image.fromarray(np.round(planes[..., c] * 255).astype(np.uint8))
        out[..., c] = np.asarray(grey.filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float32) / 255
    return out[..., 0] if values.ndim == 2 else out


def denoise(channels: Array, background: Array) -> Array:
    """The ink of the blurred picture: ink_from_background(G_σ * channels, bg), σ = DENOISE_SIGMA.

    Blurring the colours before taking the distance averages signed noise to nothing (blurring
    the distance itself would only average |noise|). (h, w, c) -> (h, w).
    """
    return ink_from_background(gaussian_blur(channels, DENOISE_SIGMA), background)


def noise_level(ink: Array) -> float:
    """The median ink on the outermost ring (RING of the shorter side): the paper's noise."""
    return float(np.median(border_ring(ink, RING)))


def otsu_threshold(values: Array, bins: int = 256) -> float:
    """Otsu's threshold: the t maximising the between-class variance ω₀ω₁(μ₀ − μ₁)² of values."""
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return high
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    centres = (edges[:-1] + edges[1:]) / 2
    weight0 = np.cumsum(counts)[:-1]  # (bins - 1,): classes split after each bin
    weight1 = counts.sum() - weight0
    mass0 = np.cumsum(counts * centres)[:-1]
    mean0 = mass0 / np.maximum(weight0, 1)
    mean1 = (np.sum(counts * centres) - mass0) / np.maximum(weight1, 1)
    between = weight0 * weight1 * (mean0 - mean1) ** 2
    return float(edges[1:-1][np.argmax(between)])


def ink_threshold(smooth: Array, noise: float) -> float:
    """t = clip(Otsu(smooth), MASK_LOW·peak, MASK_HIGH·peak), at least NOISE_MARGIN·noise."""
    peak = float(smooth.max())
    otsu = otsu_threshold(smooth)
    return max(min(max(otsu, MASK_LOW * peak), MASK_HIGH * peak), NOISE_MARGIN * noise)


def ruled_lines(ink: Array, noise: float) -> tuple[Array, Array]:
    """The ink of a ruled or squared page's printed lines: per row (h,) and per column (w,).

    A printed line crosses the whole page, so it is the median of its row (or column) — a
    digit covers a few pixels of it at most. Rows whose median stands LINE_MARGIN times above
    the noise (and above LINE_MIN), and whose first and last quarters do too (the line reaches
    both edges), are line rows; only a page with at least MIN_LINES separate groups of them
    counts as ruled (a tight crop of a 7 has one bar across it, not a ruling), or a page with
    fewer whose other ink spans at most LINE_SPAN of its width (a form's line under a digit
    runs far beyond it; a 7's bar does not run beyond the 7). A group thicker
    than LINE_WIDTH of the page is not a printed line: in a tight crop of a bold digit, the
    strokes along its sides fill most of their columns (`thin_runs`). The ends matter
    for a marker: a bold 5 or 3 large on plain paper covers more than half of the rows through
    its bars, but does not reach both sides of the picture. A line's ink is the lesser of its
    median and its ends' median. Zeros where there are none. Subtract with `remove_lines`.
    """
    out = []
    least = max(LINE_MARGIN * noise, LINE_MIN)
    for lines in (ink, ink.T):  # each row of `lines` one candidate: a row of ink, then a column
        level = np.median(lines, axis=1).astype(np.float32)  # (h,) for rows, (w,) for columns
        end = max(1, lines.shape[1] // 4)
        ends = np.minimum(np.median(lines[:, :end], axis=1), np.median(lines[:, -end:], axis=1))
        line = thin_runs((level > least) & (ends > least), max(2, round(LINE_WIDTH * len(level))))
        groups = int(np.count_nonzero(line[1:] & ~line[:-1]) + line[0])
        ruled = groups >= MIN_LINES or (groups > 0 and _beyond_the_digit(lines, line))
        # The line's own ink: the lesser of its median and its ends' (a column line under a
        # digit's long vertical stroke has the stroke as its median, and must not lift it off).
        out.append(np.where(line, np.minimum(level, ends), 0.0).astype(np.float32) if ruled
                   else np.zeros_like(level))
    return out[0], out[1]


def _beyond_the_digit(lines: Array, line: NDArray[np.bool_]) -> bool:
    """Do a few line rows (of lines (h, w)) run far beyond the ink off them: a form's line, not a bar
    of the digit? The ink off the lines (at half the peak) spans at most LINE_SPAN of the width."""
    # (h,) the lines and 2 rows either side ("same" would give 5 values for a picture under 5 px)
    near = np.convolve(line, np.ones(5), mode="full")[2:2 + line.size] > 0
    off = lines[~near]
    if off.size == 0:
        return False
    strong = np.flatnonzero((off >= 0.5 * float(lines.max())).any(axis=0))
    return strong.size > 0 and strong[-1] - strong[0] + 1 <= LINE_SPAN * lines.shape[1]


def thin_runs(mask: NDArray[np.bool_], most: int) -> NDArray[np.bool_]:
    """mask (n,) with its runs of True longer than `most` cleared: (n,) bool."""
    edges = np.flatnonzero(np.diff(np.concatenate([[False], mask, [False]]).astype(np.int8)))
    out = mask.copy()
    for start, stop in zip(edges[::2], edges[1::2]):
        if stop - start > most:
            out[start:stop] = False
    return out


def remove_lines(ink: Array, rows: Array, cols: Array) -> Array:
    """ink − (row line + column line), clipped at 0: the ruling lifted off, strokes kept."""
    if not rows.any() and not cols.any():
        return ink
    return np.clip(ink - rows[:, None] - cols[None, :], 0.0, 1.0).astype(np.float32)


def subtract_floor(ink: Array, floor: float) -> Array:
    """ink' = clip((ink − floor) / (1 − floor), 0, 1): the paper's grey veil lifted off."""
    if floor <= 0.0:
        return ink
    return np.clip((ink - floor) / (1.0 - floor), 0.0, 1.0).astype(np.float32)
