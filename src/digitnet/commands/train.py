"""`digitnet train`: a preset, a TOML config file and flags, in that order of precedence."""

from __future__ import annotations

import argparse
import tomllib
from dataclasses import fields
from pathlib import Path

from digitnet.presets import PRESETS, preset
from digitnet.training import TrainConfig

ORDER = 20

# Flag/TOML key -> TrainConfig field, where the short public name differs from the field.
ALIASES = {
    "lr": "learning_rate",
    "l2": "weight_decay",
    "output": "output_activation",
}
FIELD_NAMES = {f.name for f in fields(TrainConfig)}

# What a TOML value must be for each setting (flags get their types from argparse); any other
# field takes text. Checked here, at the file, so a wrong type is a clear error, not a crash.
NUMBERS = {"learning_rate", "momentum", "weight_decay", "dropout"}
INTEGERS = {"batch_size", "epochs", "patience", "validation_size", "seed"}
BOOLEANS = {"nesterov"}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a network on MNIST (presets: 3b1b, modern, best)",
        description="Train a network with live progress, validation, checkpoints and a safe model file. "
        "A preset gives every setting; --config FILE (TOML, same keys as the flags) and flags override it.",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), help="starting recipe (default 3b1b)")
    parser.add_argument("--config", metavar="FILE", help="TOML file with any of the settings below")
    parser.add_argument("--layers", metavar="SIZES", help="layer sizes, e.g. 784,30,10")
    parser.add_argument("--activation", help="hidden activation: sigmoid, relu, leaky_relu, tanh, identity")
    parser.add_argument("--output", help="output activation (default: same as --activation), e.g. softmax")
    parser.add_argument("--loss", help="quadratic, cross-entropy or binary-cross-entropy")
    parser.add_argument("--init", help="nielsen, standard-normal, xavier or he")
    parser.add_argument("--optimizer", help="sgd, momentum, adam or adamw")
    parser.add_argument("--lr", type=float, help="learning rate")
    parser.add_argument("--momentum", type=float, help="momentum coefficient (optimizer momentum)")
    parser.add_argument("--nesterov", action="store_true", default=None, help="Nesterov momentum")
    parser.add_argument("--schedule", help="learning-rate schedule: constant, step or cosine")
    parser.add_argument("--batch-size", type=int, help="examples per mini-batch")
    parser.add_argument("--epochs", type=int, help="passes over the training data")
    parser.add_argument("--l2", type=float, help="L2 weight decay λ (on weights, not biases)")
    parser.add_argument("--dropout", type=float, help="dropout probability on hidden layers")
    parser.add_argument("--augment", choices=["shift", "none"], help="shift: move each training image by up to 2 px every epoch")
    parser.add_argument("--patience", type=int, help="stop after this many epochs without a better validation accuracy")
    parser.add_argument("--validation-size", type=int, help="training images held out for validation (default 10000)")
    parser.add_argument("--seed", type=int, help="seed for the initial weights, shuffling and dropout")
    parser.add_argument("--dataset", choices=["mnist", "fashion-mnist"])
    parser.add_argument("--data-dir", metavar="DIR", help="folder holding the four IDX files (else the cache, then download)")
    parser.add_argument("--out", metavar="PATH", help="model file to write (default models/PRESET.safetensors)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint next to --out")
    parser.set_defaults(run=run)


def config_from_args(args: argparse.Namespace) -> tuple[TrainConfig, str]:
    """Preset, then the TOML file, then flags; returns the config and the preset's name."""
    file_values = read_config_file(args.config) if args.config else {}
    preset_name = args.preset or file_values.pop("preset", None) or "3b1b"
    file_values.pop("preset", None)
    values = preset(preset_name).to_dict()
    values.update(file_values)
    flags = {
        "layers": parse_layers(args.layers) if args.layers is not None else None,
        "activation": args.activation,
        "output_activation": args.output,
        "loss": args.loss,
        "init": args.init,
        "optimizer": args.optimizer,
        "learning_rate": args.lr,
        "momentum": args.momentum,
        "nesterov": args.nesterov,
        "schedule": args.schedule,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "weight_decay": args.l2,
        "dropout": args.dropout,
        "augment": None if args.augment == "none" else args.augment,
        "patience": args.patience,
        "validation_size": args.validation_size,
        "seed": args.seed,
        "dataset": args.dataset,
    }
    values.update({key: value for key, value in flags.items() if value is not None})
    return TrainConfig.from_dict(values).validate(), preset_name


def read_config_file(path: str) -> dict:
    try:
        with open(path, "rb") as file:
            raw = tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"--config {path} is not valid TOML: {error}") from None
    values = {}
    for key, value in raw.items():
        name = ALIASES.get(key.replace("-", "_"), ALIASES.get(key, key.replace("-", "_")))
        if name not in FIELD_NAMES and name != "preset":
            valid = sorted(FIELD_NAMES | set(ALIASES) | {"preset"})
            raise ValueError(f"--config {path}: unknown key {key!r}; expected any of {', '.join(valid)}")
        expected = _toml_type_error(name, value)
        if expected:
            raise ValueError(f"--config {path}: {key} must be {expected}; got {value!r}")
        if name == "layers" and isinstance(value, str):
            value = parse_layers(value)
        elif name == "augment" and value == "none":
            value = None  # as --augment none: TOML has no null to say it
        values[name] = value
    return values


def _toml_type_error(name: str, value) -> str | None:
    """What value should have been, if it is the wrong type for setting name; else None."""
    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    if name == "layers":
        ok = isinstance(value, str) or (isinstance(value, list) and all(is_int(v) for v in value))
        return None if ok else 'a list of integers like [784, 30, 10] or a string like "784,30,10"'
    if name in NUMBERS:
        return None if is_int(value) or isinstance(value, float) else "a number"
    if name in INTEGERS:
        return None if is_int(value) else "an integer"
    if name in BOOLEANS:
        return None if isinstance(value, bool) else "true or false"
    return None if isinstance(value, str) else "a string"


def parse_layers(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in str(text).split(",")]
    except ValueError:
        raise ValueError(f"--layers must be comma-separated integers like 784,30,10; got {text!r}") from None
    return sizes


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from digitnet.data import load as load_dataset
    from digitnet.workflow import run_training

    config, preset_name = config_from_args(args)
    out = Path(args.out or f"models/{preset_name}.safetensors")
    console = Console(highlight=False, soft_wrap=True)
    data = load_dataset(config.dataset, data_dir=args.data_dir)
    net_description = "-".join(map(str, config.layers))
    console.print(
        f"Training {net_description} ({config.activation}"
        f"{'/' + config.output_activation if config.output_activation else ''}, {config.loss}, "
        f"{config.optimizer} lr {config.learning_rate:g}, batch {config.batch_size}, {config.epochs} epochs) "
        f"on {data.name}: {len(data.x_train) - config.validation_size} training, "
        f"{config.validation_size} validation, {len(data.x_test)} test images."
    )
    with _ProgressDisplay(console) as display:
        result = run_training(
            config, data, out, resume=args.resume, say=console.print,
            on_batch=display.on_batch, on_epoch_start=display.on_epoch_start, on_epoch=display.on_epoch,
        )
    metrics = result.metrics
    console.print(
        f"Saved {result.out} (best validation epoch {metrics['best_epoch']}): "
        f"test accuracy {metrics['test_accuracy']:.2%}, {metrics['train_seconds']:.1f} s of training."
    )
    return 0


class _ProgressDisplay:
    """A rich progress bar per epoch (loss, examples/s) and one summary line per epoch."""

    def __init__(self, console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TextColumn("{task.fields[rate]:>9,.0f} ex/s"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = None
        self.epochs = 0

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        import time

        self.epochs = epochs
        self.started = time.perf_counter()
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(f"epoch {epoch}/{epochs}", total=None, loss=float("nan"), rate=0.0)

    def on_batch(self, done: int, total: int, loss: float) -> None:
        import time

        rate = done / max(time.perf_counter() - self.started, 1e-9)
        self.progress.update(self.task, completed=done, total=total, loss=loss, rate=rate)

    def on_epoch(self, record: dict) -> None:
        parts = [f"epoch {int(record['epoch']):>3}/{self.epochs}", f"loss {record['loss']:.4f}"]
        if "val_accuracy" in record:
            parts.append(f"validation {record['val_accuracy']:.2%}")
        if "test_accuracy" in record:
            parts.append(f"test {record['test_accuracy']:.2%}")
        parts.append(f"{record['seconds']:.2f} s")
        self.progress.console.print("  ".join(parts))
