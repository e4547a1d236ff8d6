"""Checkpoints and history files next to a model file.

    models/3b1b.checkpoint.safetensors   after every epoch: weights, optimizer state, generator
                                          state, epoch and history (for --resume)
    models/3b1b.history.json / .csv      per-epoch loss and accuracies
Written under a temporary name and renamed (digitnet.files), so a run killed at any moment
leaves the last complete checkpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from digitnet import modelfile
from digitnet.files import atomic_write_bytes
from digitnet.network import Network
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
    net = modelfile.network_from(tensors, document, path)
    extra = {name: array for name, array in tensors.items() if not name.startswith("layers.")}
    return net, extra, document


def write_history(out: Path, trainer: Trainer) -> None:
    json_path, csv_path = history_paths(out)
    atomic_write_bytes(json_path, json.dumps(trainer.history.to_dict(), indent=1).encode())
    atomic_write_bytes(csv_path, trainer.history.to_csv().encode())
