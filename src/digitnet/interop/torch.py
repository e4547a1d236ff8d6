"""PyTorch interop: a Network as a torch.nn.Sequential, and back.

The video's layer a' = σ(W a + b) is PyTorch's nn.Linear followed by an activation module, with
the same shapes: weight W (n_out, n_in), bias b (n_out,), batch-first inputs (N, n_in). So
Network([784, 16, 16, 10]) (sigmoid) is

    nn.Sequential(Linear(784, 16), Sigmoid(), Linear(16, 16), Sigmoid(), Linear(16, 10), Sigmoid())

and its state dict has the keys 0.weight, 0.bias, 2.weight, 2.bias, 4.weight, 4.bias: Linear
layers at the even indices, activations at the odd ones, the output activation last (no module
when the output is identity; a hidden identity is an nn.Identity() so the indices stay the same).

Supported modules (anything else is refused, naming the first one that is not):
    Linear (bias or not), ReLU, Sigmoid, Tanh, LeakyReLU (negative_slope 0.01, digitnet's),
    Softmax (output only, dim=-1 or 1), Identity, and a leading Flatten (N, 1, 28, 28) -> (N, 784).
Two Linear layers in a row mean an identity activation between them. digitnet networks use one
activation for every hidden layer, so the hidden activations must all be the same.

torch_state_dict works on NumPy arrays and needs no torch; to_torch and layers_from_torch
import it when called. Reading a saved state dict back is digitnet.interop.torch_files.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from digitnet.activations import LEAKY_SLOPE, get_activation
from digitnet.layers import Dense

if TYPE_CHECKING:  # pragma: no cover
    import torch

INSTALL_HINT = "PyTorch interop needs torch: pip install torch"
# digitnet activation -> the torch.nn module class name that computes it.
MODULES = {"sigmoid": "Sigmoid", "relu": "ReLU", "tanh": "Tanh", "leaky_relu": "LeakyReLU",
           "softmax": "Softmax", "identity": "Identity"}
ACTIVATION_OF = {module: activation for activation, module in MODULES.items()}
ARCHITECTURE_KEY = "digitnet_architecture"  # in the header of an exported state-dict file
KEY_PATTERN = re.compile(r"^(\d+)\.(weight|bias)$")


def require_torch():
    try:
        import torch
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return torch


# ----------------------------------------------------------------------------- digitnet -> torch
def module_layout(net: Network) -> list[tuple[str, dict[str, Any]]]:
    """The Sequential's modules as (class name, arguments), index by index."""
    layout: list[tuple[str, dict[str, Any]]] = []
    last = len(net.layers) - 1
    for index, layer in enumerate(net.layers):
        layout.append(("Linear", {"in_features": layer.n_in, "out_features": layer.n_out}))
        if index == last and layer.activation == "identity":
            continue
        arguments: dict[str, Any] = {}
        if layer.activation == "softmax":
            arguments = {"dim": -1}
        elif layer.activation == "leaky_relu":
            arguments = {"negative_slope": LEAKY_SLOPE}
        layout.append((MODULES[layer.activation], arguments))
    return layout


def torch_state_dict(net: Network) -> dict[str, np.ndarray]:
    """The state dict of to_torch(net) as NumPy arrays: {"0.weight": (n_out, n_in), "0.bias": (n_out,), ...}."""
    tensors, position = {}, 0
    for index, (name, _) in enumerate(module_layout(net)):
        if name == "Linear":
            layer = net.layers[position]
            tensors[f"{index}.weight"] = np.ascontiguousarray(layer.weight)
            tensors[f"{index}.bias"] = np.ascontiguousarray(layer.bias)
            position += 1
    return tensors


def to_torch(net: Network) -> "torch.nn.Sequential":
    """net as a torch.nn.Sequential of the same dtype; module(x) equals net.forward(x)."""
    torch = require_torch()
    modules = []
    for name, arguments in module_layout(net):
        if name == "Linear":
            arguments = {**arguments, "dtype": torch.float32 if net.dtype == np.float32 else torch.float64}
        modules.append(getattr(torch.nn, name)(**arguments))
    module = torch.nn.Sequential(*modules)
    state = {key: torch.from_numpy(array.copy()) for key, array in torch_state_dict(net).items()}
    module.load_state_dict(state)
    return module


def torch_code(net: Network, path: str | os.PathLike = "model.safetensors") -> str:
    """The few lines of PyTorch that rebuild the module from an exported state-dict file."""
    lines = ["import torch", "from safetensors.torch import load_file", "", "model = torch.nn.Sequential("]
    for name, arguments in module_layout(net):
        text = ", ".join(f"{value}" if key in ("in_features", "out_features") else f"{key}={value}"
                         for key, value in arguments.items())
        lines.append(f"    torch.nn.{name}({text}),")
    lines.append(")" + (".double()" if net.dtype == np.float64 else ""))
    lines.append(f"model.load_state_dict(load_file({str(path)!r}))")
    return "\n".join(lines)


def save_state_dict(net: Network, path: str | os.PathLike) -> Path:
    """Write torch_state_dict(net) as a .safetensors file (loadable by safetensors.torch.load_file)."""
    from safetensors.numpy import save_file

    from digitnet.files import atomic_path

    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise ValueError(f"state-dict file name must end in .safetensors; got {str(path)!r}")
    architecture = {"sizes": net.sizes, "activation": net.activation, "output_activation": net.output_activation}
    header = {"format": "pt", ARCHITECTURE_KEY: json.dumps(architecture)}
    with atomic_path(path) as temporary:
        save_file(torch_state_dict(net), str(temporary), metadata=header)
    return path


# ----------------------------------------------------------------------------- torch -> digitnet
def layers_from_torch(module: Any) -> tuple[list[Dense], str, dict[str, Any]]:
    """(layers, hidden activation, metadata) computing what module computes, for
    Network.from_layers (Network.from_torch); ValueError naming the first unsupported module."""
    torch = require_torch()
    if not isinstance(module, torch.nn.Sequential):
        raise ValueError(f"expected a torch.nn.Sequential of Linear layers and activations; got {type(module).__name__}")
    children = list(module.named_children())
    if children and isinstance(children[0][1], torch.nn.Flatten):
        flatten = children[0][1]
        if (flatten.start_dim, flatten.end_dim) != (1, -1):
            raise ValueError(f"module {children[0][0]} (Flatten) must flatten dims 1..-1; "
                             f"got start_dim={flatten.start_dim}, end_dim={flatten.end_dim}")
        children = children[1:]
    weights: list[np.ndarray] = []
    biases: list[np.ndarray | None] = []
    activations: list[str] = []  # one per Linear: the activation after it
    for position, (name, child) in enumerate(children):
        kind = type(child).__name__
        where = f"module {name} ({kind})"
        if isinstance(child, torch.nn.Linear):
            if len(activations) < len(weights):
                activations.append("identity")  # Linear after Linear: nothing in between
            weights.append(child.weight.detach().cpu().numpy().copy())  # (n_out, n_in)
            biases.append(None if child.bias is None else child.bias.detach().cpu().numpy().copy())
            continue
        if kind not in ACTIVATION_OF or type(child) is not getattr(torch.nn, kind):
            raise ValueError(f"{where} is not supported; digitnet takes Linear, "
                             f"{', '.join(ACTIVATION_OF)} (and a leading Flatten)")
        if not weights:
            raise ValueError(f"{where} comes before any Linear layer; the first module must be Linear")
        if len(activations) == len(weights):
            raise ValueError(f"{where} follows another activation; digitnet has one activation after each Linear")
        if kind == "LeakyReLU" and child.negative_slope != LEAKY_SLOPE:
            raise ValueError(f"{where} has negative_slope={child.negative_slope}; digitnet's leaky_relu uses {LEAKY_SLOPE}")
        if kind == "Softmax":
            if position != len(children) - 1:
                raise ValueError(f"{where} is not the last module; softmax is for the output layer only")
            if child.dim not in (-1, 1):
                raise ValueError(f"{where} must take dim=-1 or dim=1 (over the classes); got dim={child.dim}")
        activations.append(ACTIVATION_OF[kind])
    if not weights:
        raise ValueError("the Sequential holds no Linear layer; expected Linear layers and activations")
    if len(activations) < len(weights):
        activations.append("identity")  # ends with a Linear: a linear output
    layers, activation = build_layers(weights, biases, activations[:-1], activations[-1], "the module")
    modules = [type(child).__name__ for _, child in module.named_children()]
    return layers, activation, {"imported": {"from": "torch.nn.Sequential", "modules": modules}}


def build_layers(
    weights: list[np.ndarray], biases: list[np.ndarray | None], hidden: list[str], output: str, source: str
) -> tuple[list[Dense], str]:
    """Dense layers with these weights (n_out, n_in) and biases (n_out,) (None: zeros), checking
    every one; and the hidden activation. Network.from_layers makes the network."""
    dtypes = {np.dtype(w.dtype).name for w in weights} | {np.dtype(b.dtype).name for b in biases if b is not None}
    if len(dtypes) != 1 or not dtypes <= {"float32", "float64"}:
        raise ValueError(f"{source}: weights must all be float32 or all float64; got {', '.join(sorted(dtypes))}")
    sizes = []
    for index, (weight, bias) in enumerate(zip(weights, biases)):
        if weight.ndim != 2:
            raise ValueError(f"{source}: Linear layer {index}'s weight must be 2-D (n_out, n_in); got shape {weight.shape}")
        if sizes and weight.shape[1] != sizes[-1]:
            raise ValueError(f"{source}: Linear layer {index} takes {weight.shape[1]} inputs but the layer "
                             f"before gives {sizes[-1]}")
        if bias is not None and bias.shape != (weight.shape[0],):
            raise ValueError(f"{source}: Linear layer {index}'s bias must have shape ({weight.shape[0]},); "
                             f"got {bias.shape}")
        if not np.isfinite(weight).all() or (bias is not None and not np.isfinite(bias).all()):
            raise ValueError(f"{source}: Linear layer {index} holds NaN or infinite values")
        sizes = sizes or [weight.shape[1]]
        sizes.append(weight.shape[0])
    if len(set(hidden)) > 1:
        raise ValueError(f"{source}: digitnet uses one activation for every hidden layer; got {', '.join(hidden)}")
    get_activation(output)
    if hidden:
        activation = hidden[0]
    else:  # one layer, no hidden activation: name the output's when it can serve as one
        activation = output if get_activation(output).hidden_ok else "identity"
    dtype = dtypes.pop()
    names = hidden + [output]
    layers = [
        Dense(np.array(weight, dtype=dtype), np.zeros(weight.shape[0], dtype) if bias is None else np.array(bias, dtype=dtype), name)
        for weight, bias, name in zip(weights, biases, names)
    ]
    return layers, activation
