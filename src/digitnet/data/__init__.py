"""The data room: datasets from IDX files to arrays, and any picture to an MNIST digit.

    from digitnet import data
    mnist = data.load("mnist")      # x_train (60000, 784) float32 = pixels / 255, y_train (60000,) int64
    x, y = data.load_split("mnist", "test", download=False)  # (10000, 784), (10000,); local files only
    x_fit, y_fit, x_val, y_val = data.split_validation(mnist.x_train, mnist.y_train)  # 50,000 + 10,000
    digit = data.to_mnist("photo.png")  # (28, 28) float32, ink 1 on background 0
    mine = data.load_custom("my-digits/")  # ROOT/CLASS/*.png, train.csv or digits.npz; 1/5 held out

Its files, lowest first; each imports only files above it:
    errors.py      DatasetError; any exception as one short line
    idx.py         the IDX format: read_idx, write_idx
    spec.py        IdxFile, DatasetSpec: a dataset's four files (name, size, SHA-256)
    checksums.py   is a copy the right file? size + SHA-256 of its decompressed bytes; stamps
    cache.py       the cache folder, and a fetch storing verified files into it
    sources.py     the chain: data folder, cache, system folders, web mirrors, npm
    datasets.py    DATASETS, load, load_split, split_validation, check (`digitnet data info`)
    custom.py      your own data: class folders of images, a Kaggle CSV or an .npz -> a Dataset
    images.py      opening image files safely (formats, size limit, EXIF orientation)
    pixels.py      any picture -> colour and alpha arrays in [0, 1] (huge ones box-reduced)
    cleanup.py     background, lighting and shadows, denoise, noise level, threshold, ruled lines
    components.py  connected pieces of ink: the digit's kept; specks, a drawn box, an underline dropped
    strokes.py     stroke width: measured, brought toward MNIST's pen; a dot is not a digit
    preprocess.py  any image -> MNIST's 28×28 (needs Pillow; imported on first use from here)
    warp.py        bilinear warps of 28×28 images (the sampler augment and deskew share)
    augment.py     new training images each epoch: shift, affine, elastic, thickness, closing
    deskew.py      moment-based shear standing each digit upright
    prepare.py     a model's own preprocessing (deskew), as its model file records it: prepare_for

To add a dataset of 28×28 IDX files: one DatasetSpec entry in datasets.DATASETS.
"""

from __future__ import annotations

import importlib
from typing import Any

from digitnet.data.augment import AUGMENTATIONS, random_shift
from digitnet.data.datasets import (
    DATASETS,
    SPLITS,
    Dataset,
    FileStatus,
    cache_dir,
    check,
    dataset_spec,
    fetch,
    load,
    load_split,
    split_validation,
)
from digitnet.data.custom import CustomDataset, load_custom
from digitnet.data.errors import DatasetError
from digitnet.data.idx import read_idx, write_idx
from digitnet.data.spec import ROLES, DatasetSpec, IdxFile

# Importing Pillow costs ~30 ms that `import digitnet` should not pay before any image is
# seen, so these come from digitnet.data.preprocess on first use (PEP 562 module __getattr__).
_PREPROCESS_NAMES = ("NoDigitError", "PreprocessError", "from_pixels", "load_image", "no_digit_reason", "prepare",
                     "to_mnist")

__all__ = [
    "AUGMENTATIONS",
    "DATASETS",
    "ROLES",
    "SPLITS",
    "CustomDataset",
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
    "load_custom",
    "load_split",
    "random_shift",
    "read_idx",
    "split_validation",
    "write_idx",
    *_PREPROCESS_NAMES,
]


def __getattr__(name: str) -> Any:
    if name in _PREPROCESS_NAMES:
        return getattr(importlib.import_module("digitnet.data.preprocess"), name)
    if name == "preprocess":
        return importlib.import_module("digitnet.data.preprocess")
    raise AttributeError(f"module 'digitnet.data' has no attribute {name!r}")
