"""Training never loses a good model (issue 13): a run that did not learn is TrainingDiverged and
leaves --out as it was; two runs cannot write one --out; a finished checkpoint does not outlive
its model; a custom run never takes a preset's file; and the library refuses inputs and labels
that would train or score nonsense silently. Each test is named after what it protects."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import digitnet as dn
from digitnet import cli
from digitnet.training import TrainConfig, TrainingDiverged
from digitnet.training.checkpoints import checkpoint_path, history_paths
from digitnet.training.lock import OutLocked, lock_path, locked_out
from digitnet.training.run import run_training
from synthetic_data import learnable_dataset

SRC = Path(dn.__file__).parents[1]


def quiet(line: str) -> None:
    pass


def small(**changes) -> TrainConfig:
    """784-16-10 sigmoid, the video's recipe, 2 epochs on the synthetic band images."""
    return TrainConfig(**{"sizes": [784, 16, 10], "epochs": 2, "batch_size": 20, "validation_size": 200, **changes})


@pytest.fixture(scope="module")
def data():
    return learnable_dataset(1000, 200)


@pytest.fixture
def good_model(data, tmp_path) -> Path:
    out = tmp_path / "m.safetensors"
    result = run_training(small(), data, out, say=quiet)
    assert result.metrics["val_accuracy"] > 0.9  # the data are learnable: a failure below is the settings'
    return out


def files_beside(out: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(out.parent.iterdir()) if path.is_file()}


# --------------------------------------------------------------------------- did not learn
@pytest.mark.parametrize("changes", [
    dict(learning_rate=100.0),                                 # sigmoid saturates: 10% accuracy
    # Weights of 1e29, still finite, on the fused engine (whose σ never overflows; the compiled
    # engine's weights overflow to inf there, which is the diverged case below).
    dict(learning_rate=1e30, engine="fused"),
    dict(optimizer="adam", learning_rate=100.0),               # Adam too
], ids=["lr 100", "lr 1e30", "adam lr 100"])
def test_a_run_that_did_not_learn_never_replaces_a_good_model(good_model, data, changes):
    before = files_beside(good_model)
    model_and_history = {name: before[name] for name in ("m.safetensors", "m.history.json", "m.history.csv")}
    with pytest.raises(TrainingDiverged, match=r"training did not learn: .*no better than always answering the most "
                                               r"common class .*; the model at .*m.safetensors is unchanged"):
        run_training(small(**changes), data, good_model, say=quiet)
    after = files_beside(good_model)
    assert {name: after[name] for name in model_and_history} == model_and_history
    assert dn.load(good_model).metadata["metrics"]["val_accuracy"] > 0.9


def test_a_diverged_run_with_no_model_before_saves_nothing(data, tmp_path):
    out = tmp_path / "new.safetensors"
    with pytest.raises(TrainingDiverged, match=r"nothing was saved to .*new.safetensors"):
        run_training(small(learning_rate=100.0), data, out, say=quiet)
    assert not out.exists()


def test_weight_decay_that_explodes_the_weights_is_named_as_the_cause(data, tmp_path):
    with pytest.raises(TrainingDiverged, match=r"try a smaller weight decay \(weight_decay, now 1e\+30\): with a "
                                               r"learning rate of 3 each step multiplies the weights by 1 − 3·1e\+30"):
        run_training(small(weight_decay=1e30), data, tmp_path / "m.safetensors", say=quiet)


def test_without_validation_the_last_epoch_decides_whether_it_learned(tmp_path):
    with pytest.raises(TrainingDiverged, match="its last epoch's training accuracy"):
        run_training(small(learning_rate=100.0, validation_size=0), learnable_dataset(), tmp_path / "m.safetensors",
                     say=quiet)


# --------------------------------------------------------------------------- one run per --out
def test_a_second_training_on_the_same_out_fails_at_once(data, tmp_path):
    out = tmp_path / "m.safetensors"
    with locked_out(out):
        assert lock_path(out).exists()
        started = time.monotonic()
        with pytest.raises(OutLocked, match=r"another `digitnet train` is writing .*m.safetensors"):
            run_training(small(), data, out, say=quiet)
        assert time.monotonic() - started < 5  # not after training
    assert not out.exists() and not lock_path(out).exists()
    run_training(small(), data, out, say=quiet)  # free again afterwards
    assert out.exists() and not lock_path(out).exists()


def test_the_lock_of_a_killed_run_does_not_block_the_next(tmp_path):
    out = tmp_path / "m.safetensors"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom digitnet.training.lock import locked_out\n"
         "with locked_out(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)\n", str(out)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OutLocked):
            with locked_out(out):
                pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.stdout.close()
    assert lock_path(out).exists()  # left behind by the killed run ...
    with locked_out(out):  # ... and no obstacle: the kernel released its lock
        pass


def test_two_cli_trainings_on_one_out_the_second_fails_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    out = tmp_path / "m.safetensors"
    err = io.StringIO()
    with locked_out(out), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["train", "--epochs", "1", "--batch-size", "100", "--out", str(out)])
    assert code == 1
    assert err.getvalue().count("\n") == 1 and "another `digitnet train` is writing" in err.getvalue()


# --------------------------------------------------------------------------- finished checkpoints
def test_deleting_a_finished_model_trains_again_instead_of_resuming_after_the_last_epoch(good_model, data):
    assert checkpoint_path(good_model).exists()
    good_model.unlink()
    said = []
    result = run_training(small(), data, good_model, resume=True, say=said.append)
    assert result.resumed_from_epoch == 0 and good_model.exists()
    assert any("is of a finished run whose model" in line and "starting from the beginning" in line for line in said)
    assert not any("Resuming from" in line for line in said)


def test_an_interrupted_checkpoint_still_resumes_without_its_model(data, tmp_path):
    """Only a *finished* checkpoint is stale without its model: an interrupted run has no model yet."""
    out = tmp_path / "m.safetensors"

    def interrupt(record):
        raise KeyboardInterrupt  # Ctrl-C after the first epoch's checkpoint

    with pytest.raises(KeyboardInterrupt):
        run_training(small(), data, out, say=quiet, on_epoch=interrupt)
    assert not out.exists() and checkpoint_path(out).exists()
    said = []
    result = run_training(small(), data, out, resume=True, say=said.append)
    assert result.resumed_from_epoch == 1 and any("Resuming from" in line for line in said)


# --------------------------------------------------------------------------- the library
def test_pixels_not_divided_by_255_are_refused_with_the_fix(data):
    net = dn.Network([784, 16, 10], seed=0)
    with pytest.raises(ValueError, match=r"x must hold pixel brightnesses in \[0, 1\] .* got values from 0 to 255; "
                                         r"divide 0..255 pixels by 255"):
        dn.train(net, np.round(data.x_train * 255), data.y_train, epochs=1, batch_size=10, learning_rate=3.0)
    with pytest.raises(ValueError, match=r"validation x must hold pixel brightnesses"):
        dn.train(net, data.x_train, data.y_train, epochs=1, batch_size=10, learning_rate=3.0,
                 validation=(data.x_test * 255, data.y_test))


def test_small_overshoots_and_non_image_features_still_train(data):
    # Resampling (deskewing, shifting) may overshoot [0, 1] a little: still pixels.
    x = np.clip(data.x_train * 1.2 - 0.1, -0.2, 1.2).astype(np.float32)
    dn.train(dn.Network([784, 16, 10], seed=0), x, data.y_train, epochs=1, batch_size=10, learning_rate=3.0)
    # Other input widths are features of any scale (scikit-learn style data).
    features = np.random.default_rng(0).normal(0, 50, (100, 12)).astype(np.float32)
    dn.train(dn.Network([12, 8, 3], seed=0), features, np.arange(100) % 3, epochs=1, batch_size=10, learning_rate=0.1)


@pytest.mark.parametrize("labels, match", [
    (lambda y: y + 100, r"y labels must be in 0..9, one per output; got 10[0-9]..10[0-9]"),
    (lambda y: y - 1, r"y labels must be in 0..9"),
    (lambda y: y.astype(np.float64), r"y must be integer labels in 0..9; got dtype float64"),
    (lambda y: y.astype(str), r"y must be integer labels in 0..9; got dtype <U"),
    (lambda y: y > 4, r"y must be integer labels in 0..9; got dtype bool"),
], ids=["y+100", "y-1", "float", "string", "bool"])
def test_evaluate_refuses_labels_it_cannot_score(data, labels, match):
    net = dn.Network([784, 16, 10], seed=0)
    with pytest.raises(ValueError, match=match):
        dn.evaluate(net, data.x_test, labels(data.y_test))


@pytest.mark.parametrize("sizes", [[784, 10**12], [784, 10**9, 10], [10**7, 10**7]])
def test_a_network_too_large_for_memory_is_a_value_error_not_a_memory_error(sizes):
    with pytest.raises(ValueError, match=r"make [\d,]+ weights and biases, about .* GiB to create; this machine has"):
        dn.Network(sizes)


@pytest.mark.parametrize("dtype", [None, 5, "float16", np.int32])
def test_network_dtype_is_checked(dtype):
    with pytest.raises(ValueError, match="dtype must be one of float32, float64"):
        dn.Network([784, 10], dtype=dtype)
