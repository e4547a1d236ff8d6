"""Any image -> what an MNIST digit looks like: 28×28 float32, ink 1 on background 0.

A network trained on MNIST has only ever seen digits prepared one way, so a user's drawing must
be prepared the same way or it will be misread. LeCun et al. describe MNIST's preparation: each
NIST digit was size-normalised to fit a 20×20 box keeping its aspect ratio, anti-aliased (so
edges are grey), then placed in a 28×28 field so that its intensity-weighted centre of mass sits
at the centre. Real pictures need more first — a photo's paper is unevenly lit and grainy, JPEG
rings around edges, a page has specks, a marker is bold and a fine pen a hairline. `to_mnist`:

1. Pixels (digitnet.data.pixels): colour (h, w, c) in [0, 1], alpha, a whole-factor box
   reduction of huge pictures. EXIF orientation was applied on opening (digitnet.data.images).
2. Where the ink lives: a transparent canvas export (alpha not fully opaque) has it in alpha;
   otherwise in the colour, dark on light or light on dark (the border colour against the
   middle of the luminance range).
3. Background and ink (digitnet.data.cleanup): the paper colour (the border's, or a fitted
   lighting surface for an unevenly lit photo), ink(p) = ‖rgb(p) − bg(p)‖ / √c. A shadow with a
   sharp edge across the page is evened out first (`cleanup.even_out_shadow`); when it covers
   most of the border, the ink's side is the one far beyond both papers (`cleanup.ink_is_dark`).
4. Denoise and threshold: the blurred picture's ink above Otsu's threshold (kept clear of the
   paper's noise level) marks candidate ink. No candidate ink, or a peak under MIN_CONTRAST:
   NoDigitError "no ink found".
5. The digit's pieces (digitnet.data.components): connected pieces of candidate ink; the
   heaviest and those close to it are the digit, far specks and stray marks are dropped, and so
   are a box drawn around the digit, a line drawn under it and a dot or blot beside it.
6. The digit's grey values, unblurred, inside its pieces grown by EDGE_MARGIN px (the
   anti-aliased edges), with the paper's noise floor subtracted; cropped to where they reach
   NOISE_FLOOR of their peak — so grain and ringing never widen the crop. If what was found is
   a whole sheet of paper (a photo of a page lying on a darker table: the border is the table),
   steps 2-6 run again inside the sheet (`find_page`).
7. A dot is not a digit (digitnet.data.strokes.is_dot): ink whose box is under MIN_ELONGATION
   stroke widths long (a speck, a single tap) raises NoDigitError "too little ink to be a digit",
   unless it has a waist (a bold 8 whose loops the marker filled); ink more than MAX_FLAT times
   as wide as it is tall (a dash, a line) "a line, not a digit".
8. Stroke width toward MNIST's (digitnet.data.strokes): a bold or hairline digit is eroded or
   dilated into MNIST's band of pen widths (MNIST-like digits are not touched).
9. Scale so the longer side is 20 px, keeping the aspect ratio: a box filter when shrinking
   (each output pixel is the ink coverage of its area, MNIST's anti-aliasing), bilinear when
   enlarging; then the peak is set to 1.
10. Paste into 28×28 and shift by whole pixels so the centre of mass is at (14, 14) in (row,
   column) pixel indices: the mean centre of mass of the real MNIST test digits is (13.99,
   14.01) with a spread of ±0.29, the signature of rounding to a whole-pixel shift. The shift is
   clipped so the 20 px box never leaves the frame.

`to_mnist(image).reshape(1, 784)` is the network input for one image; `prepare(images)` stacks
many into X (n, 784). `from_pixels` checks 784 values that are already MNIST-like (the web app's
28×28 grid) and `no_digit_reason` says whether they hold a digit at all. `load_image`
(digitnet.data.images) opens PNG, JPEG, BMP, GIF (first frame) and WebP files safely.

Known limits: a stray mark as large as the digit, or touching it, stays (so does a box drawn
touching the digit, and a line drawn under it and touching it: it looks like a 2's base; and a blot
longer than 1.5 pens (components.PEN_DOT) inside the digit's box, or closer to it than half the
blot's width and no thicker than 1.2 pens (components.THICK): a skipping pen leaves such
fragments); a shadow narrower than an eighth of the picture (cleanup.SHADOW_WINDOW), or darker than
cleanup.SHADOW_DEPTH of the light, is not evened out; a rotated or slanted digit is not
straightened; a bold digit whose loops filled into one round blob, or a two-lobed one under
strokes.WAIST_MIN_SIDE px, is refused as a dot.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from PIL import Image

from digitnet.data import cleanup, components, strokes

# Opening files lives in digitnet.data.images; its public names are part of this API too.
from digitnet.data.images import (
    IMAGE_FORMATS,
    MAX_PIXELS,
    NoDigitError,
    PreprocessError,
    load_image,
    source_name,
)
from digitnet.data.pixels import ImageLike, read_pixels

__all__ = [
    "IMAGE_FORMATS",
    "MAX_PIXELS",
    "NoDigitError",
    "PreprocessError",
    "from_pixels",
    "load_image",
    "no_digit_reason",
    "prepare",
    "to_mnist",
]

SIZE = 28  # the MNIST field
BOX = strokes.BOX  # the longer side of the digit's bounding box inside it
CENTRE = 14.0  # target centre of mass (row, column), measured on MNIST; see the module docstring
NOISE_FLOOR = 0.15  # ink below this fraction of the peak does not widen the crop
MIN_CONTRAST = 0.1  # peak ink below this (0 = background colour, 1 = black vs white) is blank
EDGE_MARGIN = 2  # px around the digit's pieces whose grey values are kept (anti-aliased edges)
FLOOR_MARGIN = 3.0  # the noise floor subtracted: this many times the paper's median ink
MIN_SIDE = 4  # px: ink smaller than this in the working picture is a speck
MAX_FLAT = 4.0  # ink this many times as wide as it is tall is a line or a dash (MNIST's widest digit: 2.5)
PAGE_FILL, PAGE_SIDE, PAGE_MARGIN = 0.75, 0.45, 0.04  # a sheet of paper on a table: see find_page

_LUMINANCE = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as Pillow's "L"


# --------------------------------------------------------------------------- the steps


def ink_channels(colour: NDArray[np.float32], alpha: NDArray[np.float32] | None) -> tuple[NDArray[np.float32], str]:
    """The channels holding the ink (h, w, c) and the polarity: "alpha", "dark-on-light" or
    "light-on-dark". A transparent canvas export (alpha not fully opaque, and not uniform) uses
    alpha alone: its RGB under transparent pixels is arbitrary (often black, sometimes white)."""
    if alpha is not None and alpha.min() < 1.0 and alpha.max() > alpha.min():
        return alpha[..., None], "alpha"
    if colour.shape[-1] == 3 and np.array_equal(colour[..., 0], colour[..., 1]) \
            and np.array_equal(colour[..., 0], colour[..., 2]):
        colour = colour[..., :1]  # grey stored as RGB: one channel does, at a third of the work
    luminance = colour @ _LUMINANCE if colour.shape[-1] == 3 else colour[..., 0]  # (h, w)
    background = cleanup.border_background(colour)
    background_luminance = background @ _LUMINANCE if colour.shape[-1] == 3 else background[0]
    middle = (float(luminance.min()) + float(luminance.max())) / 2
    if background_luminance <= middle and cleanup.shadow_across_border(colour) and cleanup.ink_is_dark(colour):
        return colour, "dark-on-light"  # a shadow darkens most of the border, not the paper
    return colour, "dark-on-light" if background_luminance > middle else "light-on-dark"


def find_digit(channels: NDArray[np.float32], polarity: str, name: str) -> tuple[NDArray[np.float32], dict[str, Any]]:
    """Steps 3-6: the digit's ink (h, w) in [0, 1], background and noise removed, stray specks
    dropped; zero outside the digit. Also what was found (lighting, noise, threshold, specks).
    Raises NoDigitError when there is no ink."""
    if polarity == "alpha":
        background, uneven = cleanup.border_background(channels), False
    else:
        background, uneven = cleanup.estimate_background(channels, dark_ink=polarity == "dark-on-light")
        channels, background, shadow = cleanup.even_out_shadow(channels, background, polarity == "dark-on-light")
        uneven = uneven or shadow
    ink = cleanup.ink_from_background(channels, background)  # (h, w)
    smooth = cleanup.denoise(channels, background)  # (h, w)
    noise = cleanup.noise_level(smooth)
    rows, cols = cleanup.ruled_lines(smooth, noise)
    if rows.any() or cols.any():  # a ruled or squared page
        smooth = cleanup.remove_lines(smooth, rows, cols)
        ink = cleanup.remove_lines(ink, *cleanup.ruled_lines(ink, cleanup.noise_level(ink)))
    peak = float(smooth.max())
    if peak < MIN_CONTRAST or peak <= cleanup.NOISE_MARGIN * noise:
        raise NoDigitError(
            f"no ink found in {name}: the image is blank (nothing stands out from the background "
            f"by {max(MIN_CONTRAST, cleanup.NOISE_MARGIN * noise):.3g} or more; the most is {peak:.3f}); "
            "expected a digit in a colour that stands out from its background",
            "no ink found",
        )
    threshold = cleanup.ink_threshold(smooth, noise)
    labels, count = components.label_components(smooth >= threshold)
    table = components.component_table(labels, count, smooth)
    frames = components.frames(labels, table)  # (count,)
    keep = components.select_digit(table, exclude=frames, shape=labels.shape)  # (count,)
    kept = np.isin(labels, 1 + np.flatnonzero(keep))  # (h, w)
    floor = FLOOR_MARGIN * cleanup.noise_level(ink)
    digit = cleanup.subtract_floor(np.where(components.dilate(kept, EDGE_MARGIN), ink, 0.0), floor)
    if not digit.any():
        raise NoDigitError(f"no ink found in {name}: nothing stands out from the paper's noise", "no ink found")
    found = {
        "lighting": "uneven" if uneven else "even",
        "noise": round(noise, 4),
        "threshold": round(threshold, 4),
        "specks_removed": int(count - keep.sum()),
        "ruled_lines": sum(int(np.count_nonzero((level[1:] > 0) & (level[:-1] == 0)) + (level[0] > 0))
                           for level in (rows, cols)),
    }
    return digit.astype(np.float32), found


def find_page(digit: NDArray[np.float32]) -> tuple[int, int, int, int] | None:
    """Step 6b: is the "digit" found a sheet of paper on a darker table? Then (top, bottom, left,
    right) of the inside of the sheet (PAGE_MARGIN of it trimmed), else None.

    Asked only when the "ink" is lighter than the border (a white sheet on a darker table). A
    sheet fills its box (more than PAGE_FILL of it, where a digit fills a third), spans at least
    PAGE_SIDE of the picture each way, and leaves the table visible on some side (a picture whose
    "ink" touches all four edges is a tight crop of a digit, not a sheet).
    """
    top, bottom, left, right = crop_to_ink(digit)
    height, width = digit.shape
    box_h, box_w = bottom - top, right - left
    fill = float((digit[top:bottom, left:right] >= NOISE_FLOOR * float(digit.max())).mean())
    everywhere = top == 0 and left == 0 and bottom == height and right == width
    if fill < PAGE_FILL or box_h < PAGE_SIDE * height or box_w < PAGE_SIDE * width or everywhere:
        return None
    trim_h, trim_w = round(PAGE_MARGIN * box_h), round(PAGE_MARGIN * box_w)
    return top + trim_h, bottom - trim_h, left + trim_w, right - trim_w


def crop_to_ink(digit: NDArray[np.float32]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the ink at NOISE_FLOOR of its peak (bottom, right exclusive)."""
    strong = digit >= NOISE_FLOOR * float(digit.max())
    rows = np.flatnonzero(strong.any(axis=1))
    cols = np.flatnonzero(strong.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def check_enough_ink(crop: NDArray[np.float32], name: str) -> None:
    """Step 7: refuse a speck or a dot (NoDigitError "too little ink to be a digit"), and a line
    or a dash lying flat (NoDigitError "a line, not a digit")."""
    height, width = crop.shape
    if width > MAX_FLAT * height:
        raise NoDigitError(
            f"a line, not a digit, in {name}: the only mark is {width}x{height} px, {width / height:.1f} times "
            f"as wide as it is tall (a dash or a line; a digit is at most {MAX_FLAT:g} times as wide as tall, "
            "MNIST's widest 2.5)",
            "a line, not a digit",
        )
    if max(crop.shape) < MIN_SIDE or strokes.is_dot(crop):
        raise NoDigitError(
            f"too little ink to be a digit in {name}: the only mark is {crop.shape[1]}x{crop.shape[0]} px "
            f"and {strokes.elongation(crop):.1f} stroke widths long (a speck or a dot; a digit is at least "
            f"{strokes.MIN_ELONGATION:g} long, or has a waist, and {MIN_SIDE} px)",
            "too little ink to be a digit",
        )


def scale_to_box(crop: NDArray[np.float32], name: str) -> tuple[NDArray[np.float32], list[float]]:
    """Steps 7-9: check it is a digit, bring its strokes into MNIST's band of widths, and scale
    its longer side to BOX px (aspect ratio kept; peak 1). Returns it and [width before, after]."""
    check_enough_ink(crop, name)
    big = strokes.resize_longer_side(crop, BOX * strokes.UPSCALE)  # (≤ 160, ≤ 160)
    normalised, before, after = strokes.normalise_stroke_width(big)
    if normalised is not big:
        top, bottom, left, right = crop_to_ink(normalised)
        crop = normalised[top:bottom, left:right]
    digit = strokes.resize_longer_side(crop, BOX)  # (box_h, box_w)
    return digit / digit.max(), [round(before, 3), round(after, 3)]


def centre_by_mass(digit: NDArray[np.float32]) -> tuple[NDArray[np.float32], tuple[int, int], tuple[float, float]]:
    """Step 10: paste digit (box_h, box_w) into 28×28, its centre of mass at (14, 14) by a
    whole-pixel shift that keeps the box in the frame. Returns the field, the box's (column,
    row) offset and the centre of mass (column, row) in the field."""
    box_h, box_w = digit.shape
    mass = digit.sum()
    com_row = float((digit.sum(axis=1) * np.arange(box_h)).sum() / mass)
    com_col = float((digit.sum(axis=0) * np.arange(box_w)).sum() / mass)
    row0 = min(max(math.floor(CENTRE - com_row + 0.5), 0), SIZE - box_h)
    col0 = min(max(math.floor(CENTRE - com_col + 0.5), 0), SIZE - box_w)
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    out[row0:row0 + box_h, col0:col0 + box_w] = digit
    return out, (col0, row0), (col0 + com_col, row0 + com_row)


def to_mnist(
    image: ImageLike, *, return_info: bool = False
) -> NDArray[np.float32] | tuple[NDArray[np.float32], dict[str, Any]]:
    """Prepare any digit image as MNIST was prepared: (28, 28) float32 in [0, 1], ink 1.

    image: a PIL image; a path, bytes or binary file object (opened with load_image); or a
    NumPy array (H, W) or (H, W, 1) grey, (H, W, 3) RGB or (H, W, 4) RGBA, uint8 0..255 or
    float 0..1. Steps: see the module docstring.
    Returns the (28, 28) array, or (array, info) if return_info; info holds
    polarity ("dark-on-light", "light-on-dark" or "alpha"), background (the border colour in
    [0, 1]), lighting ("even" or "uneven": a lighting surface or a sharp shadow), noise and
    threshold (of the blurred ink), specks_removed (pieces of ink that were not the digit),
    ruled_lines (printed lines lifted off a ruled or squared page, or a form's line), page
    (left, top, right, bottom of the sheet of paper, only when one was found on a table),
    stroke_width ([before, after] in MNIST px), size (width, height) of the input, bounding_box
    (left, top, right, bottom) of the digit in input pixels (right and bottom exclusive, as PIL),
    scale (output px per input px), offset (x, y) of the 20 px box in the 28×28 field, and
    center_of_mass (x, y) in it.
    Raises NoDigitError (a PreprocessError) for an image with no digit in it (blank, or a
    speck), PreprocessError for unreadable files and bad arrays.
    """
    name = source_name(image)
    colour, alpha, factor = read_pixels(image, name)
    height, width = colour.shape[:2]
    channels, polarity = ink_channels(colour, alpha)
    ink, found = find_digit(channels, polarity, name)  # (h, w)
    page = find_page(ink) if polarity == "light-on-dark" else None  # paper is the bright thing
    if page is not None:  # a sheet photographed on a table: look again, inside the sheet
        page_top, page_bottom, page_left, page_right = page
        colour = colour[page_top:page_bottom, page_left:page_right]
        alpha = None if alpha is None else alpha[page_top:page_bottom, page_left:page_right]
        channels, polarity = ink_channels(colour, alpha)
        inside, found = find_digit(channels, polarity, name)
        ink = np.zeros_like(ink)
        ink[page_top:page_bottom, page_left:page_right] = inside
        found["page"] = [int(v * factor) for v in (page_left, page_top, page_right, page_bottom)]
    top, bottom, left, right = crop_to_ink(ink)
    crop = ink[top:bottom, left:right]  # (h_box, w_box)
    digit, widths = scale_to_box(crop, name)
    out, offset, centre = centre_by_mass(digit)
    if not return_info:
        return out

    full_w, full_h = width * factor, height * factor  # before reduction (up to rounding)
    if isinstance(image, Image.Image):
        full_w, full_h = image.size
    elif isinstance(image, np.ndarray):
        full_h, full_w = image.shape[:2]
    background = cleanup.border_background(channels if polarity == "alpha" else colour)  # (c,)
    info = {
        "polarity": polarity,
        "background": [round(float(v), 4) for v in background],
        **found,
        "stroke_width": widths,
        "size": (int(full_w), int(full_h)),
        "bounding_box": (
            int(left * factor),
            int(top * factor),
            int(min(right * factor, full_w)),
            int(min(bottom * factor, full_h)),
        ),
        "scale": BOX / max(crop.shape) / factor,
        "offset": offset,
        "center_of_mass": centre,
    }
    return out, info


# --------------------------------------------------------------------------- network input


def prepare(images: ImageLike | Iterable[ImageLike]) -> NDArray[np.float32]:
    """X = [to_mnist(image).ravel() for each image]: the network input, (n, 784) float32.

    images: one image (anything to_mnist takes) or an iterable of them. A NumPy array is always
    one image; pass list(stack) to prepare a stack of n arrays.
    Raises PreprocessError naming the index of the first image that fails.
    """
    single = (str, os.PathLike, bytes, bytearray, memoryview, Image.Image, np.ndarray)
    if isinstance(images, single) or hasattr(images, "read"):
        images = [images]
    rows = []
    for index, image in enumerate(images):
        try:
            rows.append(to_mnist(image).reshape(SIZE * SIZE))  # (784,)
        except PreprocessError as err:
            raise PreprocessError(f"image {index}: {err}") from err
    if not rows:
        raise PreprocessError("expected at least one image; got an empty sequence")
    return np.stack(rows)  # (n, 784)


def from_pixels(values: ArrayLike) -> NDArray[np.float32]:
    """Check 784 MNIST-like pixel brightnesses and return them as (28, 28) float32.

    values: 784 numbers in [0, 1] (0 background, 1 ink), flat (784,) or (1, 784) or (28, 28),
    e.g. a JSON list from the web app's drawing grid. No preprocessing is applied.
    Raises PreprocessError (a ValueError) for a wrong count, non-numbers, NaN or out-of-range.
    """
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as err:
        raise PreprocessError(f"pixels must be 784 numbers in [0, 1]; got {err}") from err
    if array.dtype.kind not in "biuf":
        raise PreprocessError(
            f"pixels must be 784 numbers in [0, 1]; got values of type {array.dtype}"
        )
    if array.shape not in ((784,), (1, 784), (28, 28)):
        raise PreprocessError(
            f"pixels must be 784 numbers, flat (784,) or (28, 28); got shape {array.shape}"
        )
    array = array.astype(np.float64).reshape(SIZE, SIZE)
    bad = ~np.isfinite(array)
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise PreprocessError(
            f"pixels must be finite numbers in [0, 1]; got {array.flat[index]} at index {index}"
        )
    low, high = float(array.min()), float(array.max())
    if low < 0.0 or high > 1.0:
        raise PreprocessError(
            f"pixels must be in [0, 1]; got values from {low:g} to {high:g} "
            "(divide 0..255 values by 255)"
        )
    return array.astype(np.float32)


def no_digit_reason(pixels: ArrayLike) -> str | None:
    """Why 784 MNIST-like pixels (28×28 or flat, in [0, 1]) hold no digit, or None if they do.

    "no ink found" when no pixel reaches MIN_CONTRAST; "too little ink to be a digit" for a
    speck or a dot (see digitnet.data.strokes.elongation); "a line, not a digit" for ink more
    than MAX_FLAT times as wide as it is tall. The rule to_mnist applies to pictures,
    for input that skipped it (the web app's 28×28 grid).
    """
    x = np.asarray(pixels, dtype=np.float32).reshape(SIZE, SIZE)
    if float(x.max()) < MIN_CONTRAST:
        return "no ink found"
    top, bottom, left, right = crop_to_ink(x)
    ink = x[top:bottom, left:right]
    if ink.shape[1] > MAX_FLAT * ink.shape[0]:
        return "a line, not a digit"
    # A quick look first: measured at 28 px the elongation comes out lower than at the
    # 160 px strokes.elongation uses (0.69-0.98 of it on MNIST's 10,000 test digits and on dots
    # and bars), so twice the threshold here is a digit for certain; 95% of digits stop here,
    # and a prediction costs ~0.3 ms less.
    width = strokes.stroke_width(ink)
    if width > 0 and max(ink.shape) / width >= 2 * strokes.MIN_ELONGATION:
        return None
    if strokes.is_dot(ink):
        return "too little ink to be a digit"
    return None
