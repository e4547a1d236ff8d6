"""Any image -> what an MNIST digit looks like: 28×28 float32, ink 1 on background 0.

A network trained on MNIST has only ever seen digits prepared one way, so a user's drawing must
be prepared the same way or it will be misread. LeCun et al. describe MNIST's preparation: each
NIST digit was size-normalised to fit a 20×20 box keeping its aspect ratio, anti-aliased (so
edges are grey), then placed in a 28×28 field so that its intensity-weighted centre of mass sits
at the centre. `to_mnist` repeats that on any picture:

1. Find the ink. A transparent canvas export (alpha not fully opaque) has its ink in the alpha
   channel. Otherwise ink is how far each pixel's colour is from the background colour (the
   median of the outermost rows and columns): ink(p) = ‖rgb(p) − rgb_bg‖ / √3. That one rule
   covers black on white (MNIST's white on black inverted), white on black, and coloured ink on
   coloured paper, even when both have the same luminance.
2. Normalise: divide by the largest ink value so the ink peaks at 1. An image whose ink never
   differs from the background by MIN_CONTRAST is blank: PreprocessError.
3. Crop to the bounding box of the ink above NOISE_FLOOR (a fraction of the peak), so JPEG
   noise and paper grain do not widen it. Faint values inside the box are kept: they are the
   digit's anti-aliased edges, and zeroing them would move its centre of mass.
4. Scale so the longer side is 20 px, keeping the aspect ratio: a box filter when shrinking (each
   output pixel is the ink coverage of its area, MNIST's anti-aliasing), bilinear when enlarging;
   then the peak is set to 1 again.
5. Paste into 28×28 and shift by whole pixels so the centre of mass is at (14, 14) in
   (row, column) pixel indices: the mean centre of mass of the real MNIST test digits is
   (13.99, 14.01) with a spread of ±0.29, the signature of rounding to a whole-pixel shift.
   The shift is clipped so the 20 px box never leaves the frame.

`to_mnist(image).reshape(1, 784)` is the network input for one image; `prepare(images)` stacks
many into X (n, 784). `from_pixels` checks 784 values that are already MNIST-like (the web app's
28×28 grid). `load_image` (digitnet.data.images) opens PNG, JPEG, BMP, GIF (first frame) and
WebP files safely: the size is checked against MAX_PIXELS from the header, before decoding.

Known limits: very thick or very thin strokes still differ from MNIST's pen; stray marks and
dust far from the digit enlarge the bounding box (crop the photo first); uneven lighting in a
photo is not corrected.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from PIL import Image

# Opening files lives in digitnet.data.images; its public names are part of this API too.
from digitnet.data.images import (
    IMAGE_FORMATS,
    MAX_PIXELS,
    ImageSource,
    PreprocessError,
    check_size,
    load_image,
    source_name,
)

__all__ = [
    "IMAGE_FORMATS",
    "MAX_PIXELS",
    "PreprocessError",
    "from_pixels",
    "load_image",
    "prepare",
    "to_mnist",
]

SIZE = 28  # the MNIST field
BOX = 20  # the longer side of the digit's bounding box inside it
CENTRE = 14.0  # target centre of mass (row, column), measured on MNIST; see the module docstring
NOISE_FLOOR = 0.15  # ink below this fraction of the peak is background (JPEG noise, paper grain)
MIN_CONTRAST = 0.1  # peak ink below this (0 = background colour, 1 = black vs white) is blank
WORK_SIDE = 2048  # larger images are box-reduced by a whole factor first: fast, no accuracy loss

_LUMINANCE = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as Pillow's "L"

ImageLike = ImageSource | Image.Image | NDArray[Any]
Pixels = tuple[NDArray[np.float32], NDArray[np.float32] | None, int]  # colour, alpha, factor


# --------------------------------------------------------------------------- pixels


def _pixels(image: ImageLike, name: str) -> Pixels:
    """Colour (h, w, c) in [0, 1] with c = 1 (grey) or 3 (RGB), alpha (h, w) or None, and the
    whole-pixel factor the image was reduced by to fit WORK_SIDE."""
    if isinstance(image, np.ndarray):
        return _pixels_from_array(image, name)
    if isinstance(image, Image.Image):
        return _pixels_from_pil(image, name)
    if isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview)):
        return _pixels_from_pil(load_image(image), name)
    if hasattr(image, "read"):
        return _pixels_from_pil(load_image(image), name)
    raise TypeError(
        "expected a PIL image, a NumPy array, a path, bytes or a binary file object; "
        f"got {type(image).__name__}"
    )


def _reduction(width: int, height: int) -> int:
    return max(1, math.ceil(max(width, height) / WORK_SIDE))


def _pixels_from_pil(image: Image.Image, name: str) -> Pixels:
    check_size(image.size, name)
    factor = _reduction(*image.size)
    if image.mode.startswith("I") or image.mode == "F":  # 16/32-bit grey
        grey = np.asarray(image, dtype=np.float32)  # (h, w)
        if not np.isfinite(grey).all():
            raise PreprocessError(f"{name} contains NaN or infinity")
        grey = np.clip(grey / _white_level(image.mode, grey), 0.0, 1.0)
        return _reduce(grey[..., None], factor), None, factor
    has_alpha = image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info
    try:
        if image.mode == "La":  # premultiplied alpha converts only to LA
            image = image.convert("LA")
        if has_alpha:
            image = image.convert("RGBA")
        elif image.mode in ("1", "L"):
            image = image.convert("L")
        else:  # P, CMYK, YCbCr, HSV, LAB, ...
            image = image.convert("RGB")
    except (ValueError, OSError) as err:
        raise PreprocessError(f"cannot convert {name} to RGB: {err}") from err
    if factor > 1:
        image = image.reduce(factor)  # box average over factor × factor blocks
    values = np.asarray(image, dtype=np.float32) / 255.0  # (h, w) or (h, w, c)
    if values.ndim == 2:
        return values[..., None], None, factor
    if values.shape[-1] == 4:
        return values[..., :3], values[..., 3], factor
    return values, None, factor


def _white_level(mode: str, grey: NDArray[np.float32]) -> float:
    """The value meaning white in a 16/32-bit grey image: 65535 for I;16 (as PNG defines it);
    for I and F, whichever of 1, 255 and 65535 first holds the data (a float image may be 0..1
    or 0..255; Pillow stores 8-bit data converted to I as 0..255)."""
    if mode.startswith("I;16"):
        return 65535.0
    high = float(grey.max())
    for level in (1.0, 255.0) if mode == "F" else (255.0,):
        if high <= level:
            return level
    return 65535.0


def _pixels_from_array(array: NDArray[Any], name: str) -> Pixels:
    if array.ndim == 2:
        channels = 1
    elif array.ndim == 3 and array.shape[-1] in (1, 3, 4):
        channels = array.shape[-1]
    else:
        hint = ""
        if array.ndim == 3 and array.shape[-1] > 4:
            hint = "; for a stack of n images pass a list of arrays to prepare()"
        raise PreprocessError(
            f"image arrays must have shape (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA; "
            f"got {array.shape}{hint}"
        )
    height, width = array.shape[:2]
    check_size((width, height), name)
    if array.dtype == np.bool_:
        values = array.astype(np.float32)
    elif np.issubdtype(array.dtype, np.integer):
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise PreprocessError(
                f"integer image arrays must hold values in 0..255; got {low}..{high}"
            )
        values = array.astype(np.float32) / 255.0
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():  # checked before the cast, which could overflow
            raise PreprocessError(f"{name} contains NaN or infinity; expected values in [0, 1]")
        low, high = float(array.min()), float(array.max())
        if low < 0.0 or high > 1.0:
            raise PreprocessError(
                f"float image arrays must hold values in [0, 1]; got {low:g}..{high:g} "
                "(divide 0..255 data by 255)"
            )
        values = array.astype(np.float32)
    else:
        raise PreprocessError(
            f"image arrays must be uint8 (0..255) or float (0..1); got dtype {array.dtype}"
        )
    if array.ndim == 2:
        values = values[..., None]  # (h, w, 1)
    factor = _reduction(width, height)
    values = _reduce(values, factor)
    if channels == 4:
        return values[..., :3], values[..., 3], factor
    return values, None, factor


def _reduce(values: NDArray[np.float32], factor: int) -> NDArray[np.float32]:
    """Box-average (h, w, c) over factor × factor blocks, as Image.reduce does for 8-bit modes."""
    if factor == 1:
        return values
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(values[..., c])).reduce(factor))
              for c in range(values.shape[-1])]
    return np.stack(planes, axis=-1)


# --------------------------------------------------------------------------- the MNIST steps


def to_mnist(
    image: ImageLike, *, return_info: bool = False
) -> NDArray[np.float32] | tuple[NDArray[np.float32], dict[str, Any]]:
    """Prepare any digit image as MNIST was prepared: (28, 28) float32 in [0, 1], ink 1.

    image: a PIL image; a path, bytes or binary file object (opened with load_image); or a
    NumPy array (H, W) or (H, W, 1) grey, (H, W, 3) RGB or (H, W, 4) RGBA, uint8 0..255 or
    float 0..1.
    Steps (see the module docstring): ink from alpha or from the distance to the background
    colour; normalise to peak 1; crop to the bounding box of the ink above NOISE_FLOOR; scale
    the longer side to 20 px keeping the aspect ratio; paste into 28×28 with the centre of
    mass at (14, 14).
    Returns the (28, 28) array, or (array, info) if return_info; info holds
    polarity ("dark-on-light", "light-on-dark" or "alpha"), background (its colour in [0, 1]),
    size (width, height) of the input, bounding_box (left, top, right, bottom) of the ink in
    input pixels (right and bottom exclusive, as PIL), scale (output px per input px),
    offset (x, y) of the 20 px box in the 28×28 field, and center_of_mass (x, y) in it.
    Raises PreprocessError for unreadable files, bad arrays, and images with no ink.
    """
    name = source_name(image)
    colour, alpha, factor = _pixels(image, name)
    height, width = colour.shape[:2]
    ink, polarity, background = _find_ink(colour, alpha)  # (h, w) in [0, 1]

    # 2. Normalise.
    peak = float(ink.max())
    if peak < MIN_CONTRAST:
        raise PreprocessError(
            f"no ink found in {name}: the image is blank (no pixel differs from the background "
            f"colour by {MIN_CONTRAST:g} or more; the most is {peak:.3f}); expected a digit "
            "in a colour that stands out from its background"
        )
    ink = ink / peak

    # 3. Crop to the bounding box of the ink above the noise floor.
    strong = ink >= NOISE_FLOOR
    rows = np.flatnonzero(strong.any(axis=1))
    cols = np.flatnonzero(strong.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    crop = ink[top:bottom, left:right]  # (h_box, w_box)

    # 4. Longer side to 20 px, aspect ratio kept.
    scale = BOX / max(crop.shape)
    box_w = max(1, round(crop.shape[1] * scale))
    box_h = max(1, round(crop.shape[0] * scale))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    resized = Image.fromarray(np.ascontiguousarray(crop)).resize((box_w, box_h), resample)
    digit = np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)  # (box_h, box_w)
    digit /= digit.max()  # thin strokes shrunk by the box filter peak at 1 again, like MNIST

    # 5. Centre of mass to (14, 14) by a whole-pixel shift that keeps the box in the frame.
    mass = digit.sum()
    com_row = float((digit.sum(axis=1) * np.arange(box_h)).sum() / mass)
    com_col = float((digit.sum(axis=0) * np.arange(box_w)).sum() / mass)
    row0 = min(max(math.floor(CENTRE - com_row + 0.5), 0), SIZE - box_h)
    col0 = min(max(math.floor(CENTRE - com_col + 0.5), 0), SIZE - box_w)
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    out[row0:row0 + box_h, col0:col0 + box_w] = digit

    if not return_info:
        return out
    full_w, full_h = width * factor, height * factor  # before reduction (up to rounding)
    if isinstance(image, Image.Image):
        full_w, full_h = image.size
    elif isinstance(image, np.ndarray):
        full_h, full_w = image.shape[:2]
    info = {
        "polarity": polarity,
        "background": [round(float(v), 4) for v in background],
        "size": (int(full_w), int(full_h)),
        "bounding_box": (
            int(left * factor),
            int(top * factor),
            int(min(right * factor, full_w)),
            int(min(bottom * factor, full_h)),
        ),
        "scale": scale / factor,
        "offset": (col0, row0),
        "center_of_mass": (col0 + com_col, row0 + com_row),
    }
    return out, info


def _find_ink(
    colour: NDArray[np.float32], alpha: NDArray[np.float32] | None
) -> tuple[NDArray[np.float32], str, NDArray[np.float32]]:
    """ink = ‖pixel − background‖ / √c over the channels used: (h, w) in [0, 1].

    The background is the per-channel median of the outermost rows and columns. A transparent
    canvas export (alpha not fully opaque, and not uniform) uses alpha alone: its RGB under
    transparent pixels is arbitrary (often black, sometimes white).
    """
    if alpha is not None and alpha.min() < 1.0 and alpha.max() > alpha.min():
        channels, polarity = alpha[..., None], "alpha"  # (h, w, 1)
    else:
        channels, polarity = colour, ""
    border = np.concatenate(
        [channels[0], channels[-1], channels[:, 0], channels[:, -1]], axis=0
    )  # (2w + 2h, c)
    background = np.median(border, axis=0).astype(np.float32)  # (c,)
    ink = np.sqrt(np.square(channels - background).sum(axis=-1) / channels.shape[-1])
    if not polarity:
        luminance = colour @ _LUMINANCE if colour.shape[-1] == 3 else colour[..., 0]
        background_luminance = background @ _LUMINANCE if colour.shape[-1] == 3 else background[0]
        middle = (float(luminance.min()) + float(luminance.max())) / 2
        polarity = "dark-on-light" if background_luminance > middle else "light-on-dark"
    return ink.astype(np.float32), polarity, background


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
