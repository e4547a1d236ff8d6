"""Your own data (digitnet.data.custom, `digitnet train --data`): the three layouts read into the
same Dataset, the seeded stratified split, one clear error per kind of bad file, the model file's
record of its data and `evaluate`/`show` finding that data again. The slow tests write a few
thousand MNIST digits as class folders of PNGs, a Kaggle CSV and an .npz, train the modern
preset on each for 5 epochs and score the models on the MNIST test set. Nothing is committed:
every file is made here, in a temporary folder."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import digitnet
from digitnet import cli
from digitnet.data import custom
from digitnet.data.custom import CustomDataset, load_custom, load_recorded, stratified_split
from digitnet.data.errors import DatasetError
from digitnet.data.preprocess import to_mnist
from digitnet.training.config import TrainConfig


@pytest.fixture(autouse=True)
def isolated_state(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def mnist():
    return digitnet.datasets.load("mnist")


def digits(mnist, n: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """MNIST training digits start..start+n as (n, 28, 28) uint8 0–255 and (n,) labels."""
    x = np.round(mnist.x_train[start : start + n] * 255).astype(np.uint8).reshape(n, 28, 28)
    return x, mnist.y_train[start : start + n].copy()


def write_folder(root: Path, images: np.ndarray, labels: np.ndarray, names=None) -> Path:
    """ROOT/CLASS/NNNNN.png, white ink on black as MNIST (class k is names[k], default str(k))."""
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / (names[label] if names else str(label))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:05d}.png")
    return root


def csv_text(images: np.ndarray, labels: np.ndarray) -> str:
    lines = ["label," + ",".join(f"pixel{j}" for j in range(784))]
    lines += [f"{label}," + ",".join(map(str, image.reshape(784))) for image, label in zip(images, labels)]
    return "\n".join(lines) + "\n"


def write_csv(path: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    path.write_text(csv_text(images, labels))
    return path


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(argv))
        except SystemExit as exit:
            code = exit.code
    return code, out.getvalue(), err.getvalue()


def assert_one_line_error(err: str, match: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("digitnet: error: "), err
    assert re.search(match, lines[0]), f"{match!r} not in {lines[0]!r}"


# --------------------------------------------------------------------------- the three layouts


def test_csv_reads_pixels_over_255_and_labels_exactly(mnist, tmp_path):
    images, labels = digits(mnist, 50)
    path = write_csv(tmp_path / "digits.csv", images, labels)
    data = load_custom(path, seed=3)
    x = np.concatenate([data.x_train, data.x_test])
    y = np.concatenate([data.y_train, data.y_test])
    order = np.lexsort([x.sum(axis=1), y])  # the split reorders; compare as sorted multisets
    expected = images.reshape(50, 784).astype(np.float32) / 255
    expected_order = np.lexsort([expected.sum(axis=1), labels])
    np.testing.assert_array_equal(x[order], expected[expected_order])
    np.testing.assert_array_equal(y[order], labels[expected_order])
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert data.class_names == tuple(str(k) for k in range(int(labels.max()) + 1))
    assert data.source["kind"] == "csv" and data.source["path"] == str(path.resolve())
    assert data.source["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert data.name == "digits.csv"


def test_csv_is_read_in_blocks_with_the_right_line_numbers(mnist, tmp_path, monkeypatch):
    monkeypatch.setattr(custom, "CSV_BLOCK", 7)  # 50 rows: 8 blocks, the last one short
    images, labels = digits(mnist, 50)
    whole = load_custom(write_csv(tmp_path / "a.csv", images, labels))
    monkeypatch.setattr(custom, "CSV_BLOCK", 1000)
    np.testing.assert_array_equal(whole.x_train, load_custom(tmp_path / "a.csv").x_train)
    monkeypatch.setattr(custom, "CSV_BLOCK", 7)
    lines = csv_text(images, labels).splitlines()
    lines[40] = lines[40].replace(",0,", ",x,", 1)  # file line 41, data row 40, in the sixth block
    (tmp_path / "b.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"b.csv line 41 \(row 40 after the header\): pixel\d+ is 'x'"):
        load_custom(tmp_path / "b.csv")


def test_npz_takes_uint8_images_ints_and_floats_alike(mnist, tmp_path):
    images, labels = digits(mnist, 40)
    np.savez(tmp_path / "u8.npz", x=images, y=labels)  # (n, 28, 28) uint8
    np.savez(tmp_path / "i64.npz", x=images.reshape(40, 784).astype(np.int64), y=labels.astype(np.int32))
    np.savez(tmp_path / "f.npz", x=images.reshape(40, 784) / 255.0, y=labels)  # float64 in [0, 1]
    write_csv(tmp_path / "same.csv", images, labels)
    reference = load_custom(tmp_path / "same.csv")
    for name in ("u8.npz", "i64.npz", "f.npz"):
        data = load_custom(tmp_path / name)
        np.testing.assert_allclose(data.x_train, reference.x_train, atol=1e-7)  # same split: same labels
        np.testing.assert_array_equal(data.y_test, reference.y_test)
        assert data.source["kind"] == "npz"


def test_folder_images_are_prepared_exactly_as_predict_prepares_them(mnist, tmp_path):
    images, labels = digits(mnist, 30)
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    root = write_folder(tmp_path / "mine", images, labels, names)
    (root / "one" / ".hidden.png").write_bytes(b"not an image")  # skipped, as ImageFolder does
    (root / "one" / "notes.txt").write_text("skipped: not an image suffix")
    (root / "stray.png").write_bytes(b"files beside the class folders are not examples")
    data = load_custom(root, seed=1)
    assert data.class_names == tuple(sorted(names))  # ('eight', 'five', 'four', ...): sorted names
    x = np.concatenate([data.x_train, data.x_test])
    y = np.concatenate([data.y_train, data.y_test])
    assert len(x) == 30
    prepared = {}
    for file in sorted(root.rglob("[0-9]*.png")):
        prepared[file.parent.name, to_mnist(file).reshape(784).tobytes()] = True  # what predict computes
    for row, label in zip(x, y):
        assert (data.class_names[label], row.tobytes()) in prepared
    # The record names the data and hashes its listing: file names and their contents.
    assert data.source["kind"] == "folder"
    before = data.source["sha256"]
    first = sorted((root / "one").glob("[0-9]*.png"))[0]
    first.rename(first.with_name("renamed.png"))
    assert load_custom(root).source["sha256"] != before


def test_the_split_is_stratified_seeded_and_complete():
    y = np.repeat(np.arange(5), [10, 20, 7, 2, 1])  # (40,)
    train, test = stratified_split(y, 0.2, np.random.default_rng(0))
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(40))
    np.testing.assert_array_equal(np.bincount(y[test], minlength=5), [2, 4, 1, 1, 0])
    again, _ = stratified_split(y, 0.2, np.random.default_rng(0))
    np.testing.assert_array_equal(train, again)
    other, other_test = stratified_split(y, 0.2, np.random.default_rng(1))
    assert not np.array_equal(test, other_test)
    assert not np.array_equal(np.sort(train), train)  # shuffled: a Trainer's validation tail is random


def test_load_custom_records_counts_and_split(mnist, tmp_path):
    images, labels = digits(mnist, 100)
    write_csv(tmp_path / "train.csv", images, labels)
    test_images, test_labels = digits(mnist, 30, start=100)
    write_folder(tmp_path / "test", test_images, test_labels)
    data = load_custom(tmp_path / "train.csv", tmp_path / "test", seed=2)
    assert isinstance(data, CustomDataset) and isinstance(data, digitnet.data.Dataset)
    assert len(data.x_train) == 100 and len(data.x_test) == 30
    assert data.source["counts"]["train"] == np.bincount(labels, minlength=10).tolist()
    assert data.source["counts"]["test"] == np.bincount(test_labels, minlength=10).tolist()
    assert data.source["split"]["test"]["kind"] == "folder"
    held_out = load_custom(tmp_path / "train.csv", seed=2)
    assert sum(held_out.source["counts"]["test"]) == len(held_out.x_test) == 20
    assert held_out.source["split"] == {"seed": 2, "test_fraction": custom.TEST_FRACTION}


# --------------------------------------------------------------------------- bad data: one clear line

HEADER = "label," + ",".join(f"pixel{j}" for j in range(784))
ROW = "3," + ",".join(["0"] * 784)
BAD_CSV = {
    "no-header": (ROW + "\n" + ROW + "\n", r"line 1: expected the header label,pixel0,…,pixel783 .*add the header"),
    "kaggle-test": (",".join(f"pixel{j}" for j in range(784)) + "\n", r"first column must be 'label'.*test.csv has no labels"),
    "columns": ("label,a,b\n1,2,3\n", r"line 1: expected 785 columns .*; got 3"),
    "short-row": (f"{HEADER}\n{ROW}\n{ROW[:-2]}\n", r"line 3 \(row 2 after the header\): expected 785 values .*; got 784"),
    "text": (f"{HEADER}\n{ROW}\n{ROW.replace(',0', ',ink', 1)}\n", r"line 3 \(row 2 .*\): pixel0 is 'ink'; expected a whole number from 0 to 255"),
    "float": (f"{HEADER}\n{ROW.replace(',0', ',0.5', 1)}\n", r"line 2 \(row 1 .*\): pixel0 is '0.5'"),
    "empty-field": (f"{HEADER}\n{ROW.replace(',0', ',', 1)}\n", r"line 2 .*: pixel0 is ''"),
    "bad-label": (f"{HEADER}\n{ROW}\n{ROW}\n{ROW.replace('3,', 'three,', 1)}\n", r"line 4 .*: label is 'three'; expected a whole number"),
    "negative-label": (f"{HEADER}\n{ROW.replace('3,', '-1,', 1)}\n", r"line 2 .*: label is -1; expected a class index"),
    "pixel-256": (f"{HEADER}\n{ROW}\n{ROW[:-1]}256\n", r"line 3 .*: pixel783 is 256; expected 0–255"),
    "header-only": (HEADER + "\n", r"has a header but no rows of digits"),
}


@pytest.mark.parametrize("name", list(BAD_CSV))
def test_bad_csv_names_the_file_and_line(tmp_path, name):
    text, match = BAD_CSV[name]
    path = tmp_path / f"{name}.csv"
    path.write_text(text)
    with pytest.raises(DatasetError, match=f"{name}.csv.*{match}"):
        load_custom(path)


def test_blank_lines_are_skipped_and_crlf_is_fine(tmp_path):
    (tmp_path / "ok.csv").write_bytes(f"{HEADER}\r\n{ROW}\r\n\r\n{ROW[:-1]}9\r\n\n".encode())
    data = load_custom(tmp_path / "ok.csv")
    assert (len(data.x_train), len(data.x_test)) == (1, 1)
    assert sorted([data.x_train[0, -1], data.x_test[0, -1]]) == [0, np.float32(9) / 255]


def bad_npz(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.npz"
    x, y = np.zeros((4, 784), np.uint8), np.array([0, 1, 0, 1])
    arrays = {
        "missing-y": dict(x=x),
        "x-shape": dict(x=np.zeros((4, 28, 27), np.uint8), y=y),
        "x-range": dict(x=np.full((4, 784), 255.0), y=y),
        "x-nan": dict(x=np.full((4, 784), np.nan), y=y),
        "x-int-range": dict(x=np.full((4, 784), 300), y=y),
        "x-text": dict(x=np.full((4, 784), "a"), y=y),
        "y-float": dict(x=x, y=y.astype(float)),
        "y-shape": dict(x=x, y=y[:3]),
        "y-negative": dict(x=x, y=-y),
    }
    if name == "not-a-zip":
        path.write_bytes(b"PK? no")
    elif name == "objects":
        np.savez(path, x=np.array([object()] * 4, dtype=object), y=y)  # needs pickle to read back
    else:
        np.savez(path, **arrays[name])
    return path


BAD_NPZ = {
    "missing-y": r"expected arrays 'x' and 'y'; found \['x'\]",
    "x-shape": r"array 'x' must have shape \(n, 784\) or \(n, 28, 28\); got \(4, 28, 27\)",
    "x-range": r"array 'x' \(float64\) must hold values in \[0, 1\]; got values from 255 to 255 \(divide by 255",
    "x-nan": r"array 'x' holds NaN or infinity",
    "x-int-range": r"array 'x' \(int64\) must hold 0–255; got values from 300 to 300",
    "x-text": r"array 'x' must be uint8 \(0–255\) or float \(0–1\); got dtype <U1",
    "y-float": r"array 'y' must hold integer labels; got dtype float64",
    "y-shape": r"array 'y' must have shape \(4,\), one label per row of x; got \(3,\)",
    "y-negative": r"array 'y' must hold class indices 0 to 999; got values from -1 to 0",
    "not-a-zip": r"not a readable .npz file",
    "objects": r"array 'x' holds Python objects \(it needs pickle",
}


@pytest.mark.parametrize("name", list(BAD_NPZ))
def test_bad_npz_names_the_file_and_array(tmp_path, name):
    with pytest.raises(DatasetError, match=f"{name}.npz: {BAD_NPZ[name]}"):
        load_custom(bad_npz(tmp_path, name))


def test_bad_folders_name_the_folder_or_image(mnist, tmp_path):
    (tmp_path / "flat").mkdir()
    Image.fromarray(digits(mnist, 1)[0][0]).save(tmp_path / "flat" / "a.png")
    with pytest.raises(DatasetError, match=r"flat: expected one sub-folder of images per class .*found no sub-folders"):
        load_custom(tmp_path / "flat")
    images, labels = digits(mnist, 20)
    root = write_folder(tmp_path / "mine", images, labels)
    (root / "extra").mkdir()
    with pytest.raises(DatasetError, match=r"mine/extra: no image files .*every class folder needs at least one"):
        load_custom(root)
    (root / "extra").rmdir()
    Image.new("L", (28, 28), 0).save(root / "4" / "blank.png")
    with pytest.raises(DatasetError, match=r"no ink found in .*mine/4/blank.png: .* \(an image of class '4'\)$"):
        load_custom(root)
    (root / "4" / "blank.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(DatasetError, match=r"mine/4/blank.png.* \(an image of class '4'\)$"):
        load_custom(root)


def test_bad_paths_and_test_sets(mnist, tmp_path):
    with pytest.raises(DatasetError, match=r"nowhere.csv: no such file or folder"):
        load_custom(tmp_path / "nowhere.csv")
    (tmp_path / "digits.json").write_text("{}")
    with pytest.raises(DatasetError, match=r"expected a folder of class folders, a .csv .* or an .npz .*; got a .json file"):
        load_custom(tmp_path / "digits.json")
    images, labels = digits(mnist, 20)
    keep = labels < 5
    write_folder(tmp_path / "low", images[keep], labels[keep])
    write_folder(tmp_path / "all", images, labels)
    np.savez(tmp_path / "all.npz", x=images, y=labels)
    with pytest.raises(DatasetError, match=r"all: class folder '[5-9]' is not a class of the training data \(0, 1, 2, 3, 4\)"):
        load_custom(tmp_path / "low", tmp_path / "all")
    with pytest.raises(DatasetError, match=r"all.npz: label 9 is not a class of the training data, which has 5 classes"):
        load_custom(tmp_path / "low", tmp_path / "all.npz")
    one_each = tmp_path / "one.csv"
    write_csv(one_each, images[:1], labels[:1])
    with pytest.raises(DatasetError, match=r"cannot hold out a test split from 1 example\(s\).*--test-data"):
        load_custom(one_each)
    with pytest.raises(ValueError, match=r"test_fraction must be between 0 and 1; got 1.5"):
        load_custom(tmp_path / "all.npz", test_fraction=1.5)


def test_train_config_checks_data_settings(tmp_path):
    assert TrainConfig(data=tmp_path / "x.csv").data == str(tmp_path / "x.csv")  # paths become text
    with pytest.raises(ValueError, match=r"--data and --dataset are exclusive"):
        TrainConfig(data="x.csv", dataset="fashion-mnist")
    with pytest.raises(ValueError, match=r"--test-data needs --data"):
        TrainConfig(test_data="t.csv")
    with pytest.raises(ValueError, match=r"data must be the path of a folder, .csv or .npz; got ''"):
        TrainConfig(data="")


BAD_TRAIN = [
    (["--data", "missing.csv"], r"missing.csv: no such file or folder"),
    (["--data", "digits.csv", "--dataset", "mnist"], r"--data and --dataset are exclusive: .*give one"),
    (["--test-data", "digits.csv"], r"--test-data needs --data"),
    (["--data", "bad.csv"], r"bad.csv line 3 \(row 2 after the header\): pixel783 is 999; expected 0–255"),
]


@pytest.mark.parametrize("argv, match", BAD_TRAIN, ids=[" ".join(a) for a, _ in BAD_TRAIN])
def test_train_with_bad_data_exits_1_with_one_line(tmp_path, argv, match):
    (tmp_path / "digits.csv").write_text(f"{HEADER}\n{ROW}\n")
    (tmp_path / "bad.csv").write_text(f"{HEADER}\n{ROW}\n{ROW[:-1]}999\n")
    code, _, err = run_cli("train", "--epochs", "1", "--out", "m.safetensors", *argv)
    assert code == 1
    assert_one_line_error(err, match)
    assert not Path("m.safetensors").exists()


# --------------------------------------------------------------------------- the model remembers its data


def test_the_model_records_its_data_and_evaluate_and_show_find_it(mnist, tmp_path):
    images, labels = digits(mnist, 600)
    keep = labels < 3  # three classes: the preset's 10 outputs follow the data
    write_folder(tmp_path / "abc", images[keep], labels[keep], ["a", "b", "c"])
    code, out, err = run_cli("train", "--data", "abc", "--preset", "modern", "--epochs", "2", "--out", "m.safetensors")
    assert code == 0, err
    net = digitnet.load("m.safetensors")
    n = int(keep.sum())
    source = net.metadata["data"]
    assert net.sizes[-1] == 3 and net.metadata["class_names"] == ["a", "b", "c"] == source["class_names"]
    assert source["path"] == str((tmp_path / "abc").resolve()) and source["kind"] == "folder"
    assert sum(source["counts"]["train"]) + sum(source["counts"]["test"]) == n
    n_train = sum(source["counts"]["train"])
    assert net.metadata["training"]["validation_size"] == n_train // 10  # a tenth, not the preset's 10,000
    assert f"{n_train - n_train // 10} training, {n_train // 10} validation, {sum(source['counts']['test'])} test" in out

    code, out, err = run_cli("evaluate", "m.safetensors", "--json")
    assert code == 0 and err == ""
    report = json.loads(out)
    assert report["dataset"] == "abc" and [c["class"] for c in report["per_class"]] == ["a", "b", "c"]
    assert np.sum(report["confusion_matrix"]) == sum(source["counts"]["test"])
    assert report["accuracy"] == pytest.approx(net.metadata["metrics"]["test_accuracy"])

    # Changed since training: said on stderr, and the scores still come.
    shutil.copy(sorted((tmp_path / "abc" / "a").glob("*.png"))[0], tmp_path / "abc" / "a" / "copy.png")
    code, out, err = run_cli("evaluate", "m.safetensors", "--json")
    assert code == 0 and json.loads(out)["dataset"] == "abc"
    assert re.fullmatch(r"digitnet: warning: .*abc has changed since m.safetensors was trained on it "
                        r"\(SHA-256 .*\); its held-out test split may now include training examples\n", err)

    # Moved: one clear line, from evaluate and show alike; --dataset still works.
    (tmp_path / "abc").rename(tmp_path / "moved")
    for command in (["evaluate", "m.safetensors"], ["show", "confusion", "m.safetensors", "-o", "c.png"]):
        code, _, err = run_cli(*command)
        assert code == 1
        assert_one_line_error(err, r"m.safetensors was trained on the folder .*abc, which is not there any more "
                                   r"\(moved or deleted\)")
    code, _, err = run_cli("evaluate", "m.safetensors", "--dataset", "mnist")
    assert code == 1
    assert_one_line_error(err, r"m.safetensors takes 784 inputs and has 3 outputs; mnist needs 784 and 10")


def test_a_config_file_names_the_data_and_settings_given_are_kept(mnist, tmp_path):
    images, labels = digits(mnist, 300)
    np.savez(tmp_path / "d.npz", x=images, y=labels)
    (tmp_path / "run.toml").write_text('preset = "modern"\ndata = "d.npz"\nvalidation-size = 50\nepochs = 1\n')
    code, _, err = run_cli("train", "--config", "run.toml", "--layers", "784,16,12", "--out", "m.safetensors")
    assert code == 1  # the layers were given: they are kept, and must fit the data's 10 classes
    assert_one_line_error(err, r"layers must start with 784 inputs and end with 10 outputs for d.npz; got \[784, 16, 12\]")
    code, _, err = run_cli("train", "--config", "run.toml", "--out", "m.safetensors")
    assert code == 0, err
    training = digitnet.load("m.safetensors").metadata["training"]
    assert (training["data"], training["validation_size"], training["epochs"]) == ("d.npz", 50, 1)


def test_load_recorded_rebuilds_the_same_split_and_warns_on_change(mnist, tmp_path):
    images, labels = digits(mnist, 80)
    path = write_csv(tmp_path / "d.csv", images, labels)
    first = load_custom(path, seed=4)
    again = load_recorded(json.loads(json.dumps(first.source)))  # as read back from a model file
    np.testing.assert_array_equal(first.x_test, again.x_test)
    np.testing.assert_array_equal(first.y_train, again.y_train)
    with path.open("a") as file:
        file.write(csv_text(images[:1], labels[:1]).splitlines()[1] + "\n")
    said = []
    load_recorded(first.source, label="model.safetensors", warn=said.append)
    assert len(said) == 1 and re.match(r".*d.csv has changed since model.safetensors was trained on it", said[0])
    with pytest.warns(UserWarning, match=r"d.csv has changed"):
        load_recorded(first.source)
    with pytest.raises(DatasetError, match=r"records its training data in an unreadable form"):
        load_recorded({"path": str(path)})


def test_show_uses_the_models_own_data(mnist, tmp_path):
    pytest.importorskip("matplotlib")
    images, labels = digits(mnist, 600)
    keep = labels < 3  # three classes: on MNIST's test set show would refuse this model
    np.savez(tmp_path / "d.npz", x=images[keep], y=labels[keep])
    code, _, err = run_cli("train", "--data", "d.npz", "--preset", "modern", "--epochs", "1", "--out", "m.safetensors")
    assert code == 0, err
    code, _, err = run_cli("show", "mistakes", "m.safetensors", "--dataset", "mnist", "-o", "mnist.png")
    assert code == 1 and "has 3 outputs; mnist needs 784 and 10" in err
    code, out, err = run_cli("show", "mistakes", "m.safetensors", "-o", "mistakes.png")
    assert code == 0, err
    assert Path("mistakes.png").stat().st_size > 0


# --------------------------------------------------------------------------- acceptance: ≥ 85% on MNIST


def train_and_score(argv: list[str]) -> float:
    """`digitnet train ARGV --preset modern --epochs 5`, then its accuracy on the MNIST test set."""
    code, out, err = run_cli("train", *argv, "--preset", "modern", "--epochs", "5", "--out", "own.safetensors")
    assert code == 0, err
    code, out, err = run_cli("evaluate", "own.safetensors", "--dataset", "mnist", "--json")
    assert code == 0, err
    return json.loads(out)["accuracy"]


@pytest.mark.slow
def test_a_folder_of_5000_mnist_pngs_trains_a_model_scoring_85_percent_on_mnist(mnist, tmp_path):
    images, labels = digits(mnist, 5000)
    write_folder(tmp_path / "digits", images, labels)
    accuracy = train_and_score(["--data", "digits"])
    assert accuracy >= 0.85, accuracy


@pytest.mark.slow
def test_a_kaggle_csv_of_5000_mnist_digits_trains_a_model_scoring_85_percent_on_mnist(mnist, tmp_path):
    images, labels = digits(mnist, 5000)
    write_csv(tmp_path / "train.csv", images, labels)
    accuracy = train_and_score(["--data", "train.csv"])
    assert accuracy >= 0.85, accuracy


@pytest.mark.slow
def test_an_npz_with_a_test_file_trains_a_model_scoring_85_percent_on_mnist(mnist, tmp_path):
    images, labels = digits(mnist, 4500)
    np.savez(tmp_path / "train.npz", x=images, y=labels)
    test_images, test_labels = digits(mnist, 500, start=4500)
    np.savez(tmp_path / "test.npz", x=test_images.reshape(500, 784) / 255.0, y=test_labels)
    accuracy = train_and_score(["--data", "train.npz", "--test-data", "test.npz"])
    assert accuracy >= 0.85, accuracy
    assert digitnet.load("own.safetensors").metadata["data"]["counts"]["test"] == np.bincount(test_labels).tolist()
