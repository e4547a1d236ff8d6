"""Opening image files safely: PNG, JPEG, BMP, GIF (first frame) or WebP, upright.

A picture of a digit comes from a user: a path, an upload's bytes, an open file. `load_image`
decodes it into a PIL image, and refuses before decoding what it should not try:
  - any format but the five above (Pillow's other decoders stay off);
  - more than MAX_PIXELS = width × height, read from the header (a decompression bomb
    declares a huge size in a tiny file; it fails here, before any memory is taken);
  - truncated or corrupt data, with the file named in the message.
EXIF orientation is applied, so a phone photo is the right way up. digitnet.data.preprocess
turns the decoded picture into an MNIST digit; every refusal here is its PreprocessError.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from digitnet.files import not_a_regular_file

__all__ = [
    "IMAGE_FORMATS",
    "MAX_PIXELS",
    "ImageSource",
    "NoDigitError",
    "PreprocessError",
    "check_size",
    "load_image",
    "source_name",
]

IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")  # Pillow's names; other decoders stay off
MAX_PIXELS = 40_000_000  # width × height above this is refused before decoding (bomb guard)

_EXPECTED_FILE = "expected an image file (PNG, JPEG, BMP, GIF or WebP)"


class PreprocessError(ValueError):
    """An image that cannot be turned into an MNIST digit: unreadable, too large, or blank."""


class NoDigitError(PreprocessError):
    """A readable image that shows no digit: blank, too little ink (a speck, a single tap), or a
    line lying flat.

    `note` is the short reason ("no ink found", "too little ink to be a digit", "a line, not a
    digit"): what `digitnet predict --json` and the web page report instead of a digit.
    """

    def __init__(self, message: str, note: str) -> None:
        super().__init__(message)
        self.note = note


ImageSource = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO


def load_image(source: ImageSource) -> Image.Image:
    """Open and decode an image file: the first frame, upright (EXIF orientation applied).

    source: a path (str or os.PathLike), the file's bytes, or a binary file object.
    Returns a fully decoded PIL image in the file's own mode (L, RGB, RGBA, P, 1, I;16, ...).
    Raises PreprocessError naming the file if it is missing, not a PNG/JPEG/BMP/GIF/WebP image,
    truncated or corrupt, or larger than MAX_PIXELS (checked from the header, before decoding).
    """
    name = source_name(source)
    if isinstance(source, (str, os.PathLike)):
        kind = not_a_regular_file(source)
        if kind not in (None, "missing", "a folder") and not kind.startswith("unreadable"):
            # Opening a FIFO for reading waits for a writer: refuse it (and devices) at once.
            raise PreprocessError(f"{name} is {kind}; {_EXPECTED_FILE}")
        try:
            file = open(source, "rb")  # closed below, once decoded
        except FileNotFoundError:
            raise PreprocessError(f"{name}: no such file; {_EXPECTED_FILE}") from None
        except IsADirectoryError:
            raise PreprocessError(f"{name} is a directory; {_EXPECTED_FILE}") from None
        except OSError as err:
            raise PreprocessError(f"cannot open {name}: {err.strerror or err}") from err
        with file:
            return _decode(file, name)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _decode(io.BytesIO(source), name)
    if isinstance(source, io.TextIOBase):
        raise PreprocessError(f"{name} is open in text mode; open image files with mode 'rb'")
    if hasattr(source, "read"):
        return _decode(source, name)
    raise TypeError(
        f"expected a path, bytes or a binary file object; got {type(source).__name__}"
    )


def _decode(file: BinaryIO, name: str) -> Image.Image:
    try:
        # Pillow warns at MAX_IMAGE_PIXELS (89 M) and raises at twice that; both mean "refuse",
        # whatever the caller's warning filters. (catch_warnings is process-wide, so threads
        # may race on it; the real guard is check_size, whose MAX_PIXELS is lower.)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file, formats=IMAGE_FORMATS) as image:
                check_size(image.size, name)  # only the header has been read so far
                image.load()
                return ImageOps.exif_transpose(image)  # a decoded copy, independent of file
    except (PreprocessError, MemoryError):
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as err:
        raise PreprocessError(f"{name} is too large to decode safely: {err}") from err
    except UnidentifiedImageError:
        raise PreprocessError(f"cannot read {name}: {_EXPECTED_FILE}") from None
    except Exception as err:  # any decoder failure (many types) means a bad file
        raise PreprocessError(
            f"cannot decode {name}: the file is truncated or corrupt ({err}); {_EXPECTED_FILE}"
        ) from err


def check_size(size: tuple[int, int], name: str) -> None:
    """Refuse an empty image, or one over MAX_PIXELS; size is (width, height)."""
    width, height = size
    if width < 1 or height < 1:
        raise PreprocessError(f"{name} is empty ({width}x{height} pixels)")
    if width * height > MAX_PIXELS:
        raise PreprocessError(
            f"{name} is {width}x{height} = {width * height / 1e6:.1f} megapixels, more than "
            f"the {MAX_PIXELS / 1e6:g} megapixel limit (MAX_PIXELS); refusing to decode it"
        )


def source_name(source: object) -> str:
    """How error messages name an image: its path, or what kind of object it is."""
    if isinstance(source, (str, os.PathLike)):
        return os.fsdecode(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"the image bytes ({len(source)} bytes)"
    if isinstance(source, Image.Image):
        return f"the {source.width}x{source.height} {source.mode} image"
    if isinstance(source, np.ndarray):
        return f"the {source.dtype} array of shape {source.shape}"
    name = getattr(source, "name", None)
    return os.fsdecode(name) if isinstance(name, (str, bytes)) else "the image file object"
