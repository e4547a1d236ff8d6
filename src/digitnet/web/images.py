"""Image uploads within a budget: judged from the header, decoded a few at a time, memory returned.

A small file can hold a huge image: a 303 KB one-colour PNG decodes to 40 megapixels of 16-bit
RGBA (320 MB), a 76 KB PNG to a 40,000,000×1 strip. Before any pixel is decoded, read_header
opens the file with Pillow (which reads only the header) and refuses, with our own message:

    not a PNG/JPEG/BMP/GIF/WebP file      left to preprocess.load_image, which names the problem
    more than 16 bits per channel? any    16-bit (and 32-bit) images: a digit needs 8 bits
    aspect = longer side / shorter side   > MAX_ASPECT
    pixels = width × height               > MAX_PIXELS
    bytes  = pixels × bytes per pixel     > MAX_DECODED_BYTES (Pillow stores RGB(A) in 4 bytes,
                                            grey and palette images in 1)

Images that pass are decoded by DecodeQueue: small ones (≤ SMALL_IMAGE_BYTES decoded, like the
page's 280×280 canvas) at once; larger ones at most DECODE_WORKERS at a time, with at most
DECODE_QUEUE waiting; one more is answered 503 (busy) instead of queueing without bound.
Large decodes run in the queue's own threads at a lower CPU priority (nice +DECODE_NICENESS,
Linux): a burst of them must not slow the event loop that answers everyone else.
After the last large decode of a burst, the C heap's free memory is handed back to the system
(glibc's malloc_trim), so the server's resident memory falls back once the burst is over.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import io
import os
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from PIL import Image, UnidentifiedImageError
from starlette.concurrency import run_in_threadpool

from digitnet.data.images import IMAGE_FORMATS

MB = 1024 * 1024
MAX_PIXELS = 16_000_000  # a 12-megapixel phone photo fits; the page's canvas is 0.08 megapixels
MAX_DECODED_BYTES = 48 * MB  # Pillow's copy of the decoded image (a 12-MP photo: 47 MB); work copies triple it
MAX_ASPECT = 20  # a digit is not 20 times longer than it is wide
SMALL_IMAGE_BYTES = 4 * MB  # decoded size decoded at once, without waiting for a slot (1,000×1,000 RGBA)
# Large images decoded at once: half the cores (the rest answer everyone else); bounds the
# memory a burst can take (about 200 MB each at the budget's limit).
DECODE_WORKERS = max(1, min(4, (os.cpu_count() or 2) // 2))
DECODE_QUEUE = 4 * DECODE_WORKERS  # large images waiting for a slot; one more is answered 503
DECODE_NICENESS = 10  # large decodes yield the CPU to the event loop (CFS weight 110 against 1024)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WIDE_MODES = ("I", "F")  # Pillow's 16- and 32-bit integer and float modes: I, I;16, I;16B, F, ...

T = TypeVar("T")


class ImageRefused(ValueError):
    """An image the web app will not decode: too large, too long, or too deep. 422."""


class DecoderBusy(RuntimeError):
    """Every decode slot is taken and the queue is full. 503."""


@dataclass(frozen=True)
class ImageHeader:
    format: str
    width: int
    height: int
    mode: str

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def decoded_bytes(self) -> int:
        """What Pillow allocates for the decoded image: 1 byte per pixel (1, L, P), 2 (16-bit grey), else 4."""
        if self.mode in ("1", "L", "P"):
            per_pixel = 1
        elif self.mode.startswith("I;16"):
            per_pixel = 2
        else:
            per_pixel = 4
        return self.pixels * per_pixel


def read_header(data: bytes) -> ImageHeader | None:
    """The image's format, size and mode from its header alone; ImageRefused if over the budget.

    None when Pillow cannot identify the file: preprocess.load_image then says what is wrong.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:  # reads the header only
                header = ImageHeader(image.format or "?", image.width, image.height, image.mode)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        # Pillow's own limit (89 megapixels) is far above ours: say ours.
        raise ImageRefused(
            f"the image is larger than {MAX_PIXELS / 1e6:g} megapixels, the most the web app "
            "decodes; send a smaller image"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        return None
    check_budget(header, png_bit_depth(data))
    return header


def png_bit_depth(data: bytes) -> int | None:
    """Bits per channel from a PNG's IHDR chunk (Pillow reads 16-bit RGB(A) as 8-bit modes)."""
    if data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR" and len(data) > 24:
        return data[24]
    return None


def check_budget(header: ImageHeader, bit_depth: int | None = None) -> None:
    """ImageRefused (with the limit that was passed) unless the image fits every limit."""
    width, height = header.width, header.height
    size = f"{width}x{height}"
    if width < 1 or height < 1:
        raise ImageRefused(f"the image is empty ({size} pixels)")
    if (bit_depth or 8) > 8 or header.mode.startswith(WIDE_MODES):
        depth = f"{bit_depth}-bit" if bit_depth else f"{header.mode} (more than 8 bits per channel)"
        raise ImageRefused(
            f"the image is {depth}; the web app takes 8 bits per channel: save it as an 8-bit PNG or a JPEG"
        )
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageRefused(
            f"the image is {size} pixels, {max(width, height) / min(width, height):,.0f} times longer than "
            f"it is wide; the web app takes images at most {MAX_ASPECT} times longer than wide"
        )
    if header.pixels > MAX_PIXELS:
        raise ImageRefused(
            f"the image is {size} = {header.pixels / 1e6:.1f} megapixels; the web app decodes at most "
            f"{MAX_PIXELS / 1e6:g} megapixels per image: send a smaller image"
        )
    if header.decoded_bytes > MAX_DECODED_BYTES:
        raise ImageRefused(
            f"the {size} {header.mode} image takes {header.decoded_bytes / MB:.0f} MB decoded; the web app "
            f"decodes at most {MAX_DECODED_BYTES // MB} MB per image: send a smaller image"
        )


class DecodeQueue:
    """Runs decodes in the thread pool: small ones at once, large ones DECODE_WORKERS at a time."""

    def __init__(self, workers: int = DECODE_WORKERS, queue: int = DECODE_QUEUE) -> None:
        self.workers = workers
        self.queue = queue
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="digitnet-decode", initializer=_lower_priority)
        self._slots: asyncio.Semaphore | None = None
        self._waiting = 0
        self._running = 0  # large decodes in progress (under a lock: they end in worker threads)
        self._lock = threading.Lock()

    async def run(self, header: ImageHeader | None, work: Callable[[], T]) -> T:
        """work() in a worker thread, once the image's turn comes; DecoderBusy if the queue is full."""
        if header is not None and header.decoded_bytes <= SMALL_IMAGE_BYTES:
            return await run_in_threadpool(work)
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.workers)
        if self._slots.locked() and self._waiting >= self.queue:
            raise DecoderBusy(
                f"the server is decoding other large images ({self.workers} at a time, {self._waiting} "
                "waiting); try again in a moment, or send a smaller image"
            )
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, self._large, work)
        finally:
            self._slots.release()

    def _large(self, work: Callable[[], T]) -> T:
        with self._lock:
            self._running += 1
        try:
            return work()
        finally:
            with self._lock:
                self._running -= 1
                last = self._running == 0
            if last:
                release_memory()


def _lower_priority() -> None:
    """Give the calling thread a higher nice value (Linux: a thread id is a PRIO_PROCESS id)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), DECODE_NICENESS)
    except (AttributeError, OSError):  # not Linux, or not allowed: decode at normal priority
        pass


_malloc_trim: Callable[[int], int] | None | bool = False  # False: not looked up yet


def release_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc malloc_trim); elsewhere a no-op.

    Large images are decoded in worker threads, whose glibc arenas keep freed memory for reuse:
    without this the server's resident size stays at its peak after a burst of uploads.
    """
    global _malloc_trim
    if _malloc_trim is False:
        _malloc_trim = None
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name) if name else None
            _malloc_trim = libc.malloc_trim if libc is not None and hasattr(libc, "malloc_trim") else None
        except OSError:
            _malloc_trim = None
        if _malloc_trim is not None:
            _malloc_trim.argtypes = [ctypes.c_size_t]
            _malloc_trim.restype = ctypes.c_int
    if _malloc_trim is not None:
        _malloc_trim(0)
