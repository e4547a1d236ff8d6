"""The training workflow behind `digitnet train`: data, checkpoints, model and history files.

Files written next to the model file OUT (say models/3b1b.safetensors):
    models/3b1b.checkpoint.safetensors   after every epoch: weights, optimizer state, generator
                                          state, epoch and history (for --resume)
    models/3b1b.history.json / .csv      per-epoch loss and accuracies
    models/3b1b.safetensors              the final model: the weights best on validation
Every file is written under a temporary name and renamed, so a run killed at any moment (even
SIGKILL) leaves the last complete checkpoint, and resuming it ends bit-identical to a run that
was never interrupted.

A run holds a lock beside OUT while it writes (digitnet.training.lock): two runs never write one
model. A run that did not learn (its best validation accuracy no better than always answering
the most common class, or weights grown past what a forward pass survives) raises
TrainingDiverged and leaves any model already at OUT as it was. A checkpoint of a finished run
is only resumed while its model exists: delete the model, and --resume starts again.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from digitnet import modelfile
from digitnet.files import atomic_write_bytes
from digitnet.inspection.calibration import calibrate_network
from digitnet.network import Network
from digitnet.training.checkpoints import (
    check_out_path, checkpoint_path, history_paths, load_checkpoint, save_checkpoint, write_history,
)
from digitnet.training.config import TrainConfig
from digitnet.training.lock import locked_out
from digitnet.training.trainer import Trainer, TrainingDiverged

# A run "learned" if its best validation accuracy beats always answering the most common class
# by more than this (1 point): 9.8% on MNIST after --lr 100 did not.
CHANCE_MARGIN = 0.01

# --------------------------------------------------------------------- the run
@dataclass
class RunResult:
    net: Network
    trainer: Trainer
    out: Path
    resumed_from_epoch: int
    metrics: dict[str, float]


def run_training(
    config: TrainConfig,
    data,
    out: str | os.PathLike,
    *,
    resume: bool = False,
    say: Callable[[str], None] = print,
    on_batch: Callable[[int, int, float], None] | None = None,
    on_epoch_start: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> RunResult:
    """Train config on data (a digitnet.data.Dataset), checkpointing after every epoch.

    The last config.validation_size training images are held out for validation (the book's
    convention); the weights best on them are kept. Returns the trained network and metrics.
    """
    out = check_out_path(out)
    check_fits(config, data)
    with locked_out(out):
        return _run(config, data, out, resume, say, on_batch, on_epoch_start, on_epoch)


def check_fits(config: TrainConfig, data) -> None:
    """ValueError unless config's layers and validation split fit data (before any training)."""
    if config.sizes[0] != data.x_train.shape[1] or config.sizes[-1] != len(data.class_names):
        raise ValueError(
            f"layers must start with {data.x_train.shape[1]} inputs and end with "
            f"{len(data.class_names)} outputs for {data.name}; got {config.sizes}"
        )
    if config.validation_size >= len(data.x_train):
        raise ValueError(f"validation_size must be smaller than the {len(data.x_train)} training images; got {config.validation_size}")


def _run(config, data, out: Path, resume, say, on_batch, on_epoch_start, on_epoch) -> RunResult:
    from digitnet.data import split_validation
    from digitnet.data.augment import parse_augment
    from digitnet.data.marker import MARKER_SHARE
    from digitnet.data.prepare import preprocessing_document

    checkpoint = checkpoint_path(out)
    if config.validation_size:
        x_train, y_train, x_val, y_val = split_validation(data.x_train, data.y_train, size=config.validation_size)
        validation = (x_val, y_val)
    else:
        x_train, y_train, validation = data.x_train, data.y_train, None

    net = config.make_network()
    resumed_from = 0
    saved = None
    if resume:
        if checkpoint.exists():
            saved_net, tensors, document = load_checkpoint(checkpoint)
            if not _same_settings(document.get("training"), config):
                raise ValueError(
                    f"{checkpoint} was made with different settings; resume with the same arguments, "
                    "or delete the checkpoint to start again"
                )
            if _finished(document["checkpoint"], config) and not out.exists():
                say(f"{checkpoint} is of a finished run whose model {out} is gone: starting from the beginning.")
            else:
                net = saved_net
                saved = (tensors, document["checkpoint"])
        else:
            say(f"No checkpoint at {checkpoint}: starting from the beginning.")
    net.metadata = {}
    if "marker" in parse_augment(config.augment):
        say(f"Drawing {round(MARKER_SHARE * len(x_train)):,} of the training digits with a marker pen, once "
            "(about 5 ms each, shared between the cores; digitnet.data.marker) ...")
    trainer = Trainer(net, config, x_train, y_train, validation=validation, test=(data.x_test, data.y_test))
    if trainer.marker_seconds:
        say(f"Drew {len(trainer.x) - len(x_train):,} of them in {trainer.marker_seconds:.1f} s: "
            f"{len(trainer.x):,} training images.")
    if saved is not None:
        trainer.restore_state(*saved)
        resumed_from = trainer.epoch
        say(f"Resuming from {checkpoint} after epoch {trainer.epoch} of {config.epochs}.")

    try:
        _train_epochs(trainer, config, checkpoint, out, say, on_batch, on_epoch_start, on_epoch)
        if validation is not None and config.keep == "best":
            trainer.restore_best()
        problem = learning_problem(net, trainer, validation, (x_train, y_train))
        if problem:
            raise TrainingDiverged(f"training did not learn: {problem}")
    except TrainingDiverged as error:
        if out.exists():
            _restore_history_files(out)
        kept = f"the model at {out} is unchanged" if out.exists() else f"nothing was saved to {out}"
        raise TrainingDiverged(f"{error}; {kept}") from None
    metrics = final_metrics(net, trainer)
    # Temperature and "unsure" threshold, from the validation images as the model reads them.
    calibrate_network(net, trainer.validation[:2] if trainer.validation is not None else None)
    modelfile.save(
        net, out,
        preprocessing=preprocessing_document(deskew=config.deskew),
        training=config.to_dict(),
        metrics=metrics,
        dataset=data.name,
        class_names=list(data.class_names),
        history=trainer.history.to_dict(),
        **({"data": data.source} if getattr(data, "source", None) else {}),  # --data: where from
    )
    write_history(out, trainer)
    remember_last_model(out)
    return RunResult(net, trainer, out, resumed_from, metrics)


def _train_epochs(trainer: Trainer, config, checkpoint: Path, out: Path, say, on_batch, on_epoch_start, on_epoch) -> None:
    """Epochs until the trainer is finished, with a checkpoint and history files after each."""
    saved_epoch = trainer.epoch if trainer.epoch else None  # the epoch of the checkpoint on disk, if any
    try:
        while not trainer.finished:
            if on_epoch_start is not None:
                on_epoch_start(trainer.epoch + 1, config.epochs)
            record = trainer.run_epoch(on_batch)
            save_checkpoint(checkpoint, trainer, config)
            saved_epoch = trainer.epoch
            write_history(out, trainer)
            if on_epoch is not None:
                on_epoch(record)
    except KeyboardInterrupt:
        # trainer.epoch may be one ahead of the file: an interrupt during the checkpoint write
        # leaves the previous checkpoint (atomic write), and before the first one there is none.
        if saved_epoch is None:
            say("Interrupted before this run saved any checkpoint; run the same command again to start over.")
        else:
            say(f"Interrupted: the checkpoint after epoch {saved_epoch} is in {checkpoint}; "
                "run the same command with --resume to continue.")
        raise


def learning_problem(net: Network, trainer: Trainer, validation, training) -> str | None:
    """Why the trained net is no use, if it is not: weights no forward pass survives, or an
    accuracy (validation's best, else the last epoch's on the training data) at chance level."""
    problem = modelfile.weights_problem(net.layers)
    if problem:
        return f"the weights exploded ({problem}); try a smaller learning rate (learning_rate, now {trainer.config.learning_rate:g})"
    if validation is not None:
        labels, accuracy, where = validation[1], trainer.best_score, "best validation accuracy"
    else:
        labels, accuracy, where = training[1], trainer.history.records[-1]["accuracy"], "last epoch's training accuracy"
    chance = float(np.bincount(labels).max() / len(labels))  # always answering the most common class
    if accuracy <= chance + CHANCE_MARGIN:
        return (
            f"its {where}, {accuracy:.2%}, is no better than always answering the most common class "
            f"({chance:.2%}); try a smaller learning rate (learning_rate, now {trainer.config.learning_rate:g})"
        )
    return None


def _restore_history_files(out: Path) -> None:
    """Put back the history files of the model at out, which this failed run overwrote."""
    try:
        history = modelfile.load(out).metadata.get("history")
    except ValueError:
        return  # not a model we can read: nothing of it to put back
    if isinstance(history, dict):
        from digitnet.training.history import History

        json_path, csv_path = history_paths(out)
        atomic_write_bytes(json_path, json.dumps(history, indent=1).encode())
        atomic_write_bytes(csv_path, History.from_dict(history).to_csv().encode())


def _finished(state: dict[str, Any], config: TrainConfig) -> bool:
    """Whether a (checked) checkpoint's run had ended: every epoch run, or stopped early."""
    patience = config.patience
    return state["epoch"] >= config.epochs or (
        patience is not None and state.get("epochs_without_improvement", 0) >= patience
    )


def final_metrics(net: Network, trainer: Trainer) -> dict[str, float]:
    """Accuracies on the trainer's test and validation sets (as the model reads them: deskewed
    if it deskews), epochs and training seconds (with the marker drawings' when it made them)."""
    x_test, labels_test, _ = trainer.test
    metrics = {
        "test_accuracy": float(np.mean(net.predict(x_test) == labels_test)),
        "epochs_run": trainer.epoch,
        "best_epoch": trainer.best_epoch,
        "train_seconds": float(sum(trainer.history.seconds)) + trainer.marker_seconds,
    }
    if trainer.marker_seconds:
        metrics["marker_seconds"] = trainer.marker_seconds  # (part of train_seconds: drawing them, once)
    if trainer.validation is not None:
        x_val, labels_val, _ = trainer.validation
        metrics["val_accuracy"] = float(np.mean(net.predict(x_val) == labels_val))
    return metrics


def training_data(config: TrainConfig, data_dir=None):
    """The Dataset config trains on: the user's own files (config.data) or a built-in data set."""
    if config.data is not None:
        from digitnet.data.custom import load_custom

        # The split must be remade by evaluate: an unseeded run still splits with seed 0.
        return load_custom(config.data, config.test_data, seed=config.seed or 0)
    from digitnet.data import load as load_dataset

    return load_dataset(config.dataset, data_dir=data_dir)


def dataset_for(net: Network, name: str | None = None, data_dir=None, label: str = "the model",
                warn: Callable[[str], None] | None = None):
    """The dataset net was trained on (or `name`), checked to fit its inputs and outputs.

    A model trained on its own files (--data) gets them back, split as in training; warn(message)
    (default: one line on stderr) says when they changed since. The model's own preprocessing
    (digitnet.data.prepare: deskewing) is applied to the images: the digits as the model reads
    them, for evaluate, inspect and show alike.
    """
    from dataclasses import replace

    from digitnet.data import load as load_dataset
    from digitnet.data.prepare import model_steps, prepare_for

    source = net.metadata.get("data")
    if name is None and isinstance(source, dict):
        from digitnet.data.custom import load_recorded

        data = load_recorded(source, label=label, warn=warn or _warn_on_stderr)
    else:
        data = load_dataset(name or net.metadata.get("dataset", "mnist"), data_dir=data_dir)
    if net.num_inputs != data.x_test.shape[1] or net.num_outputs != len(data.class_names):
        raise ValueError(
            f"{label} takes {net.num_inputs} inputs and has {net.num_outputs} outputs; "
            f"{data.name} needs {data.x_test.shape[1]} and {len(data.class_names)}"
        )
    if model_steps(net.metadata):
        data = replace(data, x_train=prepare_for(net, data.x_train), x_test=prepare_for(net, data.x_test))
    return data


def _warn_on_stderr(message: str) -> None:
    import sys

    print(f"digitnet: warning: {message}", file=sys.stderr)


# --------------------------------------------------------------------- the last trained model
def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "digitnet"


def remember_last_model(path: Path) -> None:
    record = {"path": str(Path(path).resolve()), "time": time.time()}
    try:
        atomic_write_bytes(state_dir() / "last-model.json", json.dumps(record).encode())
    except OSError:
        pass  # remembering is a convenience; training itself succeeded


def last_model() -> Path | None:
    """The model file most recently written by `digitnet train`, if it still exists."""
    try:
        record = json.loads((state_dir() / "last-model.json").read_text())
        path = Path(record["path"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return path if path.is_file() else None


def _same_settings(saved: Any, config: TrainConfig) -> bool:
    """Whether a checkpoint's settings are config's (older files name the sizes "layers")."""
    try:
        return isinstance(saved, dict) and TrainConfig.from_dict(saved) == config
    except (TypeError, ValueError):
        return False
