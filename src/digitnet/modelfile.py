"""Model files: one .safetensors file per network, no pickle anywhere.

Tensors (the video's shapes; layers numbered from 0):
    layers.{i}.weight   (n_out, n_in)
    layers.{i}.bias     (n_out,)
Header metadata: a single key "digitnet" holding a JSON document:
    {"format": "digitnet-model", "format_version": 1, "digitnet_version": "...",
     "architecture": {"sizes": [...], "activation": ..., "output_activation": ..., "init": ...,
                      "dtype": ...},
     "activations": [per-layer activation names],
     "preprocessing": {...what the model expects as input...},
     "training": {...TrainConfig...}, "metrics": {...}, "class_names": [...], ...}

Loading checks everything before a Network is built — the format and its version, every
tensor name (no more, no fewer than the sizes call for), shape and dtype, that every value is
finite, and that no input in [0, 1] can make a forward pass overflow — and refuses a bad file
with one ModelFileError that names the file and what was wrong. Any failure to read (a
truncated or hostile file, a tensor type NumPy has no name for, JSON nested too deep) or to
write (a full disk, a destination that is a device) is a ModelFileError too. `save` refuses to
write weights that `load` would refuse. Files are written to a temporary name and renamed, so
a model file on disk is always complete.

The overflow bound: for inputs with |a| ≤ 1, layer l's pre-activations satisfy
    |zⱼ| ≤ Bₗ₊₁ = maxⱼ (Σᵢ |Wⱼᵢ| · Bₗ + |bⱼ|),  B₀ = 1,
and after sigmoid, tanh or softmax (|a| ≤ 1) the bound starts again from 1. A model whose bound
reaches a quarter of its dtype's largest number is refused: its answers would be inf or NaN.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from digitnet.files import FILE_MODE, atomic_path, not_a_regular_file
from digitnet._version import __version__
from digitnet.activations import get_activation
from digitnet.checks import DTYPES, check_dtype, check_sizes
from digitnet.layers import Dense, check_init
from digitnet.network import Network

FORMAT = "digitnet-model"
FORMAT_VERSION = 1
METADATA_KEY = "digitnet"

# What every model trained on MNIST-style data expects (see digitnet.data.preprocess).
MNIST_PREPROCESSING = {
    "input_shape": [28, 28],
    "flatten": "row-major, 784 values",
    "range": [0.0, 1.0],
    "ink": "bright (1.0) on dark (0.0)",
    "steps": [
        "find ink (alpha channel, or invert dark-on-light)",
        "crop to the ink's bounding box",
        "scale so the longer side is 20 px, keeping the aspect ratio, anti-aliased",
        "paste into 28x28 with the centre of mass at the centre",
    ],
}


class ModelFileError(ValueError):
    """A model file that cannot be read or does not describe a valid network."""


# The safetensors dtypes NumPy can hold (safetensors.numpy's table); others (F8_E4M3, F4, ...)
# would fail inside safetensors with an AttributeError, so they are refused by name first.
NUMPY_DTYPES = {"BOOL", "U8", "I8", "U16", "I16", "U32", "I32", "U64", "I64", "F16", "F32", "F64", "C64"}

# What can go wrong inside safetensors and json on a hostile file, besides SafetensorError.
_READ_ERRORS = (OSError, ValueError, TypeError, AttributeError, KeyError, OverflowError, MemoryError, RecursionError)


def save(net: Network, path: str | os.PathLike, *, extra_tensors: dict[str, np.ndarray] | None = None, **metadata: Any) -> Path:
    """Write net (and metadata: training, metrics, class_names, ...) to path atomically."""
    from safetensors import SafetensorError
    from safetensors.numpy import save_file

    path = Path(path)
    document = model_document(net, **metadata)
    problem = _class_names_problem(document, net.num_outputs) or weights_problem(net.layers)
    if problem:
        raise ModelFileError(f"not saving {path}: {problem}")
    tensors = network_tensors(net)
    if extra_tensors:
        tensors.update({name: np.ascontiguousarray(array) for name, array in extra_tensors.items()})
        bad = [name for name, array in extra_tensors.items() if array.dtype.kind == "f" and not np.isfinite(array).all()]
        if bad:
            raise ModelFileError(f"not saving {path}: tensor(s) {', '.join(bad)} hold NaN or infinite values")
    try:
        text = json.dumps(document, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"not saving {path}: its metadata is not plain JSON ({error})") from None
    try:
        with atomic_path(path) as temporary:
            save_file(tensors, str(temporary), metadata={METADATA_KEY: text})
            os.chmod(temporary, FILE_MODE)  # safetensors writes a new file, owner-only
            with open(temporary, "rb+") as written:
                os.fsync(written.fileno())  # on disk before the rename, so a power cut cannot leave it empty
    except (SafetensorError, OSError) as error:
        # A full disk, a read-only folder, a destination that is a device: one line naming the file.
        raise ModelFileError(f"could not write {path}: {_one_line(error)}") from None
    return path


def network_tensors(net: Network) -> dict[str, np.ndarray]:
    tensors = {}
    for index, layer in enumerate(net.layers):
        tensors[f"layers.{index}.weight"] = np.ascontiguousarray(layer.weight)
        tensors[f"layers.{index}.bias"] = np.ascontiguousarray(layer.bias)
    return tensors


def model_document(net: Network, **metadata: Any) -> dict[str, Any]:
    base = dict(getattr(net, "metadata", {}) or {})
    base.update(metadata)
    base.setdefault("preprocessing", MNIST_PREPROCESSING)
    return {
        **base,
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "digitnet_version": __version__,
        "architecture": {
            "sizes": list(net.sizes),
            "activation": net.activation,
            "output_activation": net.output_activation,
            "init": net.init,
            "dtype": net.dtype.name,
        },
        "activations": [layer.activation for layer in net.layers],
        "num_parameters": net.num_parameters,
    }


def read(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """All tensors and the metadata document of a digitnet safetensors file, unchecked beyond
    being a readable safetensors file with a JSON document of the right format."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    kind = not_a_regular_file(path)
    if kind == "missing":
        raise ModelFileError(f"no model file at {path}")
    if kind is not None:  # (a FIFO would block the reader for ever)
        raise ModelFileError(f"no model file at {path}: it is {kind}")
    try:
        with safe_open(str(path), framework="np") as handle:
            header = handle.metadata() or {}
            names = list(handle.keys())
            for name in names:
                dtype = handle.get_slice(name).get_dtype()
                if dtype not in NUMPY_DTYPES:
                    raise ModelFileError(
                        f"{path}: tensor {name} has dtype {dtype}, which digitnet does not read; "
                        "its tensors are F32 or F64 (I64 for step counts)"
                    )
            tensors = {name: handle.get_tensor(name) for name in names}
    except ModelFileError:
        raise
    except (SafetensorError, *_READ_ERRORS) as error:
        raise ModelFileError(f"{path} is not a readable safetensors model file ({_one_line(error)})") from None
    if METADATA_KEY not in header:
        raise ModelFileError(f"{path} has no digitnet metadata; expected a model saved by digitnet")
    try:
        document = json.loads(header[METADATA_KEY])
    except json.JSONDecodeError as error:
        raise ModelFileError(f"{path} has unreadable metadata: {error}") from None
    except RecursionError:
        raise ModelFileError(f"{path} has unreadable metadata: JSON nested too deeply") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a digitnet model (metadata format is not {FORMAT!r})")
    version = document.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{path} has an invalid format_version {version!r}; expected an integer ≥ 1")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} uses model format version {version}, newer than this digitnet "
            f"({__version__}) reads (≤ {FORMAT_VERSION}); upgrade digitnet"
        )
    return tensors, document


def load(path: str | os.PathLike) -> Network:
    """Read and check a model file; returns the Network with its metadata in net.metadata."""
    tensors, document = read(path)
    if document.get("kind") == "checkpoint":
        raise ModelFileError(
            f"{path} is a training checkpoint (for `digitnet train --resume`), not a model file; "
            "load the model file beside it"
        )
    return network_from(tensors, document, path)


def network_from(tensors: dict[str, np.ndarray], document: dict[str, Any], path: str | os.PathLike = "model") -> Network:
    """Build a Network from model tensors and metadata, checking every one."""
    architecture = document.get("architecture")
    if not isinstance(architecture, dict):
        raise ModelFileError(f"{path}: metadata has no 'architecture'")
    try:
        sizes = check_sizes(architecture.get("sizes") or [])
        activation = architecture.get("activation")
        output_activation = architecture.get("output_activation")
        get_activation(activation, hidden=True)
        get_activation(output_activation)
        dtype_name = architecture.get("dtype", "float32")
        if not isinstance(dtype_name, str):  # np.dtype(5) would be a TypeError, not a clear refusal
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype_name!r}")
        dtype = np.dtype(check_dtype(dtype_name))
        init = check_init(architecture.get("init") or "nielsen")
    except ValueError as error:
        raise ModelFileError(f"{path}: bad architecture in metadata: {error}") from None

    expected = {}
    for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        expected[f"layers.{index}.weight"] = (n_out, n_in)
        expected[f"layers.{index}.bias"] = (n_out,)
    missing = [name for name in expected if name not in tensors]
    if missing:
        raise ModelFileError(f"{path}: missing tensor(s) {', '.join(missing)} for sizes {sizes}")
    unexpected = sorted(name for name in tensors if name not in expected)
    if unexpected:
        shown = ", ".join(unexpected[:5]) + (f" and {len(unexpected) - 5} more" if len(unexpected) > 5 else "")
        raise ModelFileError(
            f"{path}: unexpected tensor(s) {shown}; a model of sizes {sizes} holds only "
            f"layers.{{i}}.weight and layers.{{i}}.bias for i in 0..{len(sizes) - 2}"
        )
    for name, shape in expected.items():
        array = tensors[name]
        if array.shape != shape:
            raise ModelFileError(f"{path}: tensor {name} must have shape {shape} for sizes {sizes}; got {array.shape}")
        if array.dtype != dtype:
            raise ModelFileError(f"{path}: tensor {name} must be {dtype.name}; got {array.dtype}")
        if not np.isfinite(array).all():
            raise ModelFileError(f"{path}: tensor {name} holds NaN or infinite values")

    problem = _class_names_problem(document, sizes[-1])
    if problem:  # predict indexes them by output neuron
        raise ModelFileError(f"{path}: {problem}")

    last = len(sizes) - 2
    layers = [
        Dense(
            np.array(tensors[f"layers.{i}.weight"]),
            np.array(tensors[f"layers.{i}.bias"]),
            output_activation if i == last else activation,
        )
        for i in range(len(sizes) - 1)
    ]
    problem = weights_problem(layers)
    if problem:
        raise ModelFileError(f"{path}: {problem}")
    net = Network.from_layers(layers, activation=activation, init=init)
    net.metadata = {key: value for key, value in document.items() if key not in _DERIVED_KEYS}
    return net


# Activations whose outputs lie in [-1, 1] whatever their inputs: the overflow bound restarts at 1.
_BOUNDED_ACTIVATIONS = {"sigmoid", "tanh", "softmax"}


def weights_problem(layers: list[Dense]) -> str | None:
    """What makes these layers unfit to save or load, if anything: NaN or infinite values, or
    values so large that an input in [0, 1] can overflow the forward pass (the module's bound)."""
    bound = 1.0  # |a| ≤ bound for the layer's input
    for index, layer in enumerate(layers):
        for name, array in (("weight", layer.weight), ("bias", layer.bias)):
            if not np.isfinite(array).all():
                return f"tensor layers.{index}.{name} holds NaN or infinite values"
        limit = float(np.finfo(layer.weight.dtype).max) / 4  # headroom for softmax's z − max(z)
        with np.errstate(over="ignore", invalid="ignore"):
            row_bounds = np.abs(layer.weight.astype(np.float64)).sum(axis=1) * bound
            z_bound = float((row_bounds + np.abs(layer.bias.astype(np.float64))).max(initial=0.0))
        if not z_bound <= limit:
            largest = max(float(np.abs(layer.weight).max(initial=0.0)), float(np.abs(layer.bias).max(initial=0.0)))
            return (
                f"layer {index}'s weights and biases (up to {largest:.3g} in size) can make its weighted "
                f"sums reach {z_bound:.3g}, beyond what {layer.weight.dtype.name} holds safely "
                f"({limit:.3g}): the network's answers would be infinite or NaN"
            )
        bound = 1.0 if layer.activation in _BOUNDED_ACTIVATIONS else z_bound
    return None


def _one_line(error: BaseException) -> str:
    return " ".join((str(error) or type(error).__name__).split())


def _class_names_problem(document: dict[str, Any], num_outputs: int) -> str | None:
    """What is wrong with the document's class_names (optional: one name per output), if anything."""
    names = document.get("class_names")
    if names is None:
        return None
    if not isinstance(names, list) or len(names) != num_outputs or not all(isinstance(n, str) for n in names):
        return f"class_names must be a list of {num_outputs} names, one per output; got {names!r}"
    return None


# Keys recomputed on every save rather than carried over from a loaded file.
_DERIVED_KEYS = {"format", "format_version", "digitnet_version", "architecture", "activations", "num_parameters"}
