"""One trial: one TrainConfig trained by the Trainer, epoch by epoch, reporting after each epoch.

Every report describes the model the trial would give if it ended now — the weights best on the
validation images so far, which the trainer keeps:

    val_accuracy, val_loss, test_accuracy   of those weights (from their epoch's record)
    epochs_run       epochs trained;  best_epoch   the epoch those weights come from
    seconds          training time so far (the epochs' own time: no data loading, no scoring)
    parameters       Σ (n_in·n_out + n_out) over the layers
    finished         ran all its epochs (or stopped by its own patience);  diverged

so a scheduler (ASHA) can stop a lagging trial after any epoch and its last report is still its
result. A checkpoint goes with every report: digitnet's training checkpoint (safetensors: weights,
optimizer state, generator state, history; no pickle). A trial restored from one continues
bit-identically; restored from its final one, it reports its result again without training.

Each worker reads the dataset from its own cache (digitnet.data.load, once per process): nothing
large travels between machines. BLAS is limited to the trial's CPUs (threadpoolctl), so trials
running side by side do not oversubscribe the cores.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from digitnet.data.prepare import preprocessing_document
from digitnet.engines.threads import limit_blas_threads
from digitnet.network import Network
from digitnet.training.checkpoints import load_checkpoint, save_checkpoint
from digitnet.training.config import TrainConfig
from digitnet.training.trainer import Trainer, TrainingDiverged

CHECKPOINT_FILE = "checkpoint.safetensors"

# report(metrics, checkpoint_folder or None): hands one epoch's result to the engine, which keeps
# the folder's checkpoint; it may stop the trial (the local engine raises StopTrial).
Report = Callable[[dict[str, Any], "Path | None"], None]


class StopTrial(Exception):
    """Raised by a report to end a trial early (the local engine's ASHA)."""


@functools.lru_cache(maxsize=2)
def _dataset(name: str, data_dir: str | None):
    from digitnet.data import load

    return load(name, data_dir=data_dir)


def trial_data(data: dict[str, Any], config: TrainConfig) -> tuple[np.ndarray, ...]:
    """(x_train, y_train, x_val, y_val, x_test, y_test) for a trial: the first train_images training
    images (the last validation_size of them held out), the first test_images test images."""
    from digitnet.data import split_validation

    dataset = _dataset(data["dataset"], data.get("data_dir"))
    if config.sizes[0] != dataset.x_train.shape[1] or config.sizes[-1] != len(dataset.class_names):
        raise ValueError(f"layers must start with {dataset.x_train.shape[1]} inputs and end with "
                         f"{len(dataset.class_names)} outputs for {dataset.name}; got {config.sizes}")
    n_train = data.get("train_images") or len(dataset.x_train)
    n_test = data.get("test_images") or len(dataset.x_test)
    if n_train > len(dataset.x_train) or n_test > len(dataset.x_test):
        raise ValueError(f"{dataset.name} has {len(dataset.x_train)} training and {len(dataset.x_test)} test images; "
                         f"the sweep asks for {n_train} and {n_test}")
    x_fit, y_fit, x_val, y_val = split_validation(dataset.x_train[:n_train], dataset.y_train[:n_train],
                                                  size=config.validation_size)
    return x_fit, y_fit, x_val, y_val, dataset.x_test[:n_test], dataset.y_test[:n_test]


def trial_metrics(trial_id: str, trainer: Trainer, *, diverged: bool = False) -> dict[str, Any]:
    """What a report says: the kept weights' scores (see the module docstring)."""
    records = trainer.history.records
    kept = records[trainer.best_epoch - 1] if trainer.best_epoch else {}
    return {
        "trial": trial_id,
        "val_accuracy": kept.get("val_accuracy", 0.0),
        "val_loss": kept.get("val_loss", float("inf")),
        "test_accuracy": kept.get("test_accuracy", 0.0),
        "epochs_run": trainer.epoch,
        "best_epoch": trainer.best_epoch,
        "seconds": float(sum(r["seconds"] for r in records)),
        "parameters": trainer.net.num_parameters,
        "finished": bool(trainer.finished) and not diverged,
        "diverged": diverged,
    }


def run_trial(plan: dict[str, Any], report: Report, *, restore: Path | None = None) -> None:
    """Train the trial `plan` (Sweep.plan), reporting after every epoch; continue from `restore`
    (a checkpoint file) if given. Ends when the trial is finished, diverged or stopped."""
    config = TrainConfig.from_dict(plan["config"])
    x_fit, y_fit, x_val, y_val, x_test, y_test = trial_data(plan["data"], config)
    net = config.make_network()
    state = None
    if restore is not None:
        net, tensors, document = load_checkpoint(restore)
        if TrainConfig.from_dict(document["training"]) != config:
            raise ValueError(f"{restore} belongs to another trial's settings")
        state = (tensors, document["checkpoint"])
    trainer = Trainer(net, config, x_fit, y_fit, validation=(x_val, y_val), test=(x_test, y_test))
    if state is not None:
        trainer.restore_state(*state)
    with limit_blas_threads(int(plan.get("cpus", 1))), tempfile.TemporaryDirectory(prefix="digitnet-trial-") as scratch:
        if trainer.finished:  # restored from its last checkpoint: say the result again, train nothing
            report(trial_metrics(plan["id"], trainer), None)
            return
        while not trainer.finished:
            try:
                trainer.run_epoch()
            except TrainingDiverged:
                report(trial_metrics(plan["id"], trainer, diverged=True), None)
                return
            folder = Path(scratch) / f"epoch-{trainer.epoch}"
            save_checkpoint(folder / CHECKPOINT_FILE, trainer, config)
            report(trial_metrics(plan["id"], trainer), folder)


def keep_checkpoint(folder: Path, target: Path) -> None:
    """Keep a report's checkpoint (folder/CHECKPOINT_FILE) as target: copied beside it (the scratch
    folder may be on another file system), then renamed over it, so target is always whole."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(folder / CHECKPOINT_FILE, temporary)
    os.replace(temporary, target)


def kept_model(checkpoint: str | Path) -> tuple[Network, TrainConfig, dict[str, Any]]:
    """The model a trial's checkpoint stands for: its network holding the weights best on validation
    (the last ones when its config keeps the last), its config and the checkpoint's state document
    (history, best epoch)."""
    net, tensors, document = load_checkpoint(Path(checkpoint))
    config = TrainConfig.from_dict(document["training"])
    best = sorted((int(key.split(".")[1]), array) for key, array in tensors.items() if key.startswith("best."))
    for parameter, (_, array) in zip(net.parameters(), best if config.keep == "best" else []):
        parameter[...] = array
    # A model now: not the checkpoint's document (kind, optimizer state), which is returned; but the
    # model's own preprocessing stays with it (a deskewing trial's model reads its inputs deskewed).
    net.metadata = {"preprocessing": preprocessing_document(deskew=config.deskew)} if config.deskew else {}
    return net, config, document["checkpoint"]
