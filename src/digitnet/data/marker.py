"""Marker drawings: training digits redrawn with a bold pen, then prepared as a picture would be.

A digit written with a marker reaches the network through the preprocessing: its strokes,
twice MNIST's width or more, are thinned back toward MNIST's pen (data.strokes), but the loops
the marker filled stay filled and the thinning leaves its own marks (squarer ends, a blob where
strokes met). A network that has never seen that reads a bold 9 as 4 and a bold 8 as 1. So the
`marker` augmentation (data.augment) shows it such digits, made the way a picture is made:

1. `centre_line`: the digit enlarged UPSCALE times (bicubic), its stroke (brightness ≥ 0.5)
   thinned to a 1 px line by Zhang–Suen thinning — the path the writer's pen tip took.
2. `draw_with_pen`: a round pen `pen` MNIST px wide pressed at every point of that path.
3. `prepare_drawing`: the drawing cropped and handed to the same steps a picture's digit goes
   through (data.preprocess: width measured and thinned into MNIST's band, scaled to the 20 px
   box, centred by mass in 28×28).

`marker_drawings` makes them for a share of a training set: MARKER_SHARE of the images, each
with its own pen ~ U(PEN_RANGE), drawn from the trainer's generator (so per seed the same). They
are made once, when training starts (about 5 ms each here: 53 s for 19,800 on two cores), and join the
training images; the augmentations of every epoch then act on them as on the others.

Measured (the modern preset, seeds 0-2, 3,500 marker pictures of benchmarks/realworld_kinds.py,
whose generator draws its own way at its own sizes, through the whole preprocessing): see
training/presets.py.
"""

from __future__ import annotations

import sys

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from digitnet.data import preprocess, strokes

__all__ = ["MARKER_SHARE", "PEN_RANGE", "UPSCALE", "centre_line", "draw_digits", "draw_in_processes", "draw_with_pen",
           "marker_digit", "marker_drawings", "prepare_drawing", "safe_to_spawn"]

UPSCALE = 4  # the drawing is made at 4× MNIST's pixels (112×112 for a digit)
PEN_RANGE = (4.5, 6.5)  # MNIST px: a marker on a digit of MNIST's size (MNIST's own pens: 1.7-3.8, median 2.6)
MARKER_SHARE = 0.36  # of the training images get a marker drawing (20,000 of modern's 55,000)
STROKE_LEVEL = 0.5  # where the enlarged digit's brightness passes this, the pen was
MIN_PARALLEL = 2_000  # fewer drawings than this are made in this process (a worker takes ~0.5 s to start)
GUARDED_MAIN = False  # set by `digitnet train`: its entry points (the console script, -m digitnet) are guarded

# Zhang–Suen thinning by look-up: a pixel's 8 neighbours P2..P9 (clockwise from the one above)
# as the bits of a byte; REMOVABLE[step][code] says whether that sub-step may delete the pixel.
_OFFSETS = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))


def _removable_table() -> NDArray[np.bool_]:
    codes = np.arange(256)
    p = [(codes >> k) & 1 for k in range(8)]  # p[0] = P2 ... p[7] = P9
    count = sum(p)
    transitions = sum((1 - p[k]) & p[(k + 1) % 8] for k in range(8))  # 0 → 1 steps around the ring
    base = (count >= 2) & (count <= 6) & (transitions == 1)
    first = base & ((p[0] & p[2] & p[4]) == 0) & ((p[2] & p[4] & p[6]) == 0)  # P2·P4·P6 = 0, P4·P6·P8 = 0
    second = base & ((p[0] & p[2] & p[6]) == 0) & ((p[0] & p[4] & p[6]) == 0)  # P2·P4·P8 = 0, P2·P6·P8 = 0
    return np.stack([first, second])


_REMOVABLE = _removable_table()  # (2, 256)


def centre_line(x: NDArray[np.floating]) -> NDArray[np.bool_]:
    """The path of the pen that wrote digit x (28, 28): its stroke at UPSCALE× (bicubic, ≥ 0.5),
    thinned to 1 px lines by Zhang–Suen thinning. (28·UPSCALE, 28·UPSCALE) bool."""
    side = x.shape[0] * UPSCALE
    big = np.asarray(Image.fromarray(np.asarray(x, np.float32)).resize((side, side), Image.Resampling.BICUBIC))
    image = np.pad(big >= STROKE_LEVEL, 1)
    h, w = image.shape[0] - 2, image.shape[1] - 2
    weights = np.uint8(1) << np.arange(8, dtype=np.uint8)
    while True:
        changed = False
        for step in (0, 1):
            code = np.zeros((h, w), np.uint8)
            for bit, (dr, dc) in zip(weights, _OFFSETS):
                code |= image[1 + dr:1 + dr + h, 1 + dc:1 + dc + w] * bit
            remove = image[1:-1, 1:-1] & _REMOVABLE[step][code]
            if remove.any():
                image[1:-1, 1:-1] &= ~remove
                changed = True
        if not changed:
            return image[1:-1, 1:-1]


def draw_with_pen(line: NDArray[np.bool_], pen: float) -> NDArray[np.float32]:
    """A round pen `pen` MNIST px wide pressed at every point of line (H, W) drawn at UPSCALE×:
    (H + 2m, W + 2m) float32 ink in {0, 1}, m the pen's radius (room for it at the edges)."""
    radius = pen * UPSCALE / 2
    margin = int(np.ceil(radius)) + 1
    canvas = Image.new("L", (line.shape[1] + 2 * margin, line.shape[0] + 2 * margin), 0)
    draw = ImageDraw.Draw(canvas)
    for row, col in zip(*np.nonzero(line)):
        r, c = row + margin, col + margin
        draw.ellipse((c - radius, r - radius, c + radius, r + radius), fill=255)
    return np.asarray(canvas, np.float32) / 255


def prepare_drawing(ink: NDArray[np.float32]) -> NDArray[np.float32]:
    """ink (H, W), a digit's drawing, as the preprocessing hands a picture's digit to the network:
    cropped to its ink, its strokes brought into MNIST's band of widths, scaled to the 20 px box,
    centred by mass in 28×28. (28, 28) float32; NoDigitError if it is too stubby to be a digit.

    Stubby means under data.strokes.MIN_ELONGATION here, waist or not: a bold 8 whose loops
    filled is left out of the drawings, while a picture of one is read (data.strokes.is_dot).
    Letting them in (18 of the 19,800 drawings at seed 0) changed only the seeds' noise
    (MNIST test, seeds 0-2: 97.15, 96.94, 97.05% against 97.03, 97.19, 97.12%; best 99.34, 99.32,
    99.39% against 99.37, 99.36, 99.37%), and it pushed modern's seed 1 under its 97%."""
    top, bottom, left, right = preprocess.crop_to_ink(ink)
    crop = ink[top:bottom, left:right]
    if strokes.elongation(crop) < strokes.MIN_ELONGATION:
        raise preprocess.NoDigitError("a marker drawing is too stubby to be a digit", "too little ink to be a digit")
    digit, _ = preprocess.scale_to_box(crop, "a marker drawing")
    return preprocess.centre_by_mass(digit)[0]


def marker_digit(x: NDArray[np.floating], pen: float) -> NDArray[np.float32]:
    """Digit x (28, 28) as a picture of it drawn with a `pen` MNIST px wide reaches the network."""
    return prepare_drawing(draw_with_pen(centre_line(x), pen))


def draw_digits(digits: NDArray[np.float32], pens: NDArray[np.float64]) -> tuple[NDArray[np.bool_], NDArray[np.float32]]:
    """marker_digit of each digit (k, 784) with its pen (k,): (kept (k,), drawings (k, 784)); a
    drawing too stubby to pass for a digit is not kept (its row is left zero)."""
    drawings = np.zeros((len(digits), 784), np.float32)
    kept = np.ones(len(digits), bool)
    for k, (digit, pen) in enumerate(zip(digits, pens)):
        try:
            drawings[k] = marker_digit(digit.reshape(28, 28), float(pen)).reshape(784)
        except preprocess.NoDigitError:
            kept[k] = False
    return kept, drawings


def marker_drawings(x: NDArray[np.floating], rng: np.random.Generator, share: float = MARKER_SHARE,
                    pens: tuple[float, float] = PEN_RANGE, workers: int | None = None
                    ) -> tuple[NDArray[np.intp], NDArray[np.float32]]:
    """Marker drawings of round(share·n) of the images x (n, 784), chosen and given pens by rng.

    Returns (index, drawings): which rows of x were drawn (sorted; rows whose drawing was too
    stubby to pass for a digit are left out) and their drawings (len(index), 784) float32.
    workers: processes that draw (None: as many as BLAS may use threads, one when
    OPENBLAS_NUM_THREADS=1; the drawing is bound by the interpreter, so threads would not help),
    used only where a fresh process cannot run the caller's own code again (safe_to_spawn).
    Every draw is made here first, so the drawings do not depend on the number of workers.
    """
    n = len(x)
    count = int(round(share * n))
    chosen = np.sort(rng.choice(n, size=count, replace=False)) if count else np.zeros(0, np.intp)
    widths = rng.uniform(*pens, size=count)
    digits = np.asarray(x[chosen], np.float32).reshape(count, 784)
    if workers is None:
        from digitnet.engines.threads import current_blas_threads

        workers = current_blas_threads()
    parallel = workers > 1 and count >= MIN_PARALLEL and safe_to_spawn()
    kept, drawings = draw_in_processes(digits, widths, workers) if parallel else draw_digits(digits, widths)
    return chosen[kept], drawings[kept]


def safe_to_spawn() -> bool:
    """Whether a spawned process would start without running this program's own code again: true for
    `python -m package` (pytest), the `digitnet` command (GUARDED_MAIN), an interactive session and a
    notebook; false for a script run by its path (which may not guard its work with
    `if __name__ == "__main__"`)."""
    if GUARDED_MAIN:
        return True
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name.endswith(".__main__"):
        return True
    return main is not None and not hasattr(main, "__file__")


def draw_in_processes(digits: NDArray[np.float32], pens: NDArray[np.float64], workers: int
                       ) -> tuple[NDArray[np.bool_], NDArray[np.float32]]:
    """draw_digits shared out in chunks between `workers` fresh processes (spawned: no state of this
    one, its BLAS threads included, is copied); in this process if the pool cannot start."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    from multiprocessing import get_context

    bounds = np.linspace(0, len(digits), 4 * workers + 1).astype(int)
    parts = [(digits[a:b], pens[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    try:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            done = list(pool.map(draw_digits, *zip(*parts)))
    except (OSError, BrokenProcessPool):  # no processes here (a sandbox, a worker of a pool): draw them here
        return draw_digits(digits, pens)
    return np.concatenate([kept for kept, _ in done]), np.concatenate([drawn for _, drawn in done])
