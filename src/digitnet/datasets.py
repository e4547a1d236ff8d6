"""Compatibility name: `digitnet.datasets` is the data room, digitnet.data, under its old name.

The README's examples keep working unchanged:

    from digitnet import datasets
    mnist = datasets.load("mnist")    # x_train (60000, 784) float32 in [0, 1], y_train (60000,) int64
    images = datasets.read_idx(path)  # any IDX file, header checked before the data is read

New code imports digitnet.data. The names here are the same objects, not copies (so
datasets.DATASETS is digitnet.data.DATASETS); a module setting such as the mirror timeout is
changed on its home module, digitnet.data.sources.
"""

from digitnet.data import (
    DATASETS,
    ROLES,
    Dataset,
    DatasetError,
    DatasetSpec,
    FileStatus,
    IdxFile,
    cache_dir,
    check,
    dataset_spec,
    fetch,
    load,
    load_split,
    read_idx,
    split_validation,
    write_idx,
)

__all__ = [
    "DATASETS",
    "ROLES",
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
    "load_split",
    "read_idx",
    "split_validation",
    "write_idx",
]
