"""ONNX export: the network as an ONNX graph that computes exactly net.forward.

Each dense layer a' = σ(W a + b) becomes two ONNX nodes, batched like digitnet's forward pass:
    Z = Gemm(A, W, b, transB=1)          # A @ Wᵀ + b: (N, n_in) -> (N, n_out)
    A' = σ(Z)                            # Sigmoid, Relu, LeakyRelu(α = 0.01), Tanh, Softmax(axis=-1);
                                         # no node for identity
Weights keep their shapes and names from the model file: layers.{i}.weight (n_out, n_in),
layers.{i}.bias (n_out,).

Graph interface (the same for every model):
    input  "input"  float32 (N, n_inputs)   — N free
    output "output" (N, n_outputs)          — net.forward(input): float32, or float64 for a
                                              float64 network (which casts its input, as forward does)
Model metadata (ModelProto.metadata_props, every value a JSON string):
    digitnet       the whole model-file document (architecture, training, metrics, ...)
    class_names    one name per output, e.g. ["0", ..., "9"]
    preprocessing  what the input must be (28×28 row-major, ink 1.0 on 0.0, ...)
    metrics        what training measured (test_accuracy, ...)

Built with the onnx package's helper API (onnx.helper), opset 17 by default; `onnx` is an
optional dependency (pip install 'digitnet[onnx]').
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from digitnet.files import atomic_path
from digitnet._version import __version__
from digitnet.activations import LEAKY_SLOPE
from digitnet.network import Network

if TYPE_CHECKING:  # pragma: no cover
    import onnx

INSTALL_HINT = "ONNX export needs the onnx package: install digitnet[onnx] (pip install 'digitnet[onnx]')"
DEFAULT_OPSET = 17
# IR version 8 is the one that introduced opset 17 (onnx 1.12): the oldest that can carry it, so
# the file loads in older runtimes too.
IR_VERSION = 8
INPUT_NAME = "input"
OUTPUT_NAME = "output"

# digitnet activation -> (ONNX operator, its attributes); identity needs no node at all.
OPERATORS: dict[str, tuple[str, dict[str, Any]] | None] = {
    "sigmoid": ("Sigmoid", {}),
    "relu": ("Relu", {}),
    "leaky_relu": ("LeakyRelu", {"alpha": LEAKY_SLOPE}),
    "tanh": ("Tanh", {}),
    "softmax": ("Softmax", {"axis": -1}),
    "identity": None,
}


def require_onnx():
    """The onnx module, or ImportError with the install hint."""
    try:
        import onnx
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return onnx


def to_onnx(net: Network, opset: int = DEFAULT_OPSET) -> "onnx.ModelProto":
    """The ONNX model of net: input (N, n_inputs) float32 -> output net.forward(input).

    Checked with onnx.checker before it is returned. opset: 17 or newer.
    """
    onnx = require_onnx()
    from onnx import TensorProto, helper, numpy_helper

    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not DEFAULT_OPSET <= opset <= newest:
        raise ValueError(
            f"opset must be an integer from {DEFAULT_OPSET} to {newest} "
            f"(this onnx package's newest); got {opset!r}"
        )
    element = TensorProto.FLOAT if net.dtype == np.float32 else TensorProto.DOUBLE
    nodes, initializers = [], []
    current = INPUT_NAME
    if element != TensorProto.FLOAT:  # a float64 network computes in float64, like forward's cast
        nodes.append(helper.make_node("Cast", [current], ["input_float64"], to=element, name="cast_input"))
        current = "input_float64"
    last = len(net.layers) - 1
    for index, layer in enumerate(net.layers):
        weight, bias = f"layers.{index}.weight", f"layers.{index}.bias"
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(layer.weight), weight))  # (n_out, n_in)
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(layer.bias), bias))  # (n_out,)
        operator = OPERATORS[layer.activation]
        z = OUTPUT_NAME if index == last and operator is None else f"layers.{index}.z"
        nodes.append(helper.make_node("Gemm", [current, weight, bias], [z], transB=1, name=f"layers.{index}.gemm"))
        current = z
        if operator is not None:
            name, attributes = operator
            a = OUTPUT_NAME if index == last else f"layers.{index}.a"
            nodes.append(helper.make_node(name, [z], [a], name=f"layers.{index}.{layer.activation}", **attributes))
            current = a
    graph = helper.make_graph(
        nodes,
        "digitnet",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", net.num_inputs])],
        [helper.make_tensor_value_info(OUTPUT_NAME, element, ["N", net.num_outputs])],
        initializer=initializers,
        doc_string=_describe(net),
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        ir_version=IR_VERSION,
        producer_name="digitnet",
        producer_version=__version__,
        doc_string=_describe(net),
    )
    helper.set_model_props(model, onnx_metadata(net))
    onnx.checker.check_model(model, full_check=True)
    return model


def onnx_metadata(net: Network) -> dict[str, str]:
    """The metadata_props of the exported model: JSON strings (see the module docstring)."""
    from digitnet.modelfile import model_document

    document = model_document(net)
    class_names = document.get("class_names") or [str(j) for j in range(net.num_outputs)]
    return {
        "digitnet": json.dumps(document),
        "class_names": json.dumps(class_names),
        "preprocessing": json.dumps(document.get("preprocessing")),
        "metrics": json.dumps(document.get("metrics") or {}),
    }


def save_onnx(net: Network, path: str | os.PathLike, opset: int = DEFAULT_OPSET) -> Path:
    """Write net as an .onnx file, atomically. Returns the path."""
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise ValueError(f"ONNX file name must end in .onnx; got {str(path)!r}")
    model = to_onnx(net, opset)
    data = model.SerializeToString()
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return path


def _describe(net: Network) -> str:
    sizes = "-".join(str(size) for size in net.sizes)
    return (f"digitnet {sizes} network ({net.activation} hidden, {net.output_activation} output, "
            f"{net.num_parameters:,} parameters): output = net.forward(input)")
