"""Model files and checkpoints under hostile or unlucky conditions (issue 13, "Files and
training"): every failure to read or write is one ModelFileError naming the file; save never
writes what load would refuse; a destination that is a device is never replaced; checkpoints
are checked as strictly as models. Each test is named after what it protects."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from safetensors import SafetensorError
from safetensors.numpy import save_file

import digitnet as dn
from digitnet import cli, modelfile
from digitnet.modelfile import ModelFileError
from digitnet.training import TrainConfig
from digitnet.training.checkpoints import checkpoint_path, load_checkpoint
from digitnet.training.run import run_training
from synthetic_data import learnable_dataset


def tensors_and_document(path: Path) -> tuple[dict, dict]:
    return modelfile.read(path)


def rewrite(path: Path, tensors: dict, document: dict) -> Path:
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(path),
              metadata={"digitnet": json.dumps(document)})
    return path


@pytest.fixture
def good(tmp_path) -> Path:
    path = tmp_path / "good.safetensors"
    dn.save(dn.Network([784, 16, 10], seed=1), path)
    return path


# --------------------------------------------------------------------------- reading
def test_weights_of_3e38_are_refused_not_loaded_into_overflow_warnings(good, tmp_path):
    tensors, document = tensors_and_document(good)
    tensors["layers.0.weight"] = np.full_like(tensors["layers.0.weight"], 3e38)
    path = rewrite(tmp_path / "huge.safetensors", tensors, document)
    with pytest.raises(ModelFileError, match=r"huge.safetensors: layer 0's weights and biases \(up to 3e\+38 .*infinite or NaN"):
        dn.load(path)


def test_large_but_safe_weights_still_load(good, tmp_path):
    """The overflow bound is no arbitrary cap: weights of 1e4, far beyond any trained network's,
    cannot overflow float32 through this network and load (and answer finitely)."""
    tensors, document = tensors_and_document(good)
    tensors["layers.0.weight"] = np.full_like(tensors["layers.0.weight"], 1e4)
    net = dn.load(rewrite(tmp_path / "big.safetensors", tensors, document))
    assert np.isfinite(net.probabilities(np.ones((1, 784), np.float32))).all()


def test_relu_layers_compound_the_overflow_bound(tmp_path):
    """ReLU passes magnitudes on: 1e12 in both layers overflows float32 only together."""
    net = dn.Network([784, 16, 10], activation="relu", output_activation="identity", seed=0)
    net.layers[0].weight[...] = 1e12 / 784
    dn.save(net, tmp_path / "one.safetensors")  # |z| ≤ 1e12 after layer 0: fine
    net.layers[1].weight[...] = 1e30
    with pytest.raises(ModelFileError, match="layer 1's weights"):
        dn.save(net, tmp_path / "two.safetensors")
    assert not (tmp_path / "two.safetensors").exists()


@pytest.mark.parametrize("name", ["layers.2.weight", "foo", "best.0", "optimizer.t"])
def test_extra_tensors_in_a_model_file_are_refused(good, tmp_path, name):
    tensors, document = tensors_and_document(good)
    tensors[name] = np.full((3,), np.nan, np.float32)
    path = rewrite(tmp_path / "extra.safetensors", tensors, document)
    with pytest.raises(ModelFileError, match=rf"extra.safetensors: unexpected tensor\(s\) {name}"):
        dn.load(path)


@pytest.mark.parametrize("version", [True, False, 1.0])
def test_format_version_true_is_refused(good, tmp_path, version):
    tensors, document = tensors_and_document(good)
    document["format_version"] = version
    with pytest.raises(ModelFileError, match="invalid format_version"):
        dn.load(rewrite(tmp_path / "v.safetensors", tensors, document))


def test_a_fifo_given_as_a_model_is_refused_at_once(tmp_path):
    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)  # reading it would wait for a writer for ever
    with pytest.raises(ModelFileError, match=r"no model file at .*model.safetensors: it is a FIFO"):
        dn.load(fifo)


def test_a_checkpoint_is_not_loaded_as_a_model(trained_run):
    out, _ = trained_run
    with pytest.raises(ModelFileError, match="is a training checkpoint .* not a model file"):
        dn.load(checkpoint_path(out))


# --------------------------------------------------------------------------- writing
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_save_refuses_non_finite_weights(tmp_path, value):
    net = dn.Network([784, 16, 10], seed=0)
    net.layers[1].bias[3] = value
    with pytest.raises(ModelFileError, match=r"not saving .*m.safetensors: tensor layers.1.bias holds NaN or infinite"):
        dn.save(net, tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_disk_full_while_saving_is_one_model_file_error(tmp_path, monkeypatch):
    """safetensors reports a full disk as SafetensorError('... No space left on device')."""
    import safetensors.numpy

    def full_disk(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"\0" * 10)  # part of the file, then the disk is full
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(safetensors.numpy, "save_file", full_disk)
    target = tmp_path / "m.safetensors"
    with pytest.raises(ModelFileError, match=r"could not write .*m.safetensors: .*No space left on device"):
        dn.save(dn.Network([784, 10], seed=0), target)
    assert list(tmp_path.iterdir()) == []  # no half-written model, no temporary file


def not_regular_files(folder: Path) -> dict[str, Path]:
    """Destinations that are not regular files, made inside folder (never the real /dev/full:
    a broken save must not be able to replace a device of the machine running the tests)."""
    made = {"folder": folder / "folder.safetensors", "fifo": folder / "fifo.safetensors"}
    made["folder"].mkdir()
    os.mkfifo(made["fifo"])
    if os.geteuid() == 0:  # a character device like /dev/full (major 1, minor 7), here
        made["device"] = folder / "full.safetensors"
        os.mknod(made["device"], stat.S_IFCHR | 0o666, os.makedev(1, 7))
    return made


def test_saving_onto_a_device_never_replaces_it(tmp_path):
    """As root, renaming a finished temporary file onto /dev/full replaced the device with a
    regular file. Now a destination that is not a regular file is refused before any write."""
    kinds = {"folder": "a folder", "fifo": "a FIFO", "device": "a character device"}
    for kind, path in not_regular_files(tmp_path).items():
        before = os.stat(path)
        with pytest.raises(ModelFileError, match=rf"could not write {path}: {path} is {kinds[kind]}"):
            dn.save(dn.Network([784, 10], seed=0), path)
        after = os.stat(path)
        assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode) and after.st_rdev == before.st_rdev
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


# --------------------------------------------------------------------------- checkpoints
@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A finished 2-epoch Adam run on learnable synthetic images: (model path, config)."""
    config = TrainConfig(sizes=[784, 8, 10], activation="relu", output_activation="softmax", loss="cross-entropy",
                         optimizer="adam", learning_rate=1e-2, epochs=2, batch_size=50, validation_size=100)
    out = tmp_path_factory.mktemp("run") / "m.safetensors"
    run_training(config, learnable_dataset(), out, say=lambda line: None)
    return out, config


def edited_checkpoint(trained_run, tmp_path, *, state=None, tensors=None, document=None) -> Path:
    out, _ = trained_run
    saved_tensors, saved_document = modelfile.read(checkpoint_path(out))
    if state:
        state(saved_document["checkpoint"])
    if document:
        document(saved_document)
    if tensors:
        tensors(saved_tensors)
    return rewrite(tmp_path / "m.checkpoint.safetensors", saved_tensors, saved_document)


CHECKPOINT_EDITS = {
    "bad rng": (dict(state=lambda s: s.__setitem__("rng", {"bit_generator": "PCG64", "state": 5})), "checkpoint rng is not"),
    "rng of another generator": (dict(state=lambda s: s["rng"].__setitem__("bit_generator", "MT19937")), "checkpoint rng"),
    "missing epoch": (dict(state=lambda s: s.pop("epoch")), r"checkpoint epoch must be an integer in 0..2; got None"),
    "epoch beyond the run": (dict(state=lambda s: s.__setitem__("epoch", 7)), r"checkpoint epoch must be an integer in 0..2"),
    "epoch true": (dict(state=lambda s: s.__setitem__("epoch", True)), r"checkpoint epoch must be an integer"),
    "history a list": (dict(state=lambda s: s.__setitem__("history", [])), "checkpoint history must be an object"),
    "history of strings": (dict(state=lambda s: s["history"]["records"][0].__setitem__("loss", "low")), "history record 1"),
    "best_score nan": (dict(state=lambda s: s.__setitem__("best_score", float("nan"))), "best_score must be a finite"),
    "NaN best weights": (dict(tensors=lambda t: t["best.0"].fill(np.nan)), r"tensor best.0 holds NaN or infinite"),
    "exploded best weights": (dict(tensors=lambda t: t["best.2"].fill(3e38)), r"best weights \(best.\*\) are unusable"),
    "unknown tensor": (dict(tensors=lambda t: t.__setitem__("foo", np.zeros(3, np.float32))), r"unexpected tensor\(s\) foo"),
    "missing Adam buffer": (dict(tensors=lambda t: t.pop("optimizer.m.1")), r"missing tensor\(s\) optimizer.m.1"),
    "buffer of the wrong shape": (dict(tensors=lambda t: t.__setitem__("optimizer.s.0", np.zeros((8, 783), np.float32))),
                                  r"tensor optimizer.s.0 must be float32 of shape \(8, 784\)"),
    "no training settings": (dict(document=lambda d: d.pop("training")), "holds no training settings"),
}


@pytest.mark.parametrize("edit", list(CHECKPOINT_EDITS))
def test_checkpoints_are_checked_as_strictly_as_models(trained_run, tmp_path, edit):
    changes, match = CHECKPOINT_EDITS[edit]
    path = edited_checkpoint(trained_run, tmp_path, **changes)
    with pytest.raises(ModelFileError, match=match) as caught:
        load_checkpoint(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_resuming_from_a_bad_checkpoint_never_replaces_the_model(trained_run, tmp_path):
    """A checkpoint whose best weights are NaN resumed and saved a model evaluate then refused."""
    out, config = trained_run
    path = edited_checkpoint(trained_run, tmp_path, tensors=lambda t: t["best.0"].fill(np.nan))
    model = path.with_name("m.safetensors")
    model.write_bytes(out.read_bytes())
    before = model.read_bytes()
    with pytest.raises(ModelFileError, match="best.0 holds NaN"):
        run_training(config, learnable_dataset(), model, resume=True, say=lambda line: None)
    assert model.read_bytes() == before
