"""`digitnet train`: a preset, a TOML config file and flags, in that order of precedence.

The model file's default name says what it is (see default_out), and errors name the flags the
user typed (--lr), not the TrainConfig fields behind them (learning_rate).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path

from digitnet.training.config import TrainConfig, settings
from digitnet.training.config_file import flag_name, kind, parse_layers, read_config_file
from digitnet.training.presets import PRESETS, preset

ORDER = 20

# Every training setting is a TrainConfig field (digitnet.training.config): its flag, help text,
# choices and type come from there, for the command line and for TOML config files alike
# (digitnet.training.config_file reads those).


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a network on MNIST (presets: 3b1b, modern, best)",
        description="Train a network with live progress, validation, checkpoints and a safe model file. "
        "A preset gives every setting; --config FILE (TOML, same keys as the flags) and flags override it.",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), help="starting recipe (default 3b1b)")
    parser.add_argument("--config", metavar="FILE", help="TOML file with any of the settings below")
    for setting in settings():
        add_setting(parser, setting)
    parser.add_argument("--data-dir", metavar="DIR", help="folder holding the four IDX files (else the cache, then download)")
    parser.add_argument("--out", metavar="PATH", help="model file to write (default: models/NAME.safetensors, NAME "
                        "the preset whose settings these are, else the --config file's name, else the preset "
                        "and the settings changed, e.g. 3b1b-epochs5)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint next to --out")
    parser.set_defaults(run=run)


def add_setting(parser: argparse.ArgumentParser, setting) -> None:
    """One flag for one TrainConfig setting, typed and with its choices."""
    flag, help_text, choices = "--" + flag_name(setting), setting.metadata.get("help"), setting.metadata.get("choices")
    dest = f"setting_{setting.name}"
    if kind(setting) == "bool":
        parser.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        return
    if choices is not None and str(setting.type).endswith("| None"):
        choices = [*choices, "none"]  # an optional choice can be switched off from the command line
    types = {"sizes": layers_argument, "int": int, "number": float, "text": str}
    metavar = "SIZES" if kind(setting) == "sizes" else None if choices else flag_name(setting).upper().replace("-", "_")
    parser.add_argument(flag, dest=dest, type=types[kind(setting)], choices=choices, metavar=metavar, help=help_text)


def config_from_args(args: argparse.Namespace) -> tuple[TrainConfig, str]:
    """Preset, then the TOML file, then flags; returns the config and the preset's name."""
    file_values = read_config_file(args.config) if args.config else {}
    preset_name = args.preset or file_values.pop("preset", None) or "3b1b"
    file_values.pop("preset", None)
    values = preset(preset_name).to_dict()
    values.update(file_values)
    for setting in settings():
        value = getattr(args, f"setting_{setting.name}", None)
        if value is not None:
            values[setting.name] = None if value == "none" else value
    return TrainConfig.from_dict(values), preset_name


def layers_argument(text: str) -> list[int]:
    try:
        return parse_layers(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except ValueError as error:
        error.args = (flag_message(str(error)),)  # (same error, same type: in the flags' words)
        raise


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from digitnet.data import marker
    from digitnet.training.run import check_fits, run_training, training_data

    marker.GUARDED_MAIN = True  # this command's entry points guard their work: marker drawings may use processes

    if args.setting_data is not None and args.setting_dataset is not None:
        raise ValueError("--data and --dataset are exclusive: --data trains on your own files, "
                         "--dataset on a built-in data set; give one")
    config, preset_name = config_from_args(args)
    out = Path(args.out) if args.out else default_out(config, args)
    console = Console(highlight=False, soft_wrap=True)
    data = training_data(config, data_dir=args.data_dir)
    if config.data is not None:
        config = fit_to_own_data(config, data, args)
    check_fits(config, data)  # before the banner: a run that cannot start does not announce itself
    net_description = "-".join(map(str, config.sizes))
    console.print(
        f"Training {net_description} ({config.activation}"
        f"{'/' + config.output_activation if config.output_activation else ''}, {config.loss}, "
        f"{config.optimizer} lr {config.learning_rate:g}, batch {config.batch_size}, {config.epochs} epochs) "
        f"on {data.name}: {len(data.x_train) - config.validation_size} training, "
        f"{config.validation_size} validation, {len(data.x_test)} test images."
    )
    with ProgressDisplay(console) as display:
        result = run_training(
            config, data, out, resume=args.resume, say=console.print,
            on_batch=display.on_batch, on_epoch_start=display.on_epoch_start, on_epoch=display.on_epoch,
        )
    metrics = result.metrics
    if not config.validation_size:
        kept = f"the weights after epoch {metrics['epochs_run']}, no validation set"
    elif config.keep == "last":
        kept = f"the weights after epoch {metrics['epochs_run']}, as --keep last asks"
    else:
        kept = f"best validation epoch {metrics['best_epoch']}"
    console.print(
        f"Saved {result.out} ({kept}): "
        f"test accuracy {metrics['test_accuracy']:.2%}, {metrics['train_seconds']:.1f} s of training"
        + (f" ({metrics['marker_seconds']:.1f} s of it drawing marker digits)." if "marker_seconds" in metrics else ".")
    )
    return 0


def fit_to_own_data(config: TrainConfig, data, args: argparse.Namespace) -> TrainConfig:
    """With --data, what a preset sizes for MNIST follows the data unless given (flag or TOML):
    a tenth of the training examples for validation, one output per class."""
    given = set(read_config_file(args.config)) if args.config else set()
    given |= {s.name for s in settings() if getattr(args, f"setting_{s.name}", None) is not None}
    changes = {}
    if "validation_size" not in given:
        changes["validation_size"] = len(data.x_train) // 10
    if "sizes" not in given:
        changes["sizes"] = [*config.sizes[:-1], len(data.class_names)]
    return config.replace(**changes)


def default_out(config: TrainConfig, args: argparse.Namespace) -> Path:
    """models/NAME.safetensors, NAME saying what the model is: the preset whose settings these
    are exactly; else the --config file's name (my-run.toml -> my-run); else the preset (3b1b
    unless named) and the settings changed from it (3b1b-epochs5-lr0.5), or a digest of them
    when that would be long. So a custom run never takes a preset's name (and its checkpoint)."""
    for name in sorted(PRESETS):
        if preset(name) == config:
            return Path(f"models/{name}.safetensors")
    if args.config:
        return Path("models") / f"{Path(args.config).stem}.safetensors"
    base_name = args.preset or "3b1b"
    base = preset(base_name)
    changes = []
    for setting in settings():
        value = getattr(config, setting.name)
        if value != getattr(base, setting.name):
            text = "x".join(map(str, value)) if isinstance(value, list) else f"{value:g}" if isinstance(value, float) else str(value)
            changes.append(flag_name(setting) + text)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", "-".join([base_name, *changes]))
    if len(name) > 60:
        digest = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()[:8]
        name = f"{base_name}-custom-{digest}"
    return Path(f"models/{name}.safetensors")


def flag_message(text: str) -> str:
    """A library message in the command line's words: learning_rate -> --lr, and a message
    opening with a setting's name ("epochs must be ...") opens with its flag."""
    for setting in settings():
        flag = "--" + flag_name(setting)
        if "_" in setting.name or setting.metadata.get("flag") not in (None, "layers"):  # ("sizes" is a word too)
            text = re.sub(rf"(?<![-\w'\"]){setting.name}\b", flag, text)  # (not a quoted TOML key)
        text = re.sub(rf"^{setting.name} must\b", f"{flag} must", text)
    return text


class ProgressDisplay:
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
