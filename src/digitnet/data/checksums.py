"""Is this copy the right file? Its size and the SHA-256 of its decompressed bytes say.

A copy (raw, or gzip: detected from its first bytes) is accepted when its decompressed
content c has exactly the expected length and SHA-256(c) is the digest in the IdxFile. One
digest holds for every source, whichever way the source compresses the file.

Hashing 55 MB on every load would dominate a warm start, so a verified file in the cache is
stamped in <folder>/verified.json as {filename: {size, mtime_ns, sha256}}. The stamp counts
only while all three still match: any change to the file changes its size or mtime_ns and
forces a re-hash.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from digitnet.files import atomic_write_bytes
from digitnet.data.errors import reason
from digitnet.data.idx import CHUNK_BYTES, open_decompressed
from digitnet.data.spec import IdxFile

__all__ = [
    "STAMP_NAME",
    "Rejected",
    "check_digest",
    "read_chunks",
    "record_stamp",
    "verify_cached",
    "verify_file",
]


class Rejected(Exception):
    """A candidate file or download is not the expected one; the message says why.

    Not a DatasetError: a rejected copy only sends the search on to the next source.
    """


def read_chunks(stream: IO[bytes], limit: int) -> Iterator[bytes]:
    """Chunks of `stream`, stopping one byte past `limit` (so "too long" is still visible)."""
    remaining = limit + 1
    while remaining > 0:
        chunk = stream.read(min(CHUNK_BYTES, remaining))
        if not chunk:
            return
        remaining -= len(chunk)
        yield chunk


def check_digest(chunks: Iterable[bytes], idx_file: IdxFile, sink: Any = None) -> None:
    """Hash `chunks` (copying them to `sink`); raise Rejected unless size and SHA-256 match."""
    digest = hashlib.sha256()
    size = 0
    try:
        for chunk in chunks:
            size += len(chunk)
            if size > idx_file.size:
                raise Rejected(f"more than the expected {idx_file.size} bytes")
            digest.update(chunk)
            if sink is not None:
                sink.write(chunk)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise Rejected(f"corrupt gzip data ({reason(error)})") from error
    if size != idx_file.size:
        raise Rejected(f"{size} bytes; expected {idx_file.size}")
    if digest.hexdigest() != idx_file.sha256:
        raise Rejected(f"SHA-256 {digest.hexdigest()[:16]}…; expected {idx_file.sha256[:16]}…")


def verify_file(path: Path, idx_file: IdxFile) -> None:
    """Raise Rejected unless `path` (raw or .gz) decompresses to exactly the expected bytes."""
    with open(path, "rb") as file:
        with open_decompressed(file) as content:
            if content is file and os.fstat(file.fileno()).st_size != idx_file.size:
                # A raw file of the wrong size needs no hashing to be rejected.
                got = os.fstat(file.fileno()).st_size
                raise Rejected(f"{got} bytes; expected {idx_file.size}")
            check_digest(read_chunks(content, idx_file.size), idx_file, None)


# The stamps of a cache folder (see the module docstring).
STAMP_NAME = "verified.json"


def _read_stamps(folder: Path) -> dict[str, Any]:
    try:
        stamps = json.loads((folder / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return stamps if isinstance(stamps, dict) else {}


def _stamp_key(path: Path, idx_file: IdxFile) -> dict[str, Any]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": idx_file.sha256}


def record_stamp(path: Path, idx_file: IdxFile) -> None:
    """Remember that `path` (just verified) holds `idx_file`, until its size or mtime changes."""
    stamps = _read_stamps(path.parent)
    stamps[path.name] = _stamp_key(path, idx_file)
    with contextlib.suppress(OSError):  # a read-only cache still works, just more slowly
        atomic_write_bytes(path.parent / STAMP_NAME, json.dumps(stamps, indent=1).encode())


def verify_cached(path: Path, idx_file: IdxFile) -> None:
    """Like verify_file, trusting a stamp that matches the file's size and mtime."""
    if _read_stamps(path.parent).get(path.name) == _stamp_key(path, idx_file):
        return
    verify_file(path, idx_file)
    record_stamp(path, idx_file)
