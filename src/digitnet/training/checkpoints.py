"""Checkpoints and history files next to a model file.

    models/3b1b.checkpoint.safetensors   after every epoch: weights, optimizer state, generator
                                          state, epoch and history (for --resume)
    models/3b1b.history.json / .csv      per-epoch loss and accuracies
Written under a temporary name and renamed (digitnet.files), so a run killed at any moment
leaves the last complete checkpoint. A checkpoint is checked as strictly as a model file before
a run resumes from it: its weights as a model's (digitnet.modelfile), then every other tensor
(optimizer.t, optimizer.<buffer>.<i>, best.<i>: names, shapes, dtypes, finite values) and its
state document (epoch, generator state, history, early-stopping bookkeeping), so a damaged or
edited checkpoint is one ModelFileError, never a crash halfway through resuming.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from digitnet import modelfile
from digitnet.files import atomic_write_bytes
from digitnet.layers import Dense
from digitnet.network import Network
from digitnet.optimizers import OPTIMIZERS
from digitnet.training.config import TrainConfig
from digitnet.training.trainer import Trainer

CHECKPOINT_KIND = "checkpoint"


def checkpoint_path(out: str | os.PathLike) -> Path:
    """models/3b1b.safetensors -> models/3b1b.checkpoint.safetensors."""
    out = Path(out)
    return out.with_name(f"{_stem(out)}.checkpoint.safetensors")


def history_paths(out: str | os.PathLike) -> tuple[Path, Path]:
    out = Path(out)
    return out.with_name(f"{_stem(out)}.history.json"), out.with_name(f"{_stem(out)}.history.csv")


def _stem(path: Path) -> str:
    return path.name.removesuffix(".safetensors")


def check_out_path(out: str | os.PathLike) -> Path:
    out = Path(out)
    if out.suffix != ".safetensors":
        raise ValueError(f"--out must name a .safetensors file; got {str(out)!r}")
    if out.is_dir():
        raise ValueError(f"--out must be a file path; {out} is a folder")
    return out


# --------------------------------------------------------------------- checkpoints
def save_checkpoint(path: Path, trainer: Trainer, config: TrainConfig) -> None:
    tensors, state = trainer.state()
    modelfile.save(
        trainer.net,
        path,
        extra_tensors=tensors,
        kind=CHECKPOINT_KIND,
        training=config.to_dict(),
        checkpoint=state,
    )


def load_checkpoint(path: Path) -> tuple[Network, dict[str, np.ndarray], dict[str, Any]]:
    """The network, the trainer's tensors and its state document from a checkpoint file."""
    tensors, document = modelfile.read(path)
    if document.get("kind") != CHECKPOINT_KIND or "checkpoint" not in document:
        raise modelfile.ModelFileError(f"{path} is not a digitnet training checkpoint")
    net = modelfile.network_from({n: a for n, a in tensors.items() if n.startswith("layers.")}, document, path)
    extra = {name: array for name, array in tensors.items() if not name.startswith("layers.")}
    problem = checkpoint_problem(net, extra, document)
    if problem:
        raise modelfile.ModelFileError(f"{path}: {problem}")
    return net, extra, document


def checkpoint_problem(net: Network, tensors: dict[str, np.ndarray], document: dict[str, Any]) -> str | None:
    """What is wrong with a checkpoint's trainer tensors and state document, if anything."""
    if not isinstance(document.get("training"), dict):
        return "it holds no training settings"
    try:
        config = TrainConfig.from_dict(document["training"])
    except (TypeError, ValueError) as error:
        return f"bad training settings: {' '.join(str(error).split())}"
    if list(config.sizes) != net.sizes:
        return f"training settings say layers {config.sizes}; the weights are {net.sizes}"
    state = document["checkpoint"]
    if not isinstance(state, dict):
        return f"checkpoint state must be an object; got {type(state).__name__}"
    return _state_problem(state, config) or _tensors_problem(net, tensors, config, state["epoch"])


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _state_problem(state: dict[str, Any], config: TrainConfig) -> str | None:
    epoch = state.get("epoch")
    if not _is_int(epoch) or not 0 <= epoch <= config.epochs:
        return f"checkpoint epoch must be an integer in 0..{config.epochs}; got {epoch!r}"
    for key in ("best_epoch", "epochs_without_improvement"):
        value = state.get(key, 0)
        if not _is_int(value) or not 0 <= value <= epoch:
            return f"checkpoint {key} must be an integer in 0..{epoch}; got {value!r}"
    score = state.get("best_score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score)):
        return f"checkpoint best_score must be a finite number or null; got {score!r}"
    try:  # the generator's own check: the right bit generator, and a state it accepts
        np.random.default_rng(0).bit_generator.state = state.get("rng")
    except (TypeError, ValueError, KeyError, OverflowError) as error:
        return f"checkpoint rng is not a PCG64 generator state ({' '.join(str(error).split()) or type(error).__name__})"
    history = state.get("history")
    records = history.get("records") if isinstance(history, dict) else None
    if not isinstance(records, list) or len(records) != epoch:
        return f"checkpoint history must be an object whose records list has {epoch} entries, one per epoch"
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict) or record.get("epoch") != number or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in record.values()
        ):
            return f"checkpoint history record {number} must be an object of numbers with epoch {number}"
    return None


def _tensors_problem(net: Network, tensors: dict[str, np.ndarray], config: TrainConfig, epoch: int) -> str | None:
    """optimizer.t, optimizer.<buffer>.<i> for the config's optimizer and best.<i>: nothing else."""
    shapes = [p.shape for p in net.parameters()]
    expected: dict[str, tuple[tuple[int, ...], np.dtype]] = {"optimizer.t": ((1,), np.dtype(np.int64))}
    stateful = epoch > 0  # buffers exist once the optimizer has taken a step
    for name in OPTIMIZERS[config.optimizer].state_names if stateful else ():
        expected.update({f"optimizer.{name}.{i}": (shape, net.dtype) for i, shape in enumerate(shapes)})
    best = [f"best.{i}" for i in range(len(shapes))]
    if any(name in tensors for name in best):
        expected.update({name: (shape, net.dtype) for name, shape in zip(best, shapes)})
    unexpected = sorted(set(tensors) - set(expected))
    missing = [name for name in expected if name not in tensors]
    if unexpected or missing:
        parts = ([f"unexpected tensor(s) {', '.join(unexpected[:5])}"] if unexpected else []) + (
            [f"missing tensor(s) {', '.join(missing[:5])}"] if missing else [])
        return "; ".join(parts) + f" for a checkpoint of layers {net.sizes} trained with {config.optimizer}"
    for name, (shape, dtype) in expected.items():
        array = tensors[name]
        if array.shape != shape or array.dtype != dtype:
            return f"tensor {name} must be {dtype.name} of shape {shape}; got {array.dtype.name} of shape {array.shape}"
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            return f"tensor {name} holds NaN or infinite values"
    if int(tensors["optimizer.t"][0]) < 0:
        return f"tensor optimizer.t must count steps (≥ 0); got {int(tensors['optimizer.t'][0])}"
    if "best.0" in tensors:
        layers = [Dense(tensors[f"best.{2 * i}"], tensors[f"best.{2 * i + 1}"], layer.activation)
                  for i, layer in enumerate(net.layers)]
        problem = modelfile.weights_problem(layers)
        if problem:
            return f"the best weights (best.*) are unusable: {problem}"
    return None


def write_history(out: Path, trainer: Trainer) -> None:
    json_path, csv_path = history_paths(out)
    atomic_write_bytes(json_path, json.dumps(trainer.history.to_dict(), indent=1).encode())
    atomic_write_bytes(csv_path, trainer.history.to_csv().encode())
