"""A PyTorch state dict on disk (.safetensors, keys 0.weight, 0.bias, 2.weight, …) as a Network.

The file is what `digitnet export --format torch` writes, or what safetensors.torch.save_file
writes for an nn.Sequential's state_dict(); no torch is needed to read it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from digitnet.interop.torch import ARCHITECTURE_KEY, KEY_PATTERN, build_layers
from digitnet.network import Network


def load_state_dict(
    path: str | os.PathLike,
    activation: str | None = None,
    output_activation: str | None = None,
    sizes: list[int] | None = None,
) -> Network:
    """A Network from a .safetensors state dict of an nn.Sequential (keys 0.weight, 0.bias, 2.weight, ...).

    The Linear layers are taken in index order. activation: for every hidden layer;
    output_activation: default what the file's header records (when digitnet exported it), else
    the same as activation; activation, too, defaults to the header's. sizes: checked against the
    tensors' shapes when given.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no state-dict file at {path}")
    try:
        with safe_open(str(path), framework="np") as handle:
            header = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError, TypeError) as error:
        raise ValueError(f"{path} is not a readable safetensors state dict ({' '.join(str(error).split())})") from None
    recorded: dict[str, Any] = {}
    if ARCHITECTURE_KEY in header:
        try:
            recorded = dict(json.loads(header[ARCHITECTURE_KEY]))
        except (ValueError, TypeError):
            recorded = {}
    activation = activation or recorded.get("activation")
    if activation is None:
        raise ValueError(f"{path} does not record its activations; give the hidden activation (--activation)")
    output_activation = output_activation or recorded.get("output_activation") or activation
    indices: dict[int, dict[str, np.ndarray]] = {}
    unexpected = []
    for key, array in tensors.items():
        match = KEY_PATTERN.match(key)
        if match is None:
            unexpected.append(key)
        else:
            indices.setdefault(int(match.group(1)), {})[match.group(2)] = array
    if unexpected:
        hint = " (this looks like a digitnet model file: it needs no import)" if "layers.0.weight" in unexpected else ""
        raise ValueError(f"{path}: unexpected key(s) {', '.join(sorted(unexpected))}; "
                         f"expected an nn.Sequential state dict (0.weight, 0.bias, 2.weight, ...){hint}")
    if not indices:
        raise ValueError(f"{path} holds no tensors; expected 0.weight, 0.bias, ...")
    ordered = [indices[i] for i in sorted(indices)]
    for index, entry in zip(sorted(indices), ordered):
        if "weight" not in entry:
            raise ValueError(f"{path}: {index}.bias has no {index}.weight beside it")
    weights = [entry["weight"] for entry in ordered]
    biases = [entry.get("bias") for entry in ordered]
    hidden = [activation] * (len(weights) - 1)
    layers, hidden_activation = build_layers(weights, biases, hidden, output_activation, str(path))
    net = Network.from_layers(layers, activation=hidden_activation)
    if sizes is not None and list(sizes) != net.sizes:
        raise ValueError(f"{path}: its tensors make layers {net.sizes}; --layers said {list(sizes)}")
    net.metadata = {"imported": {"from": "torch state dict", "file": path.name}}
    return net
