"""Any picture -> its pixel values as floats: colour (h, w, c) in [0, 1], alpha, reduction factor.

The first step of digitnet.data.preprocess. Whatever arrives (a PIL image in any mode, a path,
bytes, a file object, a NumPy array) becomes
    colour (h, w, c) float32 in [0, 1], c = 1 (grey) or 3 (RGB)
    alpha  (h, w) float32 in [0, 1], or None when the picture has no transparency
    factor the whole number the picture was box-reduced by so its longer side fits WORK_SIDE
A box reduction by a whole factor averages factor × factor blocks: a huge photo costs little
afterwards and loses nothing a 28×28 digit could show.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from digitnet.data.images import ImageSource, PreprocessError, check_size, load_image

__all__ = ["WORK_SIDE", "ImageLike", "Pixels", "read_pixels"]

WORK_SIDE = 2048  # larger images are box-reduced by a whole factor first: fast, no accuracy loss

ImageLike = ImageSource | Image.Image | NDArray[Any]
Pixels = tuple[NDArray[np.float32], NDArray[np.float32] | None, int]  # colour, alpha, factor



def read_pixels(image: ImageLike, name: str) -> Pixels:
    """Colour (h, w, c) in [0, 1] with c = 1 (grey) or 3 (RGB), alpha (h, w) or None, and the
    whole-pixel factor the image was reduced by to fit WORK_SIDE."""
    if isinstance(image, np.ndarray):
        return _from_array(image, name)
    if isinstance(image, Image.Image):
        return _from_pil(image, name)
    if isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview)):
        return _from_pil(load_image(image), name)
    if hasattr(image, "read"):
        return _from_pil(load_image(image), name)
    raise TypeError(
        "expected a PIL image, a NumPy array, a path, bytes or a binary file object; "
        f"got {type(image).__name__}"
    )


def _reduction(width: int, height: int) -> int:
    return max(1, math.ceil(max(width, height) / WORK_SIDE))


def _from_pil(image: Image.Image, name: str) -> Pixels:
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


def _from_array(array: NDArray[Any], name: str) -> Pixels:
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
