"""Learning: mini-batch gradient descent with backpropagation.

Each epoch shuffles the training examples (with the trainer's own seeded generator; the
caller's arrays are never reordered), splits them into mini-batches of batch_size, and for
each batch computes the gradient of the batch-mean cost by backpropagation and lets the
optimizer step: for plain SGD, W ← W − η ∂C/∂W, the video's "step downhill".

Reproducible: the same seed, data and machine give bit-identical weights, and a Trainer's
whole state (weights, optimizer buffers, generator, epoch, history) can be saved and
restored between epochs, so an interrupted run resumes to the same result.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from digitnet import fastpath
from digitnet.activations import get_activation
from digitnet.data.augment import check_augment, random_shift
from digitnet.losses import get_loss
from digitnet.layers import check_init
from digitnet.network import Network, check_dtype, check_inputs, check_sizes, check_targets, make_rng
from digitnet.optimizers import (
    Optimizer,
    check_non_negative,
    check_positive,
    check_schedule,
    make_optimizer,
    scheduled_learning_rate,
)


class TrainingDiverged(ValueError):
    """The loss or weights became NaN or infinite."""


@dataclass
class TrainConfig:
    """Everything that defines a training run: shared by the CLI, TOML config files and the API."""

    layers: list[int] = field(default_factory=lambda: [784, 16, 16, 10])
    activation: str = "sigmoid"
    output_activation: str | None = None
    loss: str = "quadratic"
    init: str | None = None
    optimizer: str = "sgd"
    learning_rate: float = 3.0
    momentum: float = 0.9
    nesterov: bool = False
    schedule: str = "constant"
    batch_size: int = 10
    epochs: int = 30
    weight_decay: float = 0.0
    dropout: float = 0.0
    augment: str | None = None
    patience: int | None = None
    validation_size: int = 10_000
    dataset: str = "mnist"
    seed: int | None = 0
    dtype: str = "float32"

    def validate(self) -> "TrainConfig":
        """Check every field; ValueError naming the field, what was expected and what was got."""
        from digitnet.data import DATASETS

        try:
            check_sizes(self.layers)
        except ValueError as error:
            raise ValueError(f"layers: {error}") from None
        check_dtype(self.dtype)
        if self.init is not None:
            check_init(self.init)
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; expected one of {', '.join(DATASETS)}")
        if not isinstance(self.nesterov, bool):
            raise ValueError(f"nesterov must be true or false; got {self.nesterov!r}")
        get_activation(self.activation, hidden=True)
        output = self.output_activation or self.activation
        get_activation(output)
        get_loss(self.loss, output)
        check_schedule(self.schedule)
        make_optimizer(self.optimizer, self.learning_rate, **self.optimizer_options())
        check_positive_int(self.batch_size, "batch_size")
        check_positive_int(self.epochs, "epochs")
        check_non_negative(self.weight_decay, "weight_decay")
        if not (isinstance(self.dropout, (int, float)) and 0.0 <= self.dropout < 1.0):
            raise ValueError(f"dropout must be in [0, 1); got {self.dropout!r}")
        check_augment(self.augment)
        make_rng(self.seed)
        if self.patience is not None:
            check_positive_int(self.patience, "patience")
        if isinstance(self.validation_size, bool) or not isinstance(self.validation_size, int) or self.validation_size < 0:
            raise ValueError(f"validation_size must be an integer ≥ 0; got {self.validation_size!r}")
        return self

    def optimizer_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"weight_decay": self.weight_decay}
        if self.optimizer == "momentum":
            options.update(momentum=self.momentum, nesterov=self.nesterov)
        return options

    def make_network(self) -> Network:
        return Network(
            self.layers,
            activation=self.activation,
            output_activation=self.output_activation,
            init=self.init,
            seed=self.seed,
            dtype=self.dtype,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training setting(s) {', '.join(unknown)}; expected any of {', '.join(sorted(known))}")
        return cls(**values)


@dataclass
class History:
    """Per-epoch records: epoch (1-based), loss, accuracy, seconds, learning_rate, and
    val_loss / val_accuracy / test_accuracy when those sets were given."""

    records: list[dict[str, float]] = field(default_factory=list)

    def _column(self, key: str) -> list[float]:
        return [record.get(key, math.nan) for record in self.records]

    @property
    def loss(self) -> list[float]:
        return self._column("loss")

    @property
    def accuracy(self) -> list[float]:
        return self._column("accuracy")

    @property
    def val_accuracy(self) -> list[float]:
        return self._column("val_accuracy")

    @property
    def test_accuracy(self) -> list[float]:
        return self._column("test_accuracy")

    @property
    def seconds(self) -> list[float]:
        return self._column("seconds")

    def __len__(self) -> int:
        return len(self.records)

    def to_dict(self) -> dict[str, Any]:
        return {"records": [dict(record) for record in self.records]}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "History":
        return cls([dict(record) for record in values.get("records", [])])

    def to_csv(self) -> str:
        keys: list[str] = []
        for record in self.records:
            keys += [key for key in record if key not in keys]
        lines = [",".join(keys)]
        for record in self.records:
            lines.append(",".join(_csv_value(record.get(key)) for key in keys))
        return "\n".join(lines) + "\n"


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


class Trainer:
    """Mini-batch training of a network, one epoch at a time, with a resumable state.

    x: (n, sizes[0]) float inputs; y: (n,) integer labels or (n, sizes[-1]) targets.
    validation, test: optional (x, labels) pairs scored after every epoch.
    """

    def __init__(
        self,
        net: Network,
        x: ArrayLike,
        y: ArrayLike,
        *,
        epochs: int,
        batch_size: int,
        learning_rate: float,
        optimizer: str | Optimizer = "sgd",
        loss: str = "quadratic",
        seed: int | None = None,
        weight_decay: float = 0.0,
        dropout: float = 0.0,
        schedule: str = "constant",
        momentum: float = 0.9,
        nesterov: bool = False,
        patience: int | None = None,
        augment: str | None = None,
        validation: tuple[ArrayLike, ArrayLike] | None = None,
        test: tuple[ArrayLike, ArrayLike] | None = None,
    ) -> None:
        self.net = net
        self.cost = get_loss(loss, net.output_activation)
        self.x = check_inputs(x, net.num_inputs, net.dtype, "x")
        self.y_targets = check_targets(y, len(self.x), net.num_outputs, net.dtype, "y")
        self.y_labels = self.y_targets.argmax(axis=1)
        self.epochs = check_positive_int(epochs, "epochs")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.base_learning_rate = check_positive(learning_rate, "learning_rate")
        self.schedule = check_schedule(schedule)
        if not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
            raise ValueError(f"dropout must be in [0, 1); got {dropout!r}")
        self.dropout = float(dropout)
        self.patience = None if patience is None else check_positive_int(patience, "patience")
        self.augment = check_augment(augment)
        if self.augment and net.num_inputs != 784:
            raise ValueError(f"augment={augment!r} shifts 28x28 images; the network takes {net.num_inputs} inputs")
        if isinstance(optimizer, Optimizer):
            self.optimizer = optimizer
        else:
            options: dict[str, Any] = {"weight_decay": weight_decay}
            if optimizer == "momentum":
                options.update(momentum=momentum, nesterov=nesterov)
            self.optimizer = make_optimizer(optimizer, learning_rate, **options)
        self.validation = self._check_pair(validation, "validation")
        self.test = self._check_pair(test, "test")
        self.rng = make_rng(seed)
        self.epoch = 0  # epochs completed
        self.history = History()
        self.best_score = -math.inf
        self.best_epoch = 0
        self.best_parameters: list[NDArray] | None = None
        self.epochs_without_improvement = 0

    def _check_pair(self, pair, name):
        if pair is None:
            return None
        try:
            x, y = pair
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a pair (x, labels); got {type(pair).__name__}") from None
        x = check_inputs(x, self.net.num_inputs, self.net.dtype, f"{name} x")
        labels = np.asarray(y)
        targets = check_targets(labels, len(x), self.net.num_outputs, self.net.dtype, f"{name} y")
        return x, targets.argmax(axis=1), targets

    @property
    def finished(self) -> bool:
        return self.epoch >= self.epochs or self.stopped_early

    @property
    def stopped_early(self) -> bool:
        return self.patience is not None and self.epochs_without_improvement >= self.patience

    # ----------------------------------------------------------------- one epoch
    def run_epoch(self, on_batch: Callable[[int, int, float], None] | None = None) -> dict[str, float]:
        """Train one epoch; returns its history record. on_batch(done, total, mean_loss) is
        called about 100 times an epoch for progress display."""
        net, x = self.net, self.x
        learning_rate = scheduled_learning_rate(self.schedule, self.base_learning_rate, self.epoch, self.epochs)
        self.optimizer.learning_rate = learning_rate
        start = time.perf_counter()
        order = self.rng.permutation(len(x))
        n = len(x)
        steps = math.ceil(n / self.batch_size)
        report_every = max(1, steps // 100)
        # Overflow inside a step is not an error of its own: a diverging run is reported once,
        # as TrainingDiverged, by the finiteness check after the loop.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            total_loss, correct = self._run_steps(self._epoch_inputs(), order, steps, report_every, on_batch)
        self.epoch += 1
        record: dict[str, float] = {
            "epoch": self.epoch,
            "loss": total_loss / n,
            "accuracy": correct / n,
            "learning_rate": learning_rate,
        }
        self._check_finite(record["loss"])
        record["seconds"] = time.perf_counter() - start
        if self.validation is not None:
            x_val, labels_val, targets_val = self.validation
            output = net.forward(x_val)
            record["val_loss"] = self.cost.function(output, targets_val)
            record["val_accuracy"] = float(np.mean(output.argmax(axis=1) == labels_val))
        if self.test is not None:
            x_test, labels_test, _ = self.test
            record["test_accuracy"] = float(np.mean(net.predict(x_test) == labels_test))
        self.history.records.append(record)
        self._track_best(record)
        return record

    def _epoch_inputs(self) -> NDArray:
        """This epoch's training inputs: the originals, or freshly augmented copies of them."""
        if self.augment == "shift":
            return random_shift(self.x, self.rng)
        return self.x

    # The fast path (digitnet.fastpath) runs every built-in optimizer; False forces the reference
    # loop below, which the tests compare it with.
    _fastpath = True

    def _run_steps(self, x, order, steps, report_every, on_batch) -> tuple[float, int]:
        """The mini-batch steps of one epoch over inputs x; returns (summed loss, correct count)."""
        if self._fastpath and fastpath.supports(self.optimizer):
            plan = getattr(self, "_plan", None)
            if plan is None or not plan.fits(self.net, self.cost, self.optimizer, self.batch_size, self.dropout):
                plan = self._plan = fastpath.TrainingPlan(
                    self.net, self.cost, self.optimizer, self.batch_size, self.dropout
                )
            return plan.run_epoch(x, self.y_targets, self.y_labels, order, self.rng, on_batch, report_every)
        return self._run_steps_reference(x, order, steps, report_every, on_batch)

    def _run_steps_reference(self, x, order, steps, report_every, on_batch) -> tuple[float, int]:
        """The same steps written plainly: Network._backward and Optimizer.step per mini-batch."""
        net, Y = self.net, self.y_targets
        n, batch_size = len(x), self.batch_size
        params = net.parameters()
        total_loss = 0.0
        correct = 0
        for step in range(steps):
            batch = order[step * batch_size : (step + 1) * batch_size]
            X_batch = x[batch]  # (b, n_in)
            Y_batch = Y[batch]  # (b, n_out)
            activations, masks = self._forward(X_batch)
            A_out = activations[-1]
            total_loss += self.cost.function(A_out, Y_batch) * len(batch)
            correct += int(np.count_nonzero(A_out.argmax(axis=1) == self.y_labels[batch]))
            dZ = net._output_delta(A_out, Y_batch, self.cost)
            grads = net._backward(activations, dZ, masks)
            self.optimizer.step(params, [g for pair in grads for g in pair])
            if on_batch is not None and (step + 1) % report_every == 0:
                on_batch(min((step + 1) * batch_size, n), n, total_loss / min((step + 1) * batch_size, n))
        return total_loss, correct

    def _forward(self, X: NDArray) -> tuple[list[NDArray], list[NDArray | None]]:
        """Forward pass with inverted dropout on hidden layers: kept units scaled by 1/(1−p)."""
        activations, masks = [X], []
        inputs = X
        last = len(self.net.layers) - 1
        for index, layer in enumerate(self.net.layers):
            A = layer.forward(inputs)
            mask = None
            if self.dropout and index < last:
                keep = 1.0 - self.dropout
                mask = (self.rng.random(A.shape, dtype=A.dtype) < keep).astype(A.dtype) / A.dtype.type(keep)
            masks.append(mask)
            activations.append(A)  # undropped: σ' is taken here; the next layer sees A·mask
            inputs = A if mask is None else A * mask
        return activations, masks

    def _check_finite(self, loss_value: float) -> None:
        if not math.isfinite(loss_value) or not all(np.isfinite(p).all() for p in self.net.parameters()):
            raise TrainingDiverged(
                f"training diverged in epoch {self.epoch}: the loss or weights became NaN or infinite; "
                f"try a smaller learning rate (now {self.optimizer.learning_rate:g})"
            )

    def _track_best(self, record: dict[str, float]) -> None:
        """Keep the weights that score best on validation (or the latest, without validation)."""
        score = record.get("val_accuracy", record["epoch"])
        if score > self.best_score:
            self.best_score = score
            self.best_epoch = int(record["epoch"])
            self.best_parameters = [p.copy() for p in self.net.parameters()]
            self.epochs_without_improvement = 0
        else:
            self.epochs_without_improvement += 1

    def restore_best(self) -> None:
        """Put the best weights seen so far back into the network."""
        if self.best_parameters is not None:
            for p, best in zip(self.net.parameters(), self.best_parameters):
                p[...] = best

    # ----------------------------------------------------------------- checkpoint state
    def state(self) -> tuple[dict[str, NDArray], dict[str, Any]]:
        """Everything needed to continue this run bit-identically, between epochs:
        (tensors: optimizer buffers and best weights; JSON-able dict: epoch, generator state,
        history, early-stopping bookkeeping). The network's own weights are saved separately."""
        tensors = {f"optimizer.{name}": array for name, array in self.optimizer.state_dict().items()}
        if self.best_parameters is not None:
            tensors.update({f"best.{i}": array for i, array in enumerate(self.best_parameters)})
        document = {
            "epoch": self.epoch,
            "rng": self.rng.bit_generator.state,
            "history": self.history.to_dict(),
            "best_score": None if self.best_score == -math.inf else self.best_score,
            "best_epoch": self.best_epoch,
            "epochs_without_improvement": self.epochs_without_improvement,
        }
        return tensors, document

    def restore_state(self, tensors: dict[str, NDArray], document: dict[str, Any]) -> None:
        """Continue from state(); the network must already hold the saved weights."""
        self.optimizer.load_state_dict(
            {key.removeprefix("optimizer."): array for key, array in tensors.items() if key.startswith("optimizer.")}
        )
        best = sorted((int(key.split(".")[1]), array) for key, array in tensors.items() if key.startswith("best."))
        self.best_parameters = [np.array(array) for _, array in best] or None
        self.epoch = int(document["epoch"])
        self.rng.bit_generator.state = document["rng"]
        self.history = History.from_dict(document["history"])
        score = document.get("best_score")
        self.best_score = -math.inf if score is None else float(score)
        self.best_epoch = int(document.get("best_epoch", 0))
        self.epochs_without_improvement = int(document.get("epochs_without_improvement", 0))

    def run(self, on_batch=None, on_epoch=None) -> History:
        """Train until epochs are done or early stopping triggers; keep the best weights."""
        while not self.finished:
            record = self.run_epoch(on_batch)
            if on_epoch is not None:
                on_epoch(record)
        if self.validation is not None:
            self.restore_best()
        return self.history


def train(
    net: Network,
    x: ArrayLike,
    y: ArrayLike,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    optimizer: str = "sgd",
    loss: str = "quadratic",
    seed: int | None = None,
    **options,
) -> History:
    """Train net in place by mini-batch gradient descent; returns the per-epoch History.

    x: (n, sizes[0]) floats in [0, 1]; y: (n,) labels or (n, sizes[-1]) targets.
    options: weight_decay, dropout, augment ("shift"), schedule, momentum, nesterov, patience,
    validation=(x, y),
    test=(x, y), on_batch, on_epoch. With validation data the weights best on it are kept.
    """
    on_batch = options.pop("on_batch", None)
    on_epoch = options.pop("on_epoch", None)
    trainer = Trainer(
        net, x, y, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        optimizer=optimizer, loss=loss, seed=seed, **options,
    )
    return trainer.run(on_batch=on_batch, on_epoch=on_epoch)


def evaluate(net: Network, x: ArrayLike, y: ArrayLike) -> float:
    """Accuracy: the fraction of examples whose most active output is the label."""
    x = net.check_inputs(x, "x")
    labels = np.asarray(y)
    if labels.ndim != 1 or len(labels) != len(x):
        raise ValueError(f"y must be {len(x)} integer labels; got shape {labels.shape}")
    return float(np.mean(net.predict(x) == labels))


def check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)
