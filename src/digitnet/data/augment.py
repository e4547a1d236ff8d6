"""Data augmentation: new training images made from the old ones, fresh every epoch.

A digit moved, turned, stretched, bent or drawn with a thicker pen is still the same digit;
training on such variants teaches the network what does not matter. Each name below is one
kind of change; names combine with "+" ("elastic+thickness"), and whatever the order written,
they act in the order of AUGMENTATIONS:

    shift      every image moves by whole pixels (dy, dx), each uniform in [−2, 2]
    affine     rotation by θ ~ U(−12°, 12°), scaling of rows and columns by independent
               factors ~ U(0.88, 1.12), shear by ~ U(−0.2, 0.2), about the image centre
    elastic    Simard et al. (2003) elastic distortion: a random displacement field with every
               component ~ U(−1, 1), smoothed by a Gaussian of σ = 4 px and scaled by α = 34:
               the output at q reads the source at q + α·(G_σ ∗ U)(q)
    thickness  the pen: each image blends towards its grey-scale dilation (thicker strokes, t > 0)
               or its erosion (thinner, t < 0) by |t|, t ~ U(−0.5, 1); 4-neighbour structuring element
    marker     once, before the first epoch: a share of the training images is redrawn with a
               bold round pen along its centre line and prepared as a picture's digit is
               (thinned toward MNIST's pen, scaled, centred), and the drawings join the training
               images (data.marker; the trainer makes them, augment() leaves them to it); the
               changes below then act on them every epoch as on the others
    closing    a marker's digit as the preprocessing hands it over: CLOSING_SHARE of the images
               are dilated k times then eroded k times, k ∈ {1, 2} (a grey closing, 4-neighbour):
               loops and gaps narrower than ~2k px fill in, strokes keep their width. Measured
               (modern, seed 0, 300 marker pictures of benchmarks/realworld_kinds.py, erosion in
               the preprocessing): share 0.3 read 94.0% of them (without: 92.3%; share 0.15:
               93.7%). Both the modern preset and the best use it: modern, seeds 0-2 on 3,500
               marker pictures, 94.2-94.7% against 92.6-93.4% without, its MNIST test accuracy
               unchanged on average (97.30%; shares 0.2, 0.4, 0.5 did no better); best, marker
               pictures 96.0% -> 96.6%, MNIST 99.33% -> 99.42% (seed 0; a share of 0.6, or k up
               to 3, read no more of them)

shift, affine and elastic make one source point per output pixel (digitnet.data.warp) and one
bilinear sample per image: x'(q) = x(A⁻¹(q − p₀ − t) + p₀ + d(q)). Images keep their range
[0, 1]. Randomness comes only from the generator passed in (the trainer's), so a run is
deterministic per seed; the caller's array is never modified. The images are made in chunks,
shared out between as many threads as BLAS may use (both cores here; OPENBLAS_NUM_THREADS=1
keeps it to one); every random draw is made by the calling thread in chunk order, so the images
do not depend on the thread count. On two threads the best preset's affine+elastic+closing
takes 944 ms for the 60,000 training images, against 1,331 ms on one (BENCHMARKS.md).

Shapes: X is (n, 784), one 28×28 image per row, row-major.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from digitnet.data import warp
from digitnet.engines.threads import augment_pool, current_blas_threads, limit_blas_threads

AUGMENTATIONS = ("marker", "shift", "affine", "elastic", "thickness", "closing")
ONCE = ("marker",)  # made once, when training starts (by the trainer), not every epoch

MAX_SHIFT = 2  # pixels
SHIFT_CHUNK = 1024  # images per pass of random_shift (3 MB: stays in cache)
MAX_ROTATION = 12.0  # degrees
MAX_SCALE = 0.12  # relative change of each axis
MAX_SHEAR = 0.2  # column offset per row
ELASTIC_SIGMA = 4.0  # pixels (Simard 2003)
ELASTIC_ALPHA = 34.0  # pixels per unit of smoothed field (Simard 2003)
# t for thickness: up to a full dilation (MNIST ink ×1.8 on the median digit) but at most half an
# erosion (a full one leaves a median digit 27% of its ink: strokes 2 px wide vanish).
THICKNESS_RANGE = (-0.5, 1.0)
# closing: this share of the images is dilated k times then eroded k times, k ∈ {1, 2}: a marker
# (loops filled) brought back to a pen's width, what the preprocessing makes of a marker picture.
CLOSING_SHARE = 0.3


def parse_augment(spec: str | None) -> tuple[str, ...]:
    """The names in an augmentation spec ("elastic+thickness"), in the order they act; () for None.

    ValueError for an unknown or repeated name, listing the valid ones.
    """
    if spec is None:
        return ()
    if not isinstance(spec, str):
        raise ValueError(f"augmentation must be a string like 'elastic+thickness'; got {type(spec).__name__}")
    names = [part.strip() for part in spec.split("+")]
    for name in names:
        if name not in AUGMENTATIONS:
            raise ValueError(
                f"unknown augmentation {name!r} in {spec!r}; expected names from "
                f"{', '.join(AUGMENTATIONS)} joined by '+' (e.g. 'elastic+thickness'), or none"
            )
    if len(set(names)) != len(names):
        raise ValueError(f"augmentation {spec!r} names one kind twice")
    return tuple(name for name in AUGMENTATIONS if name in names)


def epoch_augmentations(spec: str | None) -> tuple[str, ...]:
    """The names in spec that change the images every epoch (all but ONCE), in the order they act."""
    return tuple(name for name in parse_augment(spec) if name not in ONCE)


def check_augment(spec: str | None) -> str | None:
    """spec itself if every name in it is known; ValueError otherwise."""
    parse_augment(spec)
    return spec


def augment(x: NDArray[np.floating], spec: str | None, rng: np.random.Generator, side: int = 28,
            out: NDArray[np.floating] | None = None) -> NDArray[np.floating]:
    """New images: every row of x (n, side²) changed as spec says, with draws from rng.

    Returns a new (n, side²) array (x itself when spec is None), float32 (shift alone: x's dtype),
    written into `out` when given (an array of that shape and dtype, not x: a trainer reuses one
    every epoch, as fresh memory each epoch cost more in page faults than the augmentation itself).
    The draws come in a fixed order (every image's shift, then its affine map, then its thickness,
    then the elastic fields chunk by chunk), so the same generator state gives the same images.
    """
    names = epoch_augmentations(spec)  # (marker drawings are the trainer's: data.marker)
    if not names:
        return x
    if names == ("shift",):
        return random_shift(x, rng, MAX_SHIFT, side, out=out)  # whole-pixel moves need no interpolation
    n = len(x)
    out = _output(out, (n, side * side), np.float32)
    images = x.reshape(n, side, side)
    # Per-image parameters first (in AUGMENTATIONS order), then chunk by chunk the elastic fields,
    # so every temporary is (CHUNK, side, side): small enough to stay in the CPU's cache.
    shifts = np.zeros((n, 2))
    matrices = np.broadcast_to(np.eye(2), (n, 2, 2))
    if "shift" in names:
        shifts = rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, size=(n, 2)).astype(np.float64)  # (n, 2)
    if "affine" in names:
        matrices = random_affine(n, rng)  # (n, 2, 2)
    thickness = rng.uniform(*THICKNESS_RANGE, n) if "thickness" in names else None  # (n,)
    closing = None
    if "closing" in names:  # (n,): 0 (untouched), 1 or 2 steps
        closing = np.where(rng.random(n) < CLOSING_SHARE, rng.integers(1, 3, n), 0)
    geometric = any(name in names for name in ("shift", "affine", "elastic"))
    elastic = "elastic" in names
    images_out = out.reshape(n, side, side)
    chunks = [slice(start, min(n, start + warp.CHUNK)) for start in range(0, n, warp.CHUNK)]
    # Threads pay for the warps; the pen changes alone are too quick to share (closing ran 1.5× slower).
    parts = max(1, min(current_blas_threads(), len(chunks))) if geometric else 1  # (before BLAS is narrowed)

    def run(part: slice, noise: NDArray | None) -> None:
        chunk = images[part]
        if geometric:
            rows, cols = warp.affine_source(matrices[part], shifts[part], side)  # (chunk, side, side) each
            if noise is not None:
                d_rows, d_cols = smooth_field(noise, side)
                rows += d_rows
                cols += d_cols
            chunk = warp.bilinear(chunk, rows, cols)
        if thickness is not None:
            chunk = change_thickness(chunk, thickness[part])
        if closing is not None:
            chunk = close_strokes(chunk, closing[part])  # (a float32 copy)
        images_out[part] = chunk

    with limit_blas_threads(1):  # the fields' small products: a second thread only hands off
        # `parts` chunks at a time: their noise drawn here in chunk order (so the images do not
        # depend on the thread count), the first worked on by this thread, the others by the pool.
        for first in range(0, len(chunks), parts):
            group = chunks[first:first + parts]
            noises = [elastic_noise(part.stop - part.start, side, rng) if elastic else None for part in group]
            others = [augment_pool().submit(run, part, noise) for part, noise in zip(group[1:], noises[1:])]
            try:
                run(group[0], noises[0])
            finally:  # (the others write into `out` too: never return or raise while they run)
                for job in others:
                    job.result()
    return out


def _output(out: NDArray[np.floating] | None, shape: tuple[int, int], dtype) -> NDArray[np.floating]:
    """`out` checked (shape, dtype, C order), or a new array."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if out.shape != shape or out.dtype != np.dtype(dtype) or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-ordered {np.dtype(dtype).name} array of shape {shape}, "
                         f"not {out.dtype.name} {out.shape}")
    return out


def random_affine(n: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """(n, 2, 2) forward matrices A = R(θ) · Shear(s) · Scale(sy, sx) acting on (row, col).

    R(θ) turns content by θ (counter-clockwise on screen for θ > 0: rows point down).
    """
    theta = np.deg2rad(rng.uniform(-MAX_ROTATION, MAX_ROTATION, n))
    scale = rng.uniform(1 - MAX_SCALE, 1 + MAX_SCALE, (n, 2))  # (n, 2): rows, cols
    shear = rng.uniform(-MAX_SHEAR, MAX_SHEAR, n)
    return rotation_matrices(theta) @ shear_matrices(shear) @ (scale[:, :, None] * np.eye(2))


def rotation_matrices(theta: NDArray) -> NDArray[np.float64]:
    """(n, 2, 2): content turned by θ radians, counter-clockwise as seen on screen.

    On screen (x right, y up) a turn is x' = x cos θ − y sin θ, y' = x sin θ + y cos θ; with
    row = −y and col = x that is row' = row cos θ − col sin θ, col' = row sin θ + col cos θ.
    """
    cos, sin = np.cos(theta), np.sin(theta)
    return np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], 1)


def shear_matrices(shear: NDArray) -> NDArray[np.float64]:
    """(n, 2, 2): col' = col + s·row (a row further down moves further right for s > 0)."""
    ones, zeros = np.ones_like(shear), np.zeros_like(shear)
    return np.stack([np.stack([ones, zeros], -1), np.stack([shear, ones], -1)], 1)


def elastic_field(n: int, side: int, rng: np.random.Generator,
                  sigma: float = ELASTIC_SIGMA, alpha: float = ELASTIC_ALPHA) -> tuple[NDArray, NDArray]:
    """Simard's displacement field d = α · G_σ ∗ U, U ~ U(−1, 1) per pixel and component.

    Returns (d_rows, d_cols), each (n, side, side) float32, in pixels.
    """
    return smooth_field(elastic_noise(n, side, rng), side, sigma, alpha)


def elastic_noise(n: int, side: int, rng: np.random.Generator) -> NDArray[np.float32]:
    """U ~ U(−1, 1) for n fields of 2 components, laid out (side, 2n·side): field k is U[:, k·side:(k+1)·side]
    (the noise is i.i.d., so its layout is free, and this one makes G U G two plain matrix products
    without a transposed copy)."""
    return rng.random((side, n * 2 * side), dtype=np.float32) * 2 - 1


def smooth_field(U: NDArray[np.float32], side: int, sigma: float = ELASTIC_SIGMA,
                 alpha: float = ELASTIC_ALPHA) -> tuple[NDArray, NDArray]:
    """α · G_σ ∗ U for noise U from elastic_noise: (d_rows, d_cols), each (n, side, side) float32."""
    n = U.shape[1] // (2 * side)
    G = warp.gaussian_matrix(side, sigma)  # (side, side), symmetric
    smoothed = (G @ U).reshape(side * n * 2, side) @ (G * np.float32(alpha))  # (side·2n, side)
    field = smoothed.reshape(side, n, 2, side).transpose(1, 2, 0, 3)  # (n, 2, side, side), a view
    return field[:, 0], field[:, 1]


def change_thickness(images: NDArray[np.floating], t: NDArray[np.floating]) -> NDArray[np.float32]:
    """Each image (n, h, w) blended towards its dilation (t > 0) or erosion (t < 0) by |t| ≤ 1.

    out = x + t·(dilate(x) − x) for t ≥ 0 and x + |t|·(erode(x) − x) for t < 0; t: (n,).
    Returns a new float32 (n, h, w) array in [0, 1].
    """
    images = np.asarray(images, dtype=np.float32)
    t = np.asarray(t, dtype=np.float32)[:, None, None]  # (n, 1, 1)
    target = np.where(t >= 0, dilate(images), erode(images))
    target -= images
    target *= np.abs(t)
    target += images
    return np.clip(target, 0.0, 1.0, out=target)  # a convex blend; the clip only absorbs rounding


def close_strokes(images: NDArray[np.floating], steps: NDArray[np.integer]) -> NDArray[np.float32]:
    """Each image (n, h, w) dilated steps[i] times, then eroded as many times (a grey closing: gaps
    and loops narrower than the steps fill in, stroke widths come back). steps: (n,) ≥ 0."""
    out = np.array(images, dtype=np.float32)
    for k in np.unique(steps[steps > 0]):
        chosen = np.flatnonzero(steps == k)
        part = out[chosen]
        for _ in range(int(k)):
            part = dilate(part)
        for _ in range(int(k)):
            part = erode(part)
        out[chosen] = part
    return out


def dilate(images: NDArray[np.floating]) -> NDArray[np.floating]:
    """Grey-scale dilation: each pixel the max of itself and its 4 neighbours (0 outside). (n, h, w)."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    out = np.maximum(images, padded[:, :-2, 1:-1])
    np.maximum(out, padded[:, 2:, 1:-1], out=out)
    np.maximum(out, padded[:, 1:-1, :-2], out=out)
    return np.maximum(out, padded[:, 1:-1, 2:], out=out)


def erode(images: NDArray[np.floating]) -> NDArray[np.floating]:
    """Grey-scale erosion: each pixel the min of itself and its 4 neighbours (0 outside). (n, h, w)."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    out = np.minimum(images, padded[:, :-2, 1:-1])
    np.minimum(out, padded[:, 2:, 1:-1], out=out)
    np.minimum(out, padded[:, 1:-1, :-2], out=out)
    return np.minimum(out, padded[:, 1:-1, 2:], out=out)


def random_shift(x: NDArray[np.floating], rng: np.random.Generator, max_shift: int = MAX_SHIFT, side: int = 28,
                 out: NDArray[np.floating] | None = None) -> NDArray[np.floating]:
    """Each row of x (n, side²) shifted by (dy, dx) drawn uniformly from [−max_shift, max_shift]².

    Returns a new (n, side²) array of x's dtype (written into `out` when given); x is not modified.
    Chunk by chunk, the images are sorted by their shift, so each shift is one slice copy of a run
    of images, and every temporary is one chunk (in cache; no padded copy of the whole set).
    """
    n = len(x)
    images = np.asarray(x).reshape(n, side, side)
    k = int(max_shift)
    width = 2 * k + 1
    shifts = rng.integers(-k, k + 1, size=(n, 2))  # (n, 2): dy, dx
    codes = (shifts[:, 0] + k) * width + (shifts[:, 1] + k)
    out = _output(out, (n, side * side), images.dtype)
    moved_all = out.reshape(n, side, side)
    moved = np.empty((min(n, SHIFT_CHUNK), side, side), dtype=images.dtype)
    for start in range(0, n, SHIFT_CHUNK):
        stop = min(n, start + SHIFT_CHUNK)
        order = np.argsort(codes[start:stop], kind="stable")
        bounds = np.searchsorted(codes[start:stop][order], np.arange(width * width + 1))
        source = images[start:stop][order]
        chunk = moved[: stop - start]
        chunk.fill(0)
        for code in range(width * width):
            lo, hi = bounds[code], bounds[code + 1]
            if lo == hi:
                continue
            dy, dx = code // width - k, code % width - k
            # Content moves by (dy, dx): output pixel (r, c) reads input pixel (r − dy, c − dx).
            chunk[lo:hi, max(dy, 0) : side + min(dy, 0), max(dx, 0) : side + min(dx, 0)] = \
                source[lo:hi, max(-dy, 0) : side + min(-dy, 0), max(-dx, 0) : side + min(-dx, 0)]
        moved_all[start:stop][order] = chunk
    return out
