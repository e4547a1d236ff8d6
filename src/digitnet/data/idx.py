"""The IDX file format (LeCun et al.): a tiny header, then big-endian numbers, row-major.

    bytes 0-1   0x00 0x00
    byte  2     type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    next 4·d    each dimension, uint32 big-endian
    the rest    prod(dimensions) numbers, row-major, big-endian

An MNIST image file is (n, 28, 28) uint8 (header 16 bytes); a label file is (n,) uint8 (8 bytes).
A file may also be gzip-compressed, recognised by its first two bytes (0x1f 0x8b), not its name.

`read_idx` checks the header against the file's size *before* allocating anything, so a corrupt
or hostile header fails at once with a DatasetError instead of a MemoryError; `write_idx` is its
inverse, written atomically.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from digitnet.files import atomic_write_bytes
from digitnet.data.errors import DatasetError, reason

__all__ = ["CHUNK_BYTES", "IDX_TYPES", "MAX_IDX_BYTES", "open_decompressed", "read_idx", "write_idx"]

# type code -> big-endian dtype, as the format stores it.
IDX_TYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_TYPE_CODES = {dtype.newbyteorder("="): code for code, dtype in IDX_TYPES.items()}
_TYPE_NAMES = ", ".join(str(dtype.newbyteorder("=")) for dtype in IDX_TYPES.values())

# A compressed file's real size is unknown until it is decompressed, so its header's claim is
# capped (raw files too, for one rule): no MNIST-like dataset comes near 2 GiB, and an absurd
# claim fails before any reading.
MAX_IDX_BYTES = 2**31
CHUNK_BYTES = 1 << 20  # files are streamed in pieces of this size
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | os.PathLike[str], *, max_bytes: int = MAX_IDX_BYTES) -> NDArray[Any]:
    """Read an IDX file (raw, or gzip-compressed: detected from its first bytes) into an array.

    Returns an array with the header's shape and a native-endian dtype (uint8, int8, int16,
    int32, float32 or float64). Raises DatasetError, naming the file, when the magic number,
    type code or dimension count is wrong, or when the dimensions do not match the data: the
    check happens before the data is read, and a compressed file is decompressed no further
    than the header says. Payloads over `max_bytes` are refused (for a compressed file, whose
    real size is unknown until inflated, before inflating). A missing file raises
    FileNotFoundError.
    """
    path = Path(path)
    with open(path, "rb") as file:
        if not _is_gzip(file):
            return _read_idx_stream(file, path, os.fstat(file.fileno()).st_size, max_bytes)
        try:
            with gzip.GzipFile(fileobj=file, mode="rb") as stream:
                return _read_idx_stream(stream, path, None, max_bytes)
        except (OSError, EOFError, zlib.error) as error:
            # gzip reports a damaged stream as BadGzipFile (an OSError), EOFError or zlib.error.
            raise DatasetError(f"{path}: corrupt gzip data ({reason(error)})") from error


def _read_idx_stream(
    stream: IO[bytes], path: Path, file_size: int | None, max_bytes: int
) -> NDArray[Any]:
    """Parse header then payload from `stream`; `file_size` is known for raw files only."""
    magic = stream.read(4)
    if len(magic) < 4:
        raise DatasetError(f"{path}: not an IDX file: {len(magic)} bytes, too short for a header")
    if magic[0] != 0 or magic[1] != 0:
        raise DatasetError(
            f"{path}: not an IDX file: the magic number must start with 0x0000; "
            f"got 0x{magic[:2].hex()}"
        )
    type_code, ndim = magic[2], magic[3]
    if type_code not in IDX_TYPES:
        valid = ", ".join(f"0x{code:02X}" for code in IDX_TYPES)
        raise DatasetError(
            f"{path}: unknown IDX type code 0x{type_code:02X}; expected one of {valid}"
        )
    if ndim == 0:
        raise DatasetError(f"{path}: IDX header says 0 dimensions; expected at least 1")
    raw_dims = stream.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DatasetError(
            f"{path}: truncated IDX header: {ndim} dimensions need {4 * ndim} bytes; "
            f"got {len(raw_dims)}"
        )
    shape = tuple(int.from_bytes(raw_dims[i : i + 4], "big") for i in range(0, 4 * ndim, 4))
    dtype = IDX_TYPES[type_code]
    # Python ints: the product cannot overflow however absurd the header is.
    expected = dtype.itemsize
    for dim in shape:
        expected *= dim
    if file_size is not None and file_size - (4 + 4 * ndim) != expected:
        got = file_size - (4 + 4 * ndim)
        raise DatasetError(
            f"{path}: IDX header says shape {shape} of {dtype.newbyteorder('=')} "
            f"({expected} bytes of data); the file has {got} bytes after the header"
            + (" (truncated)" if got < expected else "")
        )
    if expected > max_bytes:
        raise DatasetError(
            f"{path}: IDX header says shape {shape} ({expected} bytes of data), more than "
            f"the {max_bytes}-byte limit (read_idx's max_bytes)"
        )
    if any(dim * dtype.itemsize > max_bytes for dim in shape):
        # An empty array with an absurd dimension (say 0 × 10⁹) is no dataset either, and
        # NumPy refuses to even describe its shape.
        raise DatasetError(
            f"{path}: IDX header says shape {shape}: a dimension beyond the "
            f"{max_bytes}-byte limit (read_idx's max_bytes)"
        )

    if file_size is not None:
        # Straight from the file into the array: no zero-filled staging buffer to touch first.
        array = np.fromfile(stream, dtype=dtype, count=expected // dtype.itemsize)
        if array.nbytes != expected:
            raise DatasetError(f"{path}: file shrank while being read")
        return array.reshape(shape).astype(dtype.newbyteorder("="), copy=False)

    # Compressed: grow with the data actually present, so a lying header cannot make us
    # allocate, and inflate one byte past the promise at most.
    payload = bytearray()
    while len(payload) <= expected:
        chunk = stream.read(min(CHUNK_BYTES, expected + 1 - len(payload)))
        if not chunk:
            break
        payload += chunk
    if len(payload) != expected:
        got_text = f"{len(payload)}" if len(payload) < expected else f"more than {expected}"
        raise DatasetError(
            f"{path}: IDX header says shape {shape} ({expected} bytes of data); the "
            f"decompressed file has {got_text} bytes after the header"
            + (" (truncated)" if len(payload) < expected else "")
        )
    if expected == 0:
        return np.zeros(shape, dtype=dtype.newbyteorder("="))
    array = np.frombuffer(payload, dtype=dtype).reshape(shape)  # writable: payload is ours
    return array.astype(dtype.newbyteorder("="), copy=False)


def write_idx(path: str | os.PathLike[str], array: NDArray[Any]) -> None:
    """Write `array` as an IDX file; gzip-compressed when `path` ends in .gz. Atomic.

    Supports uint8, int8, int16, int32, float32 and float64 arrays of 1 to 255 dimensions,
    each dimension below 2³²; anything else raises DatasetError saying what was got.
    """
    path = Path(path)
    array = np.asarray(array)
    dtype = array.dtype.newbyteorder("=")
    if dtype not in _TYPE_CODES:
        raise DatasetError(
            f"{path}: IDX stores {_TYPE_NAMES}; got an array of {array.dtype} "
            "(convert it first, e.g. array.astype(np.int32))"
        )
    if not 1 <= array.ndim <= 255:
        raise DatasetError(f"{path}: IDX stores 1 to 255 dimensions; got {array.ndim}")
    if max(array.shape) >= 2**32:
        raise DatasetError(f"{path}: IDX dimensions must be below 2**32; got shape {array.shape}")
    header = bytes([0, 0, _TYPE_CODES[dtype], array.ndim])
    header += b"".join(dim.to_bytes(4, "big") for dim in array.shape)
    data = header + np.ascontiguousarray(array, dtype=dtype.newbyteorder(">")).tobytes()
    if path.suffix == ".gz":
        # mtime=0: the same array always gives the same bytes.
        data = gzip.compress(data, compresslevel=6, mtime=0)
    atomic_write_bytes(path, data)



def open_decompressed(file: IO[bytes]) -> IO[bytes]:
    """The decompressed content of an open binary file: gzip detected from its first bytes."""
    return gzip.GzipFile(fileobj=file, mode="rb") if _is_gzip(file) else file


def _is_gzip(file: IO[bytes]) -> bool:
    """Whether the file starts with gzip's magic bytes; the file is left at its start."""
    compressed = file.read(2) == _GZIP_MAGIC
    file.seek(0)
    return compressed
