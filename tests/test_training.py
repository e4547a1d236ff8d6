"""Training: it learns, it is reproducible, it leaves the caller's data alone, early stopping
keeps the best weights, divergence is reported clearly, and every argument is checked."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import digitnet as dn
from digitnet.training.schedules import scheduled_learning_rate


def trainer_for(net, x, y, *, validation=None, test=None, **settings):
    """A Trainer for net with these settings (the network's own architecture in its config)."""
    config = dn.TrainConfig.from_dict({"sizes": net.sizes, "activation": net.activation,
                                       "output_activation": net.output_activation, **settings})
    return dn.Trainer(net, config, x, y, validation=validation, test=test)


N_FEATURES, N_CLASSES = 12, 3


def blobs(n: int, seed: int, noise: float = 0.15):
    """A 3-class problem made here: Gaussian blobs around fixed centres in [0.1, 0.9]^12.

    With noise 0.15 the classes are separable; with 0.5 they overlap a lot.
    """
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).uniform(0.1, 0.9, size=(N_CLASSES, N_FEATURES))
    labels = rng.integers(0, N_CLASSES, size=n)
    x = centres[labels] + rng.normal(scale=noise, size=(n, N_FEATURES))
    return x.astype(np.float32), labels


@pytest.fixture(scope="module")
def data():
    return blobs(300, seed=0)


@pytest.fixture(scope="module")
def held_out():
    return blobs(200, seed=1)


def sigmoid_net(seed=0):
    return dn.Network([N_FEATURES, 16, N_CLASSES], seed=seed)


def relu_net(seed=0, hidden=16):
    return dn.Network([N_FEATURES, hidden, N_CLASSES], activation="relu", output_activation="softmax", seed=seed)


# ----------------------------------------------------------------- it learns
def test_video_recipe_learns(data, held_out):
    # sigmoid everywhere, quadratic cost, plain SGD, batches of 10, learning rate 3.0
    x, y = data
    net = sigmoid_net()
    chance_loss = net.loss(x, y)
    history = dn.train(net, x, y, epochs=10, batch_size=10, learning_rate=3.0, seed=0)
    assert len(history) == 10
    assert history.loss[-1] < 0.2 * history.loss[0]
    assert net.loss(x, y) < 0.2 * chance_loss
    assert history.accuracy[-1] > 0.95
    assert dn.evaluate(net, *held_out) > 0.95  # chance is 1/3


def test_modern_recipe_learns(data, held_out):
    x, y = data
    net = relu_net()
    history = dn.train(net, x, y, epochs=10, batch_size=10, learning_rate=0.01, optimizer="adam",
                       loss="cross-entropy", seed=0)
    assert history.loss[-1] < 0.1 * history.loss[0]
    assert history.accuracy[-1] > 0.95
    assert dn.evaluate(net, *held_out) > 0.95


@pytest.mark.parametrize("optimizer, learning_rate", [("momentum", 0.1), ("adamw", 0.01)])
def test_other_optimizers_learn(data, held_out, optimizer, learning_rate):
    x, y = data
    net = relu_net()
    dn.train(net, x, y, epochs=8, batch_size=10, learning_rate=learning_rate, optimizer=optimizer,
             loss="cross-entropy", seed=0, weight_decay=1e-3, nesterov=True, schedule="cosine")
    assert dn.evaluate(net, *held_out) > 0.95


def test_dropout_trains(data, held_out):
    x, y = data
    net = relu_net(hidden=32)
    history = dn.train(net, x, y, epochs=10, batch_size=10, learning_rate=0.01, optimizer="adam",
                       loss="cross-entropy", seed=0, dropout=0.5)
    assert history.loss[-1] < 0.2 * history.loss[0]
    assert dn.evaluate(net, *held_out) > 0.95
    # Inference uses the whole network: no random masks outside training.
    np.testing.assert_array_equal(net.forward(held_out[0]), net.forward(held_out[0]))


def test_dropout_changes_the_run_and_stays_reproducible(data):
    x, y = data
    runs = []
    for dropout in (0.0, 0.3, 0.3):
        net = relu_net()
        dn.train(net, x, y, epochs=2, batch_size=10, learning_rate=0.01, optimizer="adam",
                 loss="cross-entropy", seed=0, dropout=dropout)
        runs.append(net.parameters())
    assert not np.array_equal(runs[0][0], runs[1][0])
    for a, b in zip(runs[1], runs[2]):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------- reproducibility
def trained_parameters(x, y, seed, **options):
    net = relu_net(seed=0)
    dn.train(net, x, y, epochs=3, batch_size=7, learning_rate=0.01, optimizer="adam", loss="cross-entropy",
             seed=seed, **options)
    return net.parameters()


def test_same_seed_gives_bit_identical_weights(data):
    x, y = data
    first, second = trained_parameters(x, y, seed=42), trained_parameters(x, y, seed=42)
    for a, b in zip(first, second):
        assert np.array_equal(a, b)


def test_different_seed_gives_different_weights(data):
    x, y = data
    first, second = trained_parameters(x, y, seed=42), trained_parameters(x, y, seed=43)
    assert all(not np.array_equal(a, b) for a, b in zip(first, second))


@pytest.mark.parametrize("targets", [False, True])
def test_callers_arrays_are_not_modified_or_reordered(data, targets):
    x, labels = data
    x = x.copy()  # float32 like the network: nothing forces a copy inside
    y = np.eye(N_CLASSES, dtype=np.float32)[labels] if targets else labels.copy()
    x_before, y_before = x.copy(), y.copy()
    net = relu_net()
    dn.train(net, x, y, epochs=2, batch_size=10, learning_rate=0.01, optimizer="adam", loss="cross-entropy",
             seed=0, dropout=0.2, validation=(x, labels))
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(y, y_before)


def test_train_returns_history_of_every_epoch(data):
    x, y = data
    epochs_seen, batches_seen = [], []
    history = dn.train(sigmoid_net(), x, y, epochs=3, batch_size=10, learning_rate=3.0, seed=0,
                       on_epoch=lambda record: epochs_seen.append(record["epoch"]),
                       on_batch=lambda done, total, loss: batches_seen.append((done, total)))
    assert isinstance(history, dn.History)
    assert epochs_seen == [1, 2, 3]
    assert batches_seen[-1] == (300, 300)
    assert all(0 < done <= total == 300 for done, total in batches_seen)
    assert len(history.loss) == len(history.accuracy) == len(history.seconds) == 3
    assert all(s >= 0 for s in history.seconds)
    assert all(0 <= a <= 1 for a in history.accuracy)


# ----------------------------------------------------------------- schedules in training
@pytest.mark.parametrize("schedule", ["constant", "step", "cosine"])
def test_learning_rate_follows_the_schedule(schedule):
    x, y = blobs(20, seed=2)
    epochs = 12
    history = dn.train(sigmoid_net(), x, y, epochs=epochs, batch_size=10, learning_rate=2.0, seed=0,
                       schedule=schedule)
    rates = [record["learning_rate"] for record in history.records]
    assert rates == [scheduled_learning_rate(schedule, 2.0, e, epochs) for e in range(epochs)]


# ----------------------------------------------------------------- early stopping
def test_early_stopping_keeps_the_best_weights():
    # Overlapping classes and a large learning rate: validation accuracy peaks early, then falls.
    x, y = blobs(200, seed=2, noise=0.5)
    x_val, y_val = blobs(40, seed=3, noise=0.5)
    net = relu_net()
    trainer = trainer_for(net, x, y, epochs=30, batch_size=10, learning_rate=1.0, loss="cross-entropy", seed=0,
                         patience=4, validation=(x_val, y_val))
    snapshots = []  # the weights at the end of every epoch
    history = trainer.run(on_epoch=lambda record: snapshots.append([p.copy() for p in net.parameters()]))
    best = max(history.val_accuracy)
    assert len(history) < 30, "early stopping did not trigger"
    assert len(history) == trainer.best_epoch + 4
    assert history.val_accuracy[trainer.best_epoch - 1] == best
    # The network holds the best epoch's weights, not the last epoch's.
    assert all(np.array_equal(p, at_best) for p, at_best in zip(net.parameters(), snapshots[trainer.best_epoch - 1]))
    assert not all(np.array_equal(p, at_end) for p, at_end in zip(net.parameters(), snapshots[-1]))
    assert dn.evaluate(net, x_val, y_val) == best


def test_train_with_validation_keeps_the_best_weights():
    x, y = blobs(200, seed=2, noise=0.5)
    x_val, y_val = blobs(40, seed=3, noise=0.5)
    net = relu_net()
    history = dn.train(net, x, y, epochs=6, batch_size=10, learning_rate=1.0, loss="cross-entropy", seed=0,
                       validation=(x_val, y_val))
    assert dn.evaluate(net, x_val, y_val) == max(history.val_accuracy)


def test_keep_last_keeps_the_last_epochs_weights():
    # The run of test_early_stopping_keeps_the_best_weights, whose best epoch is not its last.
    x, y = blobs(200, seed=2, noise=0.5)
    x_val, y_val = blobs(40, seed=3, noise=0.5)
    net = relu_net()
    trainer = trainer_for(net, x, y, epochs=12, batch_size=10, learning_rate=1.0, loss="cross-entropy", seed=0,
                         validation=(x_val, y_val), keep="last")
    snapshots = []
    trainer.run(on_epoch=lambda record: snapshots.append([p.copy() for p in net.parameters()]))
    assert trainer.best_epoch < 12
    assert all(np.array_equal(p, at_end) for p, at_end in zip(net.parameters(), snapshots[-1]))
    with pytest.raises(ValueError, match="unknown keep 'first'; expected one of best, last"):
        dn.TrainConfig(sizes=[N_FEATURES, 16, N_CLASSES], keep="first")


# ----------------------------------------------------------------- divergence

def diverging_run():
    x, y = blobs(100, seed=4)
    net = dn.Network([N_FEATURES, 16, N_CLASSES], activation="relu", output_activation="identity", seed=0)
    dn.train(net, x, y, epochs=3, batch_size=10, learning_rate=1e4, seed=0)


def test_huge_learning_rate_raises_training_diverged():
    with pytest.raises(dn.TrainingDiverged, match=r"diverged in epoch 1\b.*smaller learning rate"):
        diverging_run()


def test_divergence_is_quiet_under_default_numpy_settings():
    # What a user sees: numpy's default errstate is "warn" (filterwarnings=error makes a
    # warning fail the test). Only TrainingDiverged should come out.
    with np.errstate(all="warn", under="ignore"):
        with pytest.raises(dn.TrainingDiverged, match=r"epoch 1\b.*smaller learning rate"):
            diverging_run()


def test_training_diverged_is_a_value_error():
    assert issubclass(dn.TrainingDiverged, ValueError)


# ----------------------------------------------------------------- history
def test_history_csv_and_dict(data):
    x, y = data
    history = dn.train(sigmoid_net(), x, y, epochs=3, batch_size=10, learning_rate=3.0, seed=0,
                       validation=blobs(30, seed=5))
    lines = history.to_csv().splitlines()
    header = lines[0].split(",")
    assert header[:3] == ["epoch", "loss", "accuracy"]
    assert {"learning_rate", "seconds", "val_loss", "val_accuracy"} <= set(header)
    assert len(lines) == 4
    for line, record in zip(lines[1:], history.records):
        values = dict(zip(header, line.split(",")))
        assert int(values["epoch"]) == record["epoch"]
        assert float(values["loss"]) == record["loss"]
        assert float(values["val_accuracy"]) == record["val_accuracy"]
    as_dict = history.to_dict()
    restored = dn.History.from_dict(json.loads(json.dumps(as_dict)))
    assert restored.records == history.records
    assert restored.loss == history.loss and restored.val_accuracy == history.val_accuracy


def test_history_without_validation_has_nan_val_accuracy(data):
    x, y = data
    history = dn.train(sigmoid_net(), x, y, epochs=1, batch_size=10, learning_rate=3.0, seed=0)
    assert "val_accuracy" not in history.to_csv().splitlines()[0]
    assert math.isnan(history.val_accuracy[0])


# ----------------------------------------------------------------- resuming
def test_trainer_state_resumes_bit_identically(data):
    x, y = data
    options = dict(epochs=4, batch_size=10, learning_rate=0.01, optimizer="adam", loss="cross-entropy",
                   seed=3, dropout=0.2, validation=blobs(30, seed=6))
    straight = relu_net()
    trainer_for(straight, x, y, **options).run()

    interrupted = relu_net()
    trainer = trainer_for(interrupted, x, y, **options)
    trainer.run_epoch()
    trainer.run_epoch()
    tensors, document = trainer.state()
    # as a checkpoint file would hold them
    tensors = {key: np.array(value) for key, value in tensors.items()}
    document = json.loads(json.dumps(document))
    weights = [p.copy() for p in interrupted.parameters()]

    resumed = relu_net(seed=1)
    for p, saved in zip(resumed.parameters(), weights):
        p[...] = saved
    trainer = trainer_for(resumed, x, y, **options)
    trainer.restore_state(tensors, document)
    history = trainer.run()
    assert len(history) == 4
    for a, b in zip(straight.parameters(), resumed.parameters()):
        assert np.array_equal(a, b)


def test_trainer_state_is_a_snapshot(data):
    x, y = data
    trainer = trainer_for(relu_net(), x, y, epochs=3, batch_size=10, learning_rate=0.01, optimizer="adam",
                         loss="cross-entropy", seed=0)
    trainer.run_epoch()
    tensors, document = trainer.state()
    saved_tensors = {key: value.copy() for key, value in tensors.items()}
    saved_document = json.dumps(document)
    trainer.run_epoch()
    for key, value in saved_tensors.items():
        np.testing.assert_array_equal(tensors[key], value, err_msg=key)
    assert json.dumps(document) == saved_document


# ----------------------------------------------------------------- bad arguments
def train_small(**overrides):
    x, y = blobs(20, seed=7)
    arguments = dict(net=sigmoid_net(), x=x, y=y, epochs=1, batch_size=10, learning_rate=1.0)
    arguments.update(overrides)
    net, x, y = arguments.pop("net"), arguments.pop("x"), arguments.pop("y")
    return dn.train(net, x, y, **arguments)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"learning_rate": 0}, r"learning_rate must be a positive number; got 0"),
        ({"learning_rate": -1}, r"learning_rate must be a positive number; got -1"),
        ({"learning_rate": math.nan}, r"learning_rate must be a positive number; got nan"),
        ({"batch_size": 0}, r"batch_size must be a positive integer; got 0"),
        ({"batch_size": 2.5}, r"batch_size must be a positive integer; got 2\.5"),
        ({"epochs": 0}, r"epochs must be a positive integer; got 0"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\); got 1\.0"),
        ({"dropout": -0.1}, r"dropout must be in \[0, 1\); got -0\.1"),
        ({"patience": 0}, r"patience must be a positive integer; got 0"),
        ({"weight_decay": -1.0}, r"weight_decay must be a number ≥ 0; got -1\.0"),
        ({"momentum": 1.0, "optimizer": "momentum"}, r"momentum must be in \[0, 1\); got 1\.0"),
        ({"optimizer": "rmsprop"}, r"unknown optimizer 'rmsprop'; expected one of sgd, momentum, adam, adamw"),
        ({"schedule": "linear"}, r"unknown schedule 'linear'; expected one of constant, step, cosine"),
        ({"loss": "mse"}, r"unknown loss 'mse'; expected one of quadratic, cross-entropy, binary-cross-entropy"),
        ({"loss": "cross-entropy"}, r"loss 'cross-entropy' needs a softmax output layer; got output activation 'sigmoid'"),
        ({"x": np.zeros((28, 28), np.float32)}, r"x must have shape \(n, 12\); got \(28, 28\)"),
        ({"x": np.zeros(12, np.float32)}, r"x must have shape \(n, 12\); got \(12,\)"),
        ({"x": np.zeros((20, 12), np.uint8)}, r"x must be floating point.*got dtype uint8.*255"),
        ({"x": np.full((20, 12), np.nan, np.float32)}, r"x must be finite; got NaN or inf"),
        ({"y": np.full(20, 3)}, r"y labels must be in 0\.\.2; got 3\.\.3"),
        ({"y": np.zeros(19, int)}, r"y must have 20 labels, one per example; got 19"),
        ({"validation": np.zeros((5, 12))}, r"validation must be a pair \(x, labels\)"),
        ({"validation": (np.zeros((5, 11)), np.zeros(5, int))}, r"validation x must have shape \(n, 12\); got \(5, 11\)"),
        ({"validation": (np.zeros((5, 12)), np.zeros(4, int))}, r"validation y must have 5 labels"),
    ],
    ids=[
        "lr-0", "lr-negative", "lr-nan", "batch_size-0", "batch_size-float", "epochs-0", "dropout-1",
        "dropout-negative", "patience-0", "weight_decay-negative", "momentum-1", "optimizer-unknown",
        "schedule-unknown", "loss-unknown", "cross-entropy-with-sigmoid", "x-28x28", "x-1d", "x-uint8",
        "x-nan", "y-out-of-range", "y-wrong-length", "validation-not-a-pair", "validation-x-shape",
        "validation-y-length",
    ],
)
def test_bad_training_arguments(overrides, message):
    with pytest.raises(ValueError, match=message):
        train_small(**overrides)


def test_evaluate_checks_its_arguments():
    net = sigmoid_net()
    x, y = blobs(10, seed=8)
    assert 0 <= dn.evaluate(net, x, y) <= 1
    with pytest.raises(ValueError, match=r"y must be 10 integer labels; got shape \(9,\)"):
        dn.evaluate(net, x, y[:9])
    with pytest.raises(ValueError, match=r"x must have shape \(n, 12\); got \(12,\)"):
        dn.evaluate(net, x[0], y[:1])
