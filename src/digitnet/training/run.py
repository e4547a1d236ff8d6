"""The training workflow behind `digitnet train`: data, checkpoints, model and history files.

Files written next to the model file OUT (say models/3b1b.safetensors):
    models/3b1b.checkpoint.safetensors   after every epoch: weights, optimizer state, generator
                                          state, epoch and history (for --resume)
    models/3b1b.history.json / .csv      per-epoch loss and accuracies
    models/3b1b.safetensors              the final model: the weights best on validation
Every file is written under a temporary name and renamed, so a run killed at any moment (even
SIGKILL) leaves the last complete checkpoint, and resuming it ends bit-identical to a run that
was never interrupted.
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
from digitnet.network import Network
from digitnet.training.checkpoints import checkpoint_path, check_out_path, load_checkpoint, save_checkpoint, write_history
from digitnet.training.config import TrainConfig
from digitnet.training.trainer import Trainer

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
    from digitnet.data import split_validation
    from digitnet.data.prepare import preprocessing_document

    out = check_out_path(out)
    checkpoint = checkpoint_path(out)
    if config.sizes[0] != data.x_train.shape[1] or config.sizes[-1] != len(data.class_names):
        raise ValueError(
            f"layers must start with {data.x_train.shape[1]} inputs and end with "
            f"{len(data.class_names)} outputs for {data.name}; got {config.sizes}"
        )
    if config.validation_size >= len(data.x_train):
        raise ValueError(f"validation_size must be smaller than the {len(data.x_train)} training images; got {config.validation_size}")
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
            net = saved_net
            saved = (tensors, document["checkpoint"])
        else:
            say(f"No checkpoint at {checkpoint}: starting from the beginning.")
    net.metadata = {}
    trainer = Trainer(net, config, x_train, y_train, validation=validation, test=(data.x_test, data.y_test))
    saved_epoch = None  # the epoch of the checkpoint this run has on disk, if any
    if saved is not None:
        trainer.restore_state(*saved)
        resumed_from = saved_epoch = trainer.epoch
        say(f"Resuming from {checkpoint} after epoch {trainer.epoch} of {config.epochs}.")

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

    if validation is not None:
        trainer.restore_best()
    metrics = final_metrics(net, trainer)
    modelfile.save(
        net, out,
        preprocessing=preprocessing_document(deskew=config.deskew),
        training=config.to_dict(),
        metrics=metrics,
        dataset=data.name,
        class_names=list(data.class_names),
        history=trainer.history.to_dict(),
    )
    write_history(out, trainer)
    remember_last_model(out)
    return RunResult(net, trainer, out, resumed_from, metrics)


def final_metrics(net: Network, trainer: Trainer) -> dict[str, float]:
    """Accuracies on the trainer's test and validation sets (as the model reads them: deskewed
    if it deskews), epochs and training seconds."""
    x_test, labels_test, _ = trainer.test
    metrics = {
        "test_accuracy": float(np.mean(net.predict(x_test) == labels_test)),
        "epochs_run": trainer.epoch,
        "best_epoch": trainer.best_epoch,
        "train_seconds": float(sum(trainer.history.seconds)),
    }
    if trainer.validation is not None:
        x_val, labels_val, _ = trainer.validation
        metrics["val_accuracy"] = float(np.mean(net.predict(x_val) == labels_val))
    return metrics


def dataset_for(net: Network, name: str | None = None, data_dir=None, label: str = "the model"):
    """The dataset net was trained on (or `name`), checked to fit its inputs and outputs, with
    the model's own preprocessing (digitnet.data.prepare: deskewing) applied to its images:
    the digits as the model reads them, for evaluate, inspect and show alike."""
    from dataclasses import replace

    from digitnet.data import load as load_dataset
    from digitnet.data.prepare import model_steps, prepare_for

    name = name or net.metadata.get("dataset", "mnist")
    data = load_dataset(name, data_dir=data_dir)
    if net.num_inputs != data.x_test.shape[1] or net.num_outputs != len(data.class_names):
        raise ValueError(
            f"{label} takes {net.num_inputs} inputs and has {net.num_outputs} outputs; "
            f"{name} needs {data.x_test.shape[1]} and {len(data.class_names)}"
        )
    if model_steps(net.metadata):
        data = replace(data, x_train=prepare_for(net, data.x_train), x_test=prepare_for(net, data.x_test))
    return data


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
