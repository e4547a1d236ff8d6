"""Your own data as a Dataset: a folder of class folders, a Kaggle-style CSV, or an .npz.

`load_custom(path)` reads labelled digits from one of three layouts and returns the same
Dataset as MNIST's (X (n, 784) float32 in [0, 1], y (n,) int64 class indices):

    folder   ROOT/CLASS/IMAGE.png  one sub-folder per class (torchvision's ImageFolder layout);
             class names are the folder names, sorted, so class index k is the k-th name. Every
             PNG, JPEG, BMP, GIF or WebP file below a class folder is one example, prepared
             exactly as `digitnet predict` prepares an image (digitnet.data.preprocess.to_mnist:
             ink found, cropped, longer side 20 px, centred by mass in 28×28). Hidden files and
             other suffixes are skipped, as ImageFolder does.
    csv      Kaggle's digit-recognizer layout: a header `label,pixel0,…,pixel783`, then one digit
             per line, a whole-number label and 784 whole numbers 0–255, row-major. Read as a
             stream, a block of lines at a time; X = pixels / 255.
    npz      arrays x and y (np.load with allow_pickle=False): x is (n, 784) or (n, 28, 28),
             either whole numbers 0–255 (any integer dtype; X = x / 255) or floats in [0, 1];
             y is (n,) integer labels.
For CSV and .npz the labels are the class indices and the class names are "0", "1", … up to
the largest label.

The test set is the file or folder `test_path` when given (in any of the three layouts; its
labels must be the training data's classes); otherwise a held-out split of `test_fraction` of
each class, chosen by a seeded generator (stratified: every class keeps its share). The training
part is shuffled by the same generator, so the validation images a Trainer takes from its end
are a random sample too.

The Dataset returned is a CustomDataset: its `source` says where the examples came from (path,
kind, SHA-256 of the file, or of the folder's listing of names and file hashes, class names,
counts per class, the split), and `load_recorded(source)` rebuilds the same Dataset from it,
saying whether the data moved or changed since. A bad file is one DatasetError naming the
file and, for a CSV, the line; for a folder, the image; for an .npz, the array.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from digitnet.data.datasets import Dataset
from digitnet.data.errors import DatasetError

__all__ = ["KINDS", "TEST_FRACTION", "CustomDataset", "data_kind", "load_custom", "load_recorded",
           "read_labelled", "stratified_split"]

KINDS = ("folder", "csv", "npz")
TEST_FRACTION = 0.2  # of each class, held out for testing when no test data is given
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")  # what predict reads
PIXELS = 784  # 28 × 28
MAX_CLASSES = 1000  # a label above this is a wrong column, not a class
CSV_BLOCK = 2000  # lines parsed at a time


@dataclass(frozen=True, eq=False, repr=False)
class CustomDataset(Dataset):
    """A Dataset read from the user's own files; `source` records where from (see load_custom)."""

    source: dict[str, Any]


@dataclass(frozen=True)
class Labelled:
    """Examples read from one path: X (n, 784) float32 in [0, 1], y (n,) int64, and their origin."""

    x: NDArray[np.float32]
    y: NDArray[np.int64]
    class_names: tuple[str, ...]
    origin: dict[str, str]  # path, kind, sha256


# --------------------------------------------------------------------------- the Dataset


def load_custom(
    path: str | os.PathLike[str],
    test_path: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    test_fraction: float = TEST_FRACTION,
) -> CustomDataset:
    """Your own labelled digits as a Dataset: x_train (n_train, 784) float32 in [0, 1], y_train
    (n_train,) int64, x_test, y_test likewise, class_names, name (the file or folder name).

    path, test_path: a folder of class folders, a .csv or an .npz (see the module docstring).
    Without test_path, test_fraction of each class is held out (seeded by `seed`).
    Raises DatasetError naming the file (and line, image or array) when the data is bad.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer ≥ 0; got {seed!r}")
    if not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1; got {test_fraction!r}")
    data = read_labelled(path)
    n_classes = len(data.class_names)
    rng = np.random.default_rng(int(seed))
    if test_path is None:
        train, test = stratified_split(data.y, test_fraction, rng)
        x_test, y_test = data.x[test], data.y[test]
        split: dict[str, Any] = {"seed": int(seed), "test_fraction": float(test_fraction)}
    else:
        held_out = read_labelled(test_path, class_names=data.class_names)
        train = rng.permutation(len(data.y))
        x_test, y_test = held_out.x, held_out.y
        split = {"seed": int(seed), "test": held_out.origin}
    source = {
        **data.origin,
        "class_names": list(data.class_names),
        "counts": {
            "train": np.bincount(data.y[train], minlength=n_classes).tolist(),
            "test": np.bincount(y_test, minlength=n_classes).tolist(),
        },
        "split": split,
    }
    return CustomDataset(Path(path).name, data.x[train], data.y[train], x_test, y_test,
                         data.class_names, source)


def stratified_split(
    y: NDArray[np.int64], test_fraction: float, rng: np.random.Generator
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Indices (train, test) holding out round(test_fraction · n_k) of each class k's n_k examples.

    A class with two or more examples keeps at least one on each side; a lone example trains.
    The test indices are in their original order, the training indices shuffled.
    """
    test_parts = []
    for k in np.unique(y):
        members = np.flatnonzero(y == k)  # (n_k,)
        n_test = int(round(test_fraction * len(members)))
        if len(members) >= 2:
            n_test = min(max(n_test, 1), len(members) - 1)
        else:
            n_test = 0
        test_parts.append(rng.permutation(members)[:n_test])
    test = np.sort(np.concatenate(test_parts)) if test_parts else np.zeros(0, np.int64)
    if len(test) == 0:
        raise DatasetError(f"cannot hold out a test split from {len(y)} example(s): every class has "
                           "only one; give more examples, or a test set with --test-data")
    is_test = np.zeros(len(y), dtype=bool)
    is_test[test] = True
    train = rng.permutation(np.flatnonzero(~is_test))
    return train, test


def load_recorded(
    source: dict[str, Any], *, label: str = "the model", warn: Callable[[str], None] | None = None
) -> CustomDataset:
    """The Dataset a model was trained on, rebuilt from its recorded `source` (load_custom's).

    Raises DatasetError when the data is no longer where it was. When it is there but its
    SHA-256 differs, calls warn(message) (a UserWarning when warn is None): the held-out split
    need not be the one held out in training then, and scores on it may include training examples.
    """
    try:
        split = source["split"]
        test = split.get("test")
        origins = [(o["path"], o["kind"], o["sha256"]) for o in ((source, test) if test else (source,))]
        seed, fraction = split["seed"], split.get("test_fraction", TEST_FRACTION)
    except (KeyError, TypeError, AttributeError):
        raise DatasetError(f"{label} records its training data in an unreadable form: {source!r}") from None
    for path, kind, _ in origins:
        if not Path(path).exists():
            raise DatasetError(f"{label} was trained on the {kind} {path}, which is not there any more "
                               "(moved or deleted); put it back, or name a dataset with --dataset")
        if data_kind(path) != kind:
            raise DatasetError(f"{path} is now a {data_kind(path)}, not the {kind} {label} was trained on")
    data = load_custom(source["path"], test["path"] if test else None, seed=seed, test_fraction=fraction)
    for then, now in ((source, data.source), (test, data.source["split"].get("test"))):
        if then and now and then["sha256"] != now["sha256"]:
            message = (f"{then['path']} has changed since {label} was trained on it (SHA-256 "
                       f"{now['sha256'][:12]}…, was {then['sha256'][:12]}…)")
            if then is source and not test:
                message += "; its held-out test split may now include training examples"
            if warn is None:
                warnings.warn(message, stacklevel=2)
            else:
                warn(message)
    return data


# --------------------------------------------------------------------------- reading one path


def data_kind(path: str | os.PathLike[str]) -> str:
    """"folder", "csv" or "npz" for an existing path; DatasetError otherwise."""
    path = Path(path)
    if path.is_dir():
        return "folder"
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder; expected a folder of class folders, "
                           "a .csv or an .npz")
    kind = path.suffix.lower().lstrip(".")
    if kind not in ("csv", "npz"):
        raise DatasetError(f"{path}: expected a folder of class folders, a .csv (label,pixel0,…,"
                           f"pixel783) or an .npz (x and y); got a {path.suffix or 'suffix-less'} file")
    return kind


def read_labelled(path: str | os.PathLike[str], class_names: tuple[str, ...] | None = None) -> Labelled:
    """All examples at path (folder, .csv or .npz). class_names: the training data's, when path
    is a test set (its classes must be among them)."""
    kind = data_kind(path)
    reader = {"folder": _read_folder, "csv": _read_csv, "npz": _read_npz}[kind]
    x, y, names, sha256 = reader(Path(path), class_names)
    if len(y) == 0:
        raise DatasetError(f"{path} holds no examples")
    origin = {"path": str(Path(path).resolve()), "kind": kind, "sha256": sha256}
    return Labelled(x, y, names, origin)


def _class_names_for(path: Path, y: NDArray[np.int64], given: tuple[str, ...] | None) -> tuple[str, ...]:
    """"0", "1", … up to the largest label; or the training data's names, checked."""
    largest = int(y.max()) if len(y) else 0
    if given is None:
        return tuple(str(k) for k in range(largest + 1))
    if largest >= len(given):
        raise DatasetError(f"{path}: label {largest} is not a class of the training data, which has "
                           f"{len(given)} classes (labels 0 to {len(given) - 1})")
    return given


def _read_folder(root: Path, given: tuple[str, ...] | None):
    from digitnet.data.preprocess import PreprocessError, to_mnist

    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DatasetError(f"{root}: expected one sub-folder of images per class (ROOT/CLASS/IMAGE.png); "
                           "found no sub-folders")
    names = tuple(classes) if given is None else given
    unknown = [c for c in classes if c not in names]
    if unknown:
        raise DatasetError(f"{root}: class folder {unknown[0]!r} is not a class of the training data "
                           f"({', '.join(names)})")
    listing = hashlib.sha256()
    images, labels = [], []
    for name in classes:
        folder = root / name
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(folder).parts))
        if not files:
            raise DatasetError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)}); every class "
                               "folder needs at least one")
        for file in files:
            content = file.read_bytes()
            relative = file.relative_to(root).as_posix()
            listing.update(f"{relative}\0{hashlib.sha256(content).hexdigest()}\n".encode())
            stream = io.BytesIO(content)
            stream.name = str(file)  # error messages name the file
            try:
                images.append(to_mnist(stream).reshape(PIXELS))  # (784,), as predict prepares it
            except PreprocessError as error:
                message = " ".join(str(error).split())
                if str(file) not in message:
                    message = f"{file}: {message}"
                raise DatasetError(f"{message} (an image of class {name!r})") from None
            labels.append(names.index(name))
    return np.stack(images), np.array(labels, dtype=np.int64), names, listing.hexdigest()


def _read_csv(path: Path, given: tuple[str, ...] | None):
    hasher = hashlib.sha256()
    blocks: list[tuple[NDArray[np.int64], NDArray[np.uint8]]] = []
    with open(path, "rb") as file:
        header = file.readline()
        hasher.update(header)
        _check_header(path, header)
        block: list[tuple[int, bytes]] = []
        for number, line in enumerate(file, start=2):
            hasher.update(line)
            if line.strip():
                block.append((number, line))
            if len(block) == CSV_BLOCK:
                blocks.append(_parse_block(path, block))
                block = []
        if block:
            blocks.append(_parse_block(path, block))
    if not blocks:
        raise DatasetError(f"{path} has a header but no rows of digits")
    y = np.concatenate([labels for labels, _ in blocks])
    pixels = np.concatenate([values for _, values in blocks])  # (n, 784) uint8
    x = pixels.astype(np.float32)
    x /= 255.0
    return x, y, _class_names_for(path, y, given), hasher.hexdigest()


def _check_header(path: Path, header: bytes) -> None:
    columns = [c.strip().strip('"').lower() for c in header.decode("utf-8-sig", "replace").split(",")]
    shown = ",".join(columns[:3]) + (",…" if len(columns) > 3 else "")
    if not columns[0] or columns[0][0].isdigit():
        raise DatasetError(f"{path} line 1: expected the header label,pixel0,…,pixel783 (Kaggle's "
                           f"digit-recognizer layout); got the numbers {shown} (add the header line)")
    if columns[0] != "label":
        hint = " (Kaggle's test.csv has no labels; train on train.csv)" if len(columns) == PIXELS else ""
        raise DatasetError(f"{path} line 1: the first column must be 'label'; got {shown}{hint}")
    if len(columns) != PIXELS + 1:
        raise DatasetError(f"{path} line 1: expected 785 columns (label, pixel0 … pixel783); "
                           f"got {len(columns)}")


def _parse_block(path: Path, block: list[tuple[int, bytes]]) -> tuple[NDArray[np.int64], NDArray[np.uint8]]:
    """Lines (number, text) -> labels (m,) int64 and pixels (m, 784) uint8, or the first bad line."""
    for number, line in block:
        if line.count(b",") != PIXELS:
            raise DatasetError(f"{_line(path, number)}: expected 785 values (label and 784 pixels); "
                               f"got {line.count(b',') + 1}")
    try:
        values = np.loadtxt([line.decode("ascii") for _, line in block], delimiter=",",
                            dtype=np.int64, ndmin=2)  # (m, 785)
    except ValueError as error:  # UnicodeDecodeError too
        _name_unparsable(path, block)
        first, last = block[0][0], block[-1][0]
        raise DatasetError(f"{path} lines {first}–{last}: {' '.join(str(error).split())}") from None
    labels, pixels = values[:, 0], values[:, 1:]  # (m,), (m, 784)
    bad = np.flatnonzero((labels < 0) | (labels >= MAX_CLASSES) | ((pixels < 0) | (pixels > 255)).any(axis=1))
    if len(bad):
        row = bad[0]
        number = block[row][0]
        if not 0 <= labels[row] < MAX_CLASSES:
            raise DatasetError(f"{_line(path, number)}: label is {labels[row]}; expected a class index "
                               f"from 0 to {MAX_CLASSES - 1}")
        column = np.flatnonzero((pixels[row] < 0) | (pixels[row] > 255))[0]
        raise DatasetError(f"{_line(path, number)}: pixel{column} is {pixels[row, column]}; expected 0–255")
    return labels.copy(), pixels.astype(np.uint8)


def _name_unparsable(path: Path, block: list[tuple[int, bytes]]) -> None:
    """Raise DatasetError for the first value in block that is not a whole number."""
    for number, line in block:
        for column, text in enumerate(line.decode("ascii", "replace").strip().split(",")):
            try:
                int(text)
            except ValueError:
                name = "label" if column == 0 else f"pixel{column - 1}"
                raise DatasetError(f"{_line(path, number)}: {name} is {text.strip()!r}; expected a whole "
                                   f"number{' from 0 to 255' if column else ''}") from None


def _line(path: Path, number: int) -> str:
    return f"{path} line {number} (row {number - 1} after the header)"


def _read_npz(path: Path, given: tuple[str, ...] | None):
    hasher = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            hasher.update(chunk)
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise DatasetError(f"{path}: not a readable .npz file ({' '.join(str(error).split())})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DatasetError(f"{path}: expected an .npz archive of arrays x and y; got a single .npy array")
    with archive:
        missing = [key for key in ("x", "y") if key not in archive.files]
        if missing:
            raise DatasetError(f"{path}: expected arrays 'x' and 'y'; found {sorted(archive.files) or 'none'}")
        x = _check_x(path, _npz_array(path, archive, "x"))  # (n, 784) float32
        y = _check_y(path, _npz_array(path, archive, "y"), len(x))  # (n,) int64
    return x, y, _class_names_for(path, y, given), hasher.hexdigest()


def _npz_array(path: Path, archive, key: str) -> NDArray[Any]:
    try:
        return archive[key]
    except ValueError:  # an object array: it would need pickle
        raise DatasetError(f"{path}: array {key!r} holds Python objects (it needs pickle, which digitnet "
                           "never loads); save plain numbers") from None
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        raise DatasetError(f"{path}: array {key!r} cannot be read ({error})") from None


def _check_x(path: Path, x: NDArray[Any]) -> NDArray[np.float32]:
    """x (n, 784) or (n, 28, 28): whole numbers 0–255 or floats in [0, 1] -> (n, 784) float32."""
    if not (x.ndim == 2 and x.shape[1] == PIXELS) and not (x.ndim == 3 and x.shape[1:] == (28, 28)):
        raise DatasetError(f"{path}: array 'x' must have shape (n, 784) or (n, 28, 28); got {x.shape}")
    flat = x.reshape(len(x), PIXELS)
    if np.issubdtype(x.dtype, np.integer) and x.dtype != np.bool_:
        if flat.size and (flat.min() < 0 or flat.max() > 255):
            raise DatasetError(f"{path}: array 'x' ({x.dtype}) must hold 0–255; got values from "
                               f"{flat.min()} to {flat.max()}")
        return flat.astype(np.float32) / np.float32(255)
    if not np.issubdtype(x.dtype, np.floating):
        raise DatasetError(f"{path}: array 'x' must be uint8 (0–255) or float (0–1); got dtype {x.dtype}")
    if not np.isfinite(flat).all():
        raise DatasetError(f"{path}: array 'x' holds NaN or infinity")
    if flat.size and (flat.min() < 0 or flat.max() > 1):
        hint = " (divide by 255, or save it as uint8)" if flat.max() <= 255 and flat.min() >= 0 else ""
        raise DatasetError(f"{path}: array 'x' ({x.dtype}) must hold values in [0, 1]; got values from "
                           f"{flat.min():g} to {flat.max():g}{hint}")
    return flat.astype(np.float32)


def _check_y(path: Path, y: NDArray[Any], n: int) -> NDArray[np.int64]:
    if y.shape != (n,):
        raise DatasetError(f"{path}: array 'y' must have shape ({n},), one label per row of x; got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_:
        raise DatasetError(f"{path}: array 'y' must hold integer labels; got dtype {y.dtype}")
    if n and (y.min() < 0 or y.max() >= MAX_CLASSES):
        raise DatasetError(f"{path}: array 'y' must hold class indices 0 to {MAX_CLASSES - 1}; got values "
                           f"from {y.min()} to {y.max()}")
    return y.astype(np.int64)
