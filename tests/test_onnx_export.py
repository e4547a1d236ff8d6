"""ONNX export: the graph passes onnx's checker and, run in onnxruntime on the whole MNIST test
set, gives what net.forward gives (max |difference| ≤ 1e-5) for every activation and output.

The networks are briefly trained on MNIST (so their weights are not just an init scheme's), and
one is float64. The metadata (classes, preprocessing, metrics, the model document) is read back.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import digitnet as dn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from digitnet.interop.onnx import DEFAULT_OPSET, onnx_metadata, save_onnx, to_onnx  # noqa: E402

TOLERANCE = 1e-5
# (hidden activation, output activation, loss, dtype)
MODELS = [
    ("sigmoid", "sigmoid", "quadratic", "float32"),
    ("relu", "softmax", "cross-entropy", "float32"),
    ("tanh", "identity", "quadratic", "float32"),
    ("leaky_relu", "softmax", "cross-entropy", "float32"),
    ("identity", "sigmoid", "binary-cross-entropy", "float32"),
    ("relu", "relu", "quadratic", "float32"),
    ("sigmoid", "softmax", "cross-entropy", "float64"),
]


@pytest.fixture(scope="module")
def mnist():
    return dn.datasets.load("mnist")


def trained(mnist, activation, output, loss, dtype) -> dn.Network:
    net = dn.Network([784, 24, 16, 10], activation=activation, output_activation=output, seed=1, dtype=dtype)
    learning_rate = 3.0 if loss == "quadratic" and activation == "sigmoid" else 0.05
    dn.train(net, mnist.x_train[:2000], mnist.y_train[:2000], epochs=2, batch_size=20,
             learning_rate=learning_rate, loss=loss, seed=0)
    net.metadata = {"metrics": {"test_accuracy": dn.evaluate(net, mnist.x_test, mnist.y_test)},
                    "dataset": "mnist", "class_names": list(mnist.class_names)}
    return net


def session(path_or_model) -> "ort.InferenceSession":
    source = path_or_model if isinstance(path_or_model, str) else path_or_model.SerializeToString()
    return ort.InferenceSession(source, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("activation, output, loss, dtype", MODELS, ids=[f"{a}-{o}-{d}" for a, o, _, d in MODELS])
def test_onnxruntime_matches_forward_on_the_mnist_test_set(mnist, tmp_path, activation, output, loss, dtype):
    net = trained(mnist, activation, output, loss, dtype)
    path = save_onnx(net, tmp_path / "model.onnx")
    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(str(path))
    assert model.opset_import[0].version >= 17

    ours = net.forward(mnist.x_test)  # (10000, 10)
    theirs = session(str(path)).run(None, {"input": mnist.x_test})[0]
    assert theirs.shape == (10_000, 10) and theirs.dtype == ours.dtype
    assert np.abs(theirs - ours).max() <= TOLERANCE
    one = session(str(path)).run(None, {"input": mnist.x_test[:1]})[0]  # the single-image path
    assert np.abs(one - net.forward(mnist.x_test[:1])).max() <= TOLERANCE


def test_the_graph_is_one_gemm_and_one_activation_per_layer(mnist):
    net = dn.Network([784, 16, 16, 10], activation="relu", output_activation="identity", seed=0)
    graph = to_onnx(net).graph
    assert [node.op_type for node in graph.node] == ["Gemm", "Relu", "Gemm", "Relu", "Gemm"]
    assert [i.name for i in graph.input] == ["input"] and [o.name for o in graph.output] == ["output"]
    shape = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert shape == ["N", 784]
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    assert weights["layers.0.weight"].shape == (16, 784)  # (n_out, n_in), as in the model file
    assert np.array_equal(weights["layers.2.bias"], net.layers[2].bias)


def test_leaky_relu_slope_and_softmax_axis_are_digitnets(mnist):
    # A wrong LeakyRelu alpha or Softmax axis would show on inputs with negative sums.
    net = dn.Network([784, 32, 10], activation="leaky_relu", output_activation="softmax", seed=3)
    for layer in net.layers:
        layer.bias -= 2.0  # most sums negative
    theirs = session(to_onnx(net)).run(None, {"input": mnist.x_test[:500]})[0]
    assert np.abs(theirs - net.forward(mnist.x_test[:500])).max() <= TOLERANCE


def test_metadata_carries_classes_preprocessing_and_metrics(mnist):
    net = dn.Network([784, 16, 10], seed=0)
    net.metadata = {"class_names": [f"c{j}" for j in range(10)], "metrics": {"test_accuracy": 0.5}, "dataset": "mnist"}
    model = to_onnx(net)
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["class_names"]) == [f"c{j}" for j in range(10)]
    assert json.loads(props["metrics"]) == {"test_accuracy": 0.5}
    assert json.loads(props["preprocessing"])["input_shape"] == [28, 28]
    document = json.loads(props["digitnet"])
    assert document["architecture"]["sizes"] == [784, 16, 10] and document["dataset"] == "mnist"
    assert props == onnx_metadata(net)
    assert model.producer_name == "digitnet"


def test_newer_opsets_work_too(mnist):
    net = dn.Network([784, 8, 10], activation="tanh", output_activation="softmax", seed=0)
    newest = min(onnx.defs.onnx_opset_version(), 21)
    model = to_onnx(net, opset=newest)
    assert model.opset_import[0].version == newest
    theirs = session(model).run(None, {"input": mnist.x_test[:100]})[0]
    assert np.abs(theirs - net.forward(mnist.x_test[:100])).max() <= TOLERANCE


def test_any_number_of_inputs():
    net = dn.Network([5, 7, 3], activation="relu", output_activation="softmax", seed=0)
    x = np.random.default_rng(0).random((9, 5), dtype=np.float32)
    theirs = session(to_onnx(net)).run(None, {"input": x})[0]
    assert theirs.shape == (9, 3)
    assert np.abs(theirs - net.forward(x)).max() <= TOLERANCE


@pytest.mark.parametrize("opset", [16, 0, "17", True, 10_000])
def test_bad_opset_is_refused(opset):
    with pytest.raises(ValueError, match="opset must be an integer from 17"):
        to_onnx(dn.Network([4, 2], seed=0), opset=opset)


def test_file_name_must_end_in_onnx(tmp_path):
    with pytest.raises(ValueError, match=r"must end in \.onnx; got"):
        save_onnx(dn.Network([4, 2], seed=0), tmp_path / "model.bin")
    assert not list(tmp_path.iterdir())


def test_missing_onnx_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(ImportError, match=r"digitnet\[onnx\]"):
        to_onnx(dn.Network([4, 2], seed=0))
