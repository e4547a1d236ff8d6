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
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from digitnet import engines
from digitnet.data.augment import augment, epoch_augmentations, parse_augment
from digitnet.data.deskew import deskew
from digitnet.data.prepare import prepare_for, preprocessing_document
from digitnet.checks import check_inputs, check_pixel_range, check_positive_int, check_targets, make_rng
from digitnet.losses import get_loss
from digitnet.network import Network
from digitnet.optimizers import OPTIMIZERS, Optimizer, make_optimizer
from digitnet.training.config import TrainConfig
from digitnet.training.history import History
from digitnet.training.schedules import scheduled_learning_rate


class TrainingDiverged(ValueError):
    """The loss or weights became NaN or infinite."""


class Trainer:
    """Mini-batch training of a network by a TrainConfig, one epoch at a time, with a resumable state.

    x: (n, sizes[0]) float inputs; y: (n,) integer labels or (n, sizes[-1]) targets.
    validation, test: optional (x, labels) pairs scored after every epoch.
    optimizer: an Optimizer instance to use instead of config.optimizer. It keeps its own
    learning rate (config.learning_rate is not used) unless config.schedule asks for a
    schedule, which then runs from the instance's rate.
    """

    def __init__(
        self,
        net: Network,
        config: TrainConfig,
        x: ArrayLike,
        y: ArrayLike,
        *,
        validation: tuple[ArrayLike, ArrayLike] | None = None,
        test: tuple[ArrayLike, ArrayLike] | None = None,
        optimizer: Optimizer | None = None,
    ) -> None:
        if not isinstance(config, TrainConfig):
            raise ValueError(f"config must be a TrainConfig; got {type(config).__name__}")
        if list(config.sizes) != list(net.sizes):
            raise ValueError(f"config.sizes {config.sizes} do not match the network's sizes {net.sizes}")
        if config.augment and net.num_inputs != 784:
            raise ValueError(f"augment={config.augment!r} moves 28x28 images; the network takes {net.num_inputs} inputs")
        if config.deskew and net.num_inputs != 784:
            raise ValueError(f"deskew=True stands 28x28 digits upright; the network takes {net.num_inputs} inputs")
        self.net, self.config = net, config
        self.cost = get_loss(config.loss, net.output_activation)
        self.x = check_inputs(x, net.num_inputs, net.dtype, "x")
        check_pixel_range(self.x, "x")
        self.y_targets = check_targets(y, len(self.x), net.num_outputs, net.dtype, "y")
        self.rng = make_rng(config.seed)
        self.marker_seconds = 0.0
        if "marker" in parse_augment(config.augment):  # drawings of some digits join the others, once
            from digitnet.data.marker import marker_drawings  # (Pillow: not loaded by `import digitnet`)

            start = time.perf_counter()
            index, drawings = marker_drawings(self.x, self.rng)
            self.x = np.concatenate([self.x, drawings.astype(self.x.dtype, copy=False)])
            self.y_targets = np.concatenate([self.y_targets, self.y_targets[index]])
            self.marker_seconds = time.perf_counter() - start
        self.x = self._prepare(self.x)
        self.y_labels = self.y_targets.argmax(axis=1)
        if optimizer is not None and not isinstance(optimizer, Optimizer):
            raise ValueError(f"optimizer must be an Optimizer instance or None; got {type(optimizer).__name__}")
        self.optimizer = optimizer or make_optimizer(config.optimizer, config.learning_rate, **config.optimizer_options())
        self.base_learning_rate = self.optimizer.learning_rate
        self.keep_learning_rate = optimizer is not None and config.schedule == "constant"
        self.validation = self._check_pair(validation, "validation")
        self.test = self._check_pair(test, "test")
        if config.deskew:  # the model's own preprocessing, recorded for whoever reads it later
            net.metadata = {**net.metadata, "preprocessing": preprocessing_document(deskew=True)}
        self._augmented: NDArray | None = None  # augmented epochs are written here (_augment_buffer)
        self.epoch = 0  # epochs completed
        self.history = History()
        self.best_score = -math.inf
        self.best_epoch = 0
        self.best_parameters: list[NDArray] | None = None
        self.epochs_without_improvement = 0
        self.plan = None  # the engine's plan, made at the first epoch

    def _check_pair(self, pair, name):
        if pair is None:
            return None
        try:
            x, y = pair
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a pair (x, labels); got {type(pair).__name__}") from None
        x = check_inputs(x, self.net.num_inputs, self.net.dtype, f"{name} x")
        check_pixel_range(x, f"{name} x")
        x = self._prepare(x)
        targets = check_targets(np.asarray(y), len(x), self.net.num_outputs, self.net.dtype, f"{name} y")
        return x, targets.argmax(axis=1), targets

    def _prepare(self, x: NDArray) -> NDArray:
        """x as the model will read it: deskewed when config.deskew (a new array; x untouched)."""
        return deskew(x).astype(self.net.dtype, copy=False) if self.config.deskew else x

    @property
    def epochs(self) -> int:
        return self.config.epochs

    @property
    def finished(self) -> bool:
        return self.epoch >= self.config.epochs or self.stopped_early

    @property
    def stopped_early(self) -> bool:
        patience = self.config.patience
        return patience is not None and self.epochs_without_improvement >= patience

    @property
    def engine(self) -> str:
        """The name of the engine that runs (or will run) the steps."""
        return self._plan().name

    def _augment_buffer(self) -> np.ndarray:
        """The (n, n₀) array augmented epochs are written into (made on first use)."""
        dtype = self.x.dtype if epoch_augmentations(self.config.augment) == ("shift",) else np.float32
        buffer = self._augmented
        if buffer is None or buffer.shape != self.x.shape or buffer.dtype != dtype:
            buffer = self._augmented = np.empty(self.x.shape, dtype)
        return buffer

    def _plan(self):
        config, net = self.config, self.net
        settings = (net, self.cost, self.optimizer, config.batch_size, config.dropout)
        if self.plan is None or not self.plan.fits(*settings):
            self.plan = engines.choose(config.engine, *settings)(*settings)
        return self.plan

    # ----------------------------------------------------------------- one epoch
    def run_epoch(
        self, on_batch: Callable[[int, int, float], None] | None = None, report_every: int | None = None
    ) -> dict[str, float]:
        """Train one epoch; returns its history record. on_batch(done, total, mean_loss) is
        called after every report_every mini-batches (default: about 100 times an epoch, for
        progress display; 1 lets a caller pause or single-step training between any two steps).
        An exception raised by on_batch ends the epoch there, the weights as far as it got."""
        net, config = self.net, self.config
        if self.keep_learning_rate:
            learning_rate = self.optimizer.learning_rate
        else:
            learning_rate = scheduled_learning_rate(config.schedule, self.base_learning_rate, self.epoch, config.epochs)
            self.optimizer.learning_rate = learning_rate
        start = time.perf_counter()
        n = len(self.x)
        order = self.rng.permutation(n)
        if report_every is None:
            report_every = max(1, math.ceil(n / config.batch_size) // 100)
        else:
            report_every = check_positive_int(report_every, "report_every")
        augment_start = time.perf_counter()
        if config.augment:  # fresh images each epoch, in one buffer kept across epochs (a new view each
            # epoch: engines that index their data by the array's identity build that index again)
            x = augment(self.x, config.augment, self.rng, out=self._augment_buffer()).view()
        else:
            x = self.x
        augment_seconds = time.perf_counter() - augment_start
        plan = self._plan()
        # Overflow inside a step is not an error of its own: a diverging run is reported once,
        # as TrainingDiverged, by the finiteness check after the loop.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            total_loss, correct = plan.run_epoch(x, self.y_targets, self.y_labels, order, self.rng, on_batch, report_every)
        self.epoch += 1
        record: dict[str, float] = {
            "epoch": self.epoch,
            "loss": total_loss / n,
            "accuracy": correct / n,
            "learning_rate": learning_rate,
        }
        self._check_finite(record["loss"])
        record["seconds"] = time.perf_counter() - start
        if config.augment:
            record["augment_seconds"] = augment_seconds  # part of seconds
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

    def _check_finite(self, loss_value: float) -> None:
        if not math.isfinite(loss_value) or not all(np.isfinite(p).all() for p in self.net.parameters()):
            rate, decay = self.optimizer.learning_rate, self.optimizer.weight_decay
            if rate * decay >= 1 and self.optimizer.name != "adam":
                # W ← W − η(g + λW) = (1 − ηλ)W − ηg: with ηλ ≥ 1 the decay alone flips and grows W.
                hint = (f"try a smaller weight decay (weight_decay, now {decay:g}): with a learning rate of {rate:g} "
                        f"each step multiplies the weights by 1 − {rate:g}·{decay:g} = {1 - rate * decay:.3g}")
            else:
                hint = f"try a smaller learning rate (learning_rate, now {rate:g})"
            raise TrainingDiverged(
                f"training diverged in epoch {self.epoch}: the loss or weights became NaN or infinite; {hint}"
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
        """Train until epochs are done or early stopping triggers; keep the best weights (the
        last ones with config.keep == "last")."""
        while not self.finished:
            record = self.run_epoch(on_batch)
            if on_epoch is not None:
                on_epoch(record)
        if self.validation is not None and self.config.keep == "best":
            self.restore_best()
        return self.history


def train(
    net: Network,
    x: ArrayLike,
    y: ArrayLike,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float | None = None,
    optimizer: str | Optimizer = "sgd",
    loss: str = "quadratic",
    seed: int | None = None,
    validation: tuple[ArrayLike, ArrayLike] | None = None,
    test: tuple[ArrayLike, ArrayLike] | None = None,
    on_batch: Callable[[int, int, float], None] | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    **settings: Any,
) -> History:
    """Train net in place by mini-batch gradient descent; returns the per-epoch History.

    x: (n, sizes[0]) floats; y: (n,) labels or (n, sizes[-1]) targets. A network of 784
    inputs reads 28×28 images: x must then be pixel brightnesses in [0, 1] (ValueError for
    0..255 pixels, which train a sigmoid network to chance without any other sign).
    optimizer: a name (sgd, momentum, adam, adamw; learning_rate is then required) or an
    Optimizer instance, which keeps its own learning rate unless a schedule is asked for.
    settings: any other TrainConfig setting (weight_decay, dropout, augment, deskew, schedule,
    momentum, nesterov, patience, engine). With validation=(x, y) the weights best on it are kept.
    With deskew=True every image (training, validation, test) is deskewed and net.metadata
    records it: evaluate() and `digitnet` commands then deskew what they read; net.predict reads
    its input as given (digitnet.data.prepare.prepare_for prepares raw digits for it).
    """
    instance = optimizer if isinstance(optimizer, Optimizer) else None
    if instance is not None:
        if learning_rate is not None and learning_rate != instance.learning_rate:
            raise ValueError(
                f"learning_rate={learning_rate!r} and an optimizer with learning rate {instance.learning_rate:g}: "
                "set it in one place"
            )
        learning_rate = instance.learning_rate
        optimizer = instance.name if instance.name in OPTIMIZERS else "sgd"
    elif learning_rate is None:
        raise ValueError("learning_rate is required with an optimizer given by name")
    config = TrainConfig.from_dict({
        "sizes": list(net.sizes), "activation": net.activation, "output_activation": net.output_activation,
        "init": net.init, "dtype": net.dtype.name, "epochs": epochs, "batch_size": batch_size,
        "learning_rate": learning_rate, "optimizer": optimizer, "loss": loss, "seed": seed, **settings,
    })
    trainer = Trainer(net, config, x, y, validation=validation, test=test, optimizer=instance)
    return trainer.run(on_batch=on_batch, on_epoch=on_epoch)


def evaluate(net: Network, x: ArrayLike, y: ArrayLike) -> float:
    """Accuracy: the fraction of examples whose most active output is the label.

    x is read as the model reads its inputs: a model trained with deskew=True deskews them first
    (digitnet.data.prepare.prepare_for), as `digitnet evaluate` does.
    """
    x = prepare_for(net, net.check_inputs(x, "x"))
    labels = np.asarray(y)
    if labels.ndim != 1 or len(labels) != len(x):
        raise ValueError(f"y must be {len(x)} integer labels; got shape {labels.shape}")
    if labels.dtype.kind not in "ui":
        raise ValueError(f"y must be integer labels in 0..{net.num_outputs - 1}; got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= net.num_outputs:
        raise ValueError(f"y labels must be in 0..{net.num_outputs - 1}, one per output; got {labels.min()}..{labels.max()}")
    return float(np.mean(net.predict(x) == labels))
