"""TrainConfig: every setting of a training run, declared once and checked once, at creation.

The command line (`digitnet train`'s flags), TOML config files and the library all take their
settings from the fields below: a field's metadata names its flag and help text, and its check
runs in __post_init__, so a TrainConfig that exists is valid. Adding a setting means adding a
field here (with its check) and using it where it acts.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from digitnet.activations import ACTIVATIONS, get_activation
from digitnet.data.augment import AUGMENTATIONS, check_augment
from digitnet.checks import (
    DTYPES,
    check_bool,
    check_choice,
    check_fraction,
    check_non_negative,
    check_non_negative_int,
    check_positive,
    check_positive_int,
    check_sizes,
    make_rng,
)
from digitnet.data.datasets import DATASETS
from digitnet.layers import INITS
from digitnet.losses import LOSSES, get_loss
from digitnet.network import Network
from digitnet.optimizers import OPTIMIZERS
from digitnet.training.schedules import SCHEDULES

ENGINES = ("auto", "reference", "fused", "compiled")

KEEP = ("best", "last")


def setting(default, help: str, *, flag: str | None = None, choices=None, factory=None):
    """A TrainConfig field with what the CLI and config files need to know about it.

    flag: the command-line spelling when it differs from the field name (--lr for
    learning_rate); choices: the valid names, listed in --help and checked by argparse.
    """
    metadata = {"help": help, "flag": flag, "choices": choices}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run: shared by the CLI, TOML config files and the API."""

    sizes: list[int] = setting(None, "layer sizes, input first, e.g. 784,30,10", flag="layers",
                               factory=lambda: [784, 16, 16, 10])
    activation: str = setting("sigmoid", "hidden activation", choices=[n for n, a in ACTIVATIONS.items() if a.hidden_ok])
    output_activation: str | None = setting(None, "output activation (default: same as --activation)",
                                            flag="output", choices=list(ACTIVATIONS))
    loss: str = setting("quadratic", "cost function", choices=list(LOSSES))
    init: str | None = setting(None, "weight initialisation (default: by activation)", choices=list(INITS))
    optimizer: str = setting("sgd", "gradient-descent rule", choices=list(OPTIMIZERS))
    learning_rate: float = setting(3.0, "learning rate η", flag="lr")
    momentum: float = setting(0.9, "momentum coefficient μ (optimizer momentum)")
    nesterov: bool = setting(False, "Nesterov momentum")
    schedule: str = setting("constant", "learning-rate schedule", choices=list(SCHEDULES))
    batch_size: int = setting(10, "examples per mini-batch")
    epochs: int = setting(30, "passes over the training data")
    weight_decay: float = setting(0.0, "L2 weight decay λ (on weights, not biases)", flag="l2")
    dropout: float = setting(0.0, "dropout probability on hidden layers")
    augment: str | None = setting(None, "new training images each epoch (marker: once, at the start), names "
                                  f"joined by '+' from {', '.join(AUGMENTATIONS)} (e.g. elastic+thickness; "
                                  "see digitnet.data.augment)")
    deskew: bool = setting(False, "stand every digit upright (moment-based shear) before the network sees it; "
                           "recorded in the model file and applied by predict, evaluate and the web page")
    patience: int | None = setting(None, "stop after this many epochs without a better validation accuracy")
    validation_size: int = setting(10_000, "training images held out for validation")
    keep: str = setting("best", "the weights a run keeps: best (on validation) or last (the schedule's end)",
                        choices=list(KEEP))
    dataset: str = setting("mnist", "the data set", choices=list(DATASETS))
    data: str | None = setting(None, "your own data instead of --dataset: a folder with a sub-folder of images per "
                               "class, a CSV (label,pixel0,...,pixel783) or an .npz with x and y")
    test_data: str | None = setting(None, "test set for --data, in any of its layouts "
                                    "(default: a fifth of each class, held out)")
    seed: int | None = setting(0, "seed for the initial weights, shuffling and dropout")
    dtype: str = setting("float32", "floating-point type", choices=list(DTYPES))
    engine: str = setting("auto", "how the steps are computed (auto: the fastest that supports the settings)",
                          choices=list(ENGINES))

    def __post_init__(self) -> None:
        try:
            sizes = check_sizes(self.sizes)
        except ValueError as error:
            raise ValueError(f"layers: {error}") from None
        object.__setattr__(self, "sizes", sizes)
        check_choice(self.activation, ACTIVATIONS, "activation")
        get_activation(self.activation, hidden=True)
        if self.output_activation is not None:
            check_choice(self.output_activation, ACTIVATIONS, "output activation")
        get_loss(self.loss, self.output_activation or self.activation)
        if self.init is not None:
            check_choice(self.init, INITS, "init")
        check_choice(self.optimizer, OPTIMIZERS, "optimizer")
        check_positive(self.learning_rate, "learning_rate")
        check_fraction(self.momentum, "momentum")
        check_bool(self.nesterov, "nesterov")
        check_choice(self.schedule, SCHEDULES, "schedule")
        check_positive_int(self.batch_size, "batch_size")
        check_positive_int(self.epochs, "epochs")
        check_non_negative(self.weight_decay, "weight_decay")
        check_fraction(self.dropout, "dropout")
        check_augment(self.augment)
        check_bool(self.deskew, "deskew")
        if self.patience is not None:
            check_positive_int(self.patience, "patience")
        check_non_negative_int(self.validation_size, "validation_size")
        check_choice(self.keep, KEEP, "keep")
        check_choice(self.dataset, DATASETS, "dataset")
        self._check_data()
        make_rng(self.seed)
        check_choice(self.dtype, DTYPES, "dtype")
        check_choice(self.engine, ENGINES, "engine")

    def _check_data(self) -> None:
        for name in ("data", "test_data"):
            value = getattr(self, name)
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
                object.__setattr__(self, name, value)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"{name} must be the path of a folder, .csv or .npz; got {value!r}")
        if self.data is not None and self.dataset != "mnist":
            raise ValueError("--data and --dataset are exclusive: --data trains on your own files, "
                             "--dataset on a built-in data set; give one")
        if self.test_data is not None and self.data is None:
            raise ValueError("--test-data needs --data: it is the test set of your own data")

    @property
    def layers(self) -> list[int]:
        """The sizes under their command-line name (--layers)."""
        return self.sizes

    def optimizer_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"weight_decay": self.weight_decay}
        if self.optimizer == "momentum":
            options.update(momentum=self.momentum, nesterov=self.nesterov)
        return options

    def make_network(self) -> Network:
        return Network(self.sizes, activation=self.activation, output_activation=self.output_activation,
                       init=self.init, seed=self.seed, dtype=self.dtype)

    def replace(self, **changes) -> "TrainConfig":
        """A copy with some settings changed (and checked)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """From a dict of settings; "layers" is accepted for "sizes" (older model files)."""
        values = dict(values)
        if "layers" in values:
            if "sizes" in values:
                raise ValueError("give the layer sizes once: as layers or as sizes, not both")
            values["sizes"] = values.pop("layers")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training setting(s) {', '.join(unknown)}; expected any of {', '.join(sorted(known))}")
        return cls(**values)


def settings() -> list:
    """TrainConfig's fields, in order (for the CLI and config files)."""
    return list(fields(TrainConfig))
