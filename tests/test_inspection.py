"""Tests for digitnet.inspection: the numbers behind every picture match the model.

Small random networks (784 inputs, so weight pictures are 28×28) keep every test fast; the
gradient to the input is checked against float64 central differences, as STYLE.md asks.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from digitnet import Network, inspection
from digitnet.inspection import metrics

RNG = np.random.default_rng(0)
X = RNG.uniform(0.0, 1.0, size=(40, 784)).astype(np.float32)  # (40, 784) noise "images"
Y = RNG.integers(0, 5, size=40)


@pytest.fixture
def net() -> Network:
    return Network([784, 8, 6, 5], activation="sigmoid", seed=1)


def networks() -> list[Network]:
    """One network per kind of layer the gradient and the ascent must handle."""
    return [
        Network([784, 8, 6, 5], activation="sigmoid", seed=1, dtype="float64"),
        Network([784, 8, 6, 5], activation="relu", output_activation="softmax", seed=2, dtype="float64"),
        Network([784, 8, 6, 5], activation="tanh", output_activation="identity", seed=3, dtype="float64"),
        Network([784, 8, 6, 5], activation="leaky_relu", output_activation="sigmoid", seed=4, dtype="float64"),
    ]


# --------------------------------------------------------------------------- weight pictures


def test_weight_image_is_the_reshaped_row(net):
    for j in range(8):
        picture = inspection.weight_image(net, j)
        assert picture.shape == (28, 28)
        np.testing.assert_array_equal(picture, net.layers[0].weight[j].reshape(28, 28))


def test_weight_image_is_a_copy(net):
    picture = inspection.weight_image(net, 0)
    picture[:] = 123.0
    assert not np.any(net.layers[0].weight[0] == 123.0)


@pytest.mark.parametrize("index", [-1, 8, 100, 1.5, True, "0"])
def test_weight_image_index_out_of_range(net, index):
    with pytest.raises(ValueError, match=r"index must be in 0\.\.7 for layer 0 \(8 neurons\)"):
        inspection.weight_image(net, index)


def test_weight_image_square_inputs_other_than_784():
    small = Network([16, 3, 2], seed=0)
    np.testing.assert_array_equal(inspection.weight_image(small, 2), small.layers[0].weight[2].reshape(4, 4))


def test_weight_image_non_square_inputs_raise():
    with pytest.raises(ValueError, match="10 inputs, which is not a square image"):
        inspection.weight_image(Network([10, 3, 2], seed=0), 0)


def test_neuron_picture_layer_0_is_the_weight_image(net):
    np.testing.assert_array_equal(inspection.neuron_picture(net, 0, 3), inspection.weight_image(net, 3))


@pytest.mark.parametrize("layer", [1, 2])
def test_weighted_picture_is_the_product_of_weight_matrices(net, layer):
    W = [d.weight.astype(np.float64) for d in net.layers]
    product = W[0]
    for matrix in W[1 : layer + 1]:
        product = matrix @ product  # W_L ⋯ W_1 W_0, (n_out of L, 784)
    for j in range(net.layers[layer].n_out):
        picture = inspection.neuron_picture(net, layer, j, method="weighted")
        np.testing.assert_allclose(picture, product[j].reshape(28, 28), rtol=1e-10, atol=1e-12)


def test_neuron_picture_maximize(net):
    picture = inspection.neuron_picture(net, 1, 2, method="maximize", steps=20)
    np.testing.assert_array_equal(picture.ravel(), inspection.maximize_activation(net, 1, 2, steps=20))


def test_neuron_picture_checks_its_arguments(net):
    with pytest.raises(ValueError, match="unknown method 'average'; expected one of weighted, maximize"):
        inspection.neuron_picture(net, 1, 0, method="average")
    with pytest.raises(ValueError, match=r"layer must be in 0\.\.2 \(this network has 3 weight layers"):
        inspection.neuron_picture(net, 3, 0)
    with pytest.raises(ValueError, match=r"index must be in 0\.\.4 for layer 2 \(5 neurons\); got 5"):
        inspection.neuron_picture(net, 2, 5)
    with pytest.raises(ValueError, match="method 'weighted' takes no options"):
        inspection.neuron_picture(net, 1, 0, steps=3)


# --------------------------------------------------------------------------- gradient to the input


def _neuron(net: Network, layer: int, index: int, x: np.ndarray, of: str) -> np.ndarray:
    """a or z of the neuron, computed plainly from net.activations."""
    if of == "activation":
        return net.activations(x)[layer + 1][:, index]
    A = net.activations(x)[layer]
    return A @ net.layers[layer].weight[index] + net.layers[layer].bias[index]


@pytest.mark.parametrize("model", range(4))
@pytest.mark.parametrize("of", ["activation", "z"])
def test_input_gradient_matches_finite_differences(model, of):
    net = networks()[model]
    x = np.random.default_rng(model).uniform(0.0, 1.0, size=(2, 784))  # (2, 784) float64
    for layer, index in [(0, 1), (1, 4), (2, 3)]:
        value, gradient = inspection.input_gradient(net, layer, index, x, of=of)
        np.testing.assert_allclose(value, _neuron(net, layer, index, x, of), rtol=1e-12)
        pixels = np.random.default_rng(layer).choice(784, size=12, replace=False)
        eps = 1e-5
        numeric = np.empty((2, len(pixels)))
        for k, i in enumerate(pixels):
            up, down = x.copy(), x.copy()
            up[:, i] += eps
            down[:, i] -= eps
            numeric[:, k] = (_neuron(net, layer, index, up, of) - _neuron(net, layer, index, down, of)) / (2 * eps)
        analytic = gradient[:, pixels]
        error = np.linalg.norm(analytic - numeric) / (np.linalg.norm(analytic) + np.linalg.norm(numeric) + 1e-300)
        assert error < 1e-6, (layer, index, error)


def test_input_gradient_rejects_unknown_of(net):
    with pytest.raises(ValueError, match="of must be 'activation' or 'z'"):
        inspection.input_gradient(net, 0, 0, X[:1], of="bias")


# --------------------------------------------------------------------------- activation maximisation


def _start(net: Network, seed: int) -> np.ndarray:
    """The documented starting point: faint noise in [0, 0.1) from the seed."""
    return np.random.default_rng(seed).uniform(0.0, 0.1, net.num_inputs)


@pytest.mark.parametrize("model", range(4))
@pytest.mark.parametrize("layer, index", [(0, 2), (1, 5), (2, 0), (2, 4)])
def test_maximize_activation_raises_the_neuron(model, layer, index):
    net = networks()[model]
    x = inspection.maximize_activation(net, layer, index, steps=60, seed=7)
    assert x.shape == (784,)
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert np.linalg.norm(x) <= inspection.DEFAULT_NORM + 1e-9
    before = _neuron(net, layer, index, _start(net, 7)[None, :], "activation")[0]
    after = _neuron(net, layer, index, x[None, :], "activation")[0]
    assert after > before
    if net.layers[layer].activation != "softmax":  # the ascent follows z: it rises too
        z_before = _neuron(net, layer, index, _start(net, 7)[None, :], "z")[0]
        assert _neuron(net, layer, index, x[None, :], "z")[0] > z_before


def test_maximize_activation_respects_the_norm_and_is_reproducible(net):
    x = inspection.maximize_activation(net, 0, 1, norm=3.0, steps=30)
    assert np.linalg.norm(x) <= 3.0 + 1e-9
    np.testing.assert_array_equal(x, inspection.maximize_activation(net, 0, 1, norm=3.0, steps=30))


def test_maximize_activation_of_a_layer_0_neuron_follows_its_weights(net):
    # z = w·x + b is linear: its maximum in the box and ball puts ink on positive weights only.
    x = inspection.maximize_activation(net, 0, 4, steps=200)
    w = net.layers[0].weight[4]
    assert x[w < 0].max() < 0.05
    assert x[w > 0].mean() > 0.2


@pytest.mark.parametrize(
    "option, value, message",
    [("steps", 0, "steps must be a positive integer"), ("step_size", -1.0, "step_size must be a positive number"),
     ("norm", float("nan"), "norm must be a positive number"), ("norm", 0, "norm must be a positive number")],
)
def test_maximize_activation_checks_its_options(net, option, value, message):
    with pytest.raises(ValueError, match=message):
        inspection.maximize_activation(net, 1, 0, **{option: value})


# --------------------------------------------------------------------------- activations


@pytest.mark.parametrize("shape", [(784,), (1, 784), (28, 28)])
def test_activation_trace_equals_net_activations(net, shape):
    trace = inspection.activation_trace(net, X[3].reshape(shape))
    expected = net.activations(X[3:4])
    assert [a.shape for a in trace] == [(784,), (8,), (6,), (5,)]
    for got, want in zip(trace, expected):
        np.testing.assert_array_equal(got, want[0])


@pytest.mark.parametrize("shape", [(2, 784), (783,), (1, 1, 784)])
def test_activation_trace_wants_one_example(net, shape):
    with pytest.raises(ValueError, match="x must be one example of 784 values"):
        inspection.activation_trace(net, np.zeros(shape, dtype=np.float32))


def test_layer_outputs_are_z_and_sigma_z(net):
    Z, A = inspection.layer_outputs(net, 1, X)
    A0 = net.activations(X)[1]
    np.testing.assert_allclose(Z, A0 @ net.layers[1].weight.T + net.layers[1].bias, rtol=1e-6)
    np.testing.assert_array_equal(A, net.activations(X)[2])


@pytest.mark.parametrize("layer, index", [(0, 0), (1, 3), (2, 4)])
def test_top_activating_are_the_largest_activations(net, layer, index):
    values = net.activations(X)[layer + 1][:, index]
    top = inspection.top_activating(net, layer, index, X, k=5)
    assert top.shape == (5,) and top.dtype == np.int64
    assert set(top) <= set(range(len(X)))
    np.testing.assert_array_equal(np.sort(values[top])[::-1], values[top])  # strongest first
    assert values[top].min() >= np.sort(values)[-5]


def test_top_activating_breaks_saturation_ties_with_z(net):
    saturated = net.copy()
    saturated.layers[0].bias[2] = 60.0  # σ(z) rounds to exactly 1.0 for every example
    assert np.all(saturated.activations(X)[1][:, 2] == 1.0)
    Z, _ = inspection.layer_outputs(saturated, 0, X)
    np.testing.assert_array_equal(inspection.top_activating(saturated, 0, 2, X, k=10), np.argsort(-Z[:, 2])[:10])


def test_top_activating_k(net):
    assert len(inspection.top_activating(net, 0, 0, X, k=1000)) == len(X)
    with pytest.raises(ValueError, match="k must be a positive integer; got 0"):
        inspection.top_activating(net, 0, 0, X, k=0)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 784\)"):
        inspection.top_activating(net, 0, 0, X[:, :100])


def test_strongest_connections_are_the_largest_weight_times_activation(net):
    x = X[5]
    a = net.activations(X[5:6])[1][0]  # what layer 1's connections carry
    connections = inspection.strongest_connections(net, x, 1, k=10)
    W = net.layers[1].weight
    contributions = [c["contribution"] for c in connections]
    assert np.all(np.diff(np.abs(contributions)) <= 0)
    for c in connections:
        assert c["weight"] == pytest.approx(float(W[c["target"], c["source"]]))
        assert c["contribution"] == pytest.approx(float(W[c["target"], c["source"]] * a[c["source"]]), rel=1e-6)
    assert abs(contributions[-1]) >= np.sort(np.abs(W * a).ravel())[-10] * (1 - 1e-6)


# --------------------------------------------------------------------------- diagnostics


def test_parameter_counts_of_the_video_network():
    counts = inspection.parameter_counts(Network([784, 16, 16, 10], seed=0))
    assert [(c["weights"], c["biases"]) for c in counts] == [(12544, 16), (256, 16), (160, 10)]
    assert [c["shape"] for c in counts] == [[16, 784], [16, 16], [10, 16]]
    assert sum(c["weights"] for c in counts) == 12960
    assert sum(c["biases"] for c in counts) == 42
    assert sum(c["total"] for c in counts) == 13002


def test_layer_statistics_match_the_arrays(net):
    stats = inspection.layer_statistics(net, X)
    activations = net.activations(X)
    assert [s["layer"] for s in stats] == [0, 1, 2]
    for number, (entry, dense) in enumerate(zip(stats, net.layers)):
        assert entry["weights"] == dense.weight.size and entry["biases"] == dense.bias.size
        assert entry["weight_mean"] == pytest.approx(float(dense.weight.mean()), rel=1e-5, abs=1e-7)
        assert entry["weight_std"] == pytest.approx(float(dense.weight.std()), rel=1e-5)
        assert entry["weight_min"] == float(dense.weight.min()) and entry["weight_max"] == float(dense.weight.max())
        assert entry["bias_min"] == float(dense.bias.min()) and entry["bias_max"] == float(dense.bias.max())
        assert entry["mean_abs_activation"] == pytest.approx(float(np.abs(activations[number + 1]).mean()), rel=1e-5)
        A = activations[number + 1]
        assert entry["saturated_fraction"] == pytest.approx(float(((A > 0.99) | (A < 0.01)).mean()))
        assert entry["dead_fraction"] is None and entry["dead_neurons"] is None  # not a ReLU layer


def test_layer_statistics_finds_dead_relu_and_saturated_sigmoid_neurons():
    net = Network([784, 6, 4, 3], activation="relu", output_activation="sigmoid", seed=0)
    net.layers[0].bias[:] = 100.0  # always active on inputs in [0, 1] ...
    net.layers[0].bias[[1, 4]] = -1000.0  # ... but these two, never
    net.layers[2].bias[0] = 50.0  # always ≈ 1
    stats = inspection.layer_statistics(net, X)
    assert stats[0]["dead_neurons"] == [1, 4]
    assert stats[0]["dead_fraction"] == pytest.approx(2 / 6)
    assert stats[0]["saturated_fraction"] is None
    assert stats[2]["dead_fraction"] is None
    assert stats[2]["saturated_fraction"] >= 1 / 3


def test_layer_statistics_tanh_saturation():
    net = Network([784, 4, 2], activation="tanh", seed=0)
    net.layers[0].bias[:] = [-50.0, 50.0, 0.0, 0.0]
    A = net.activations(X)[1]
    stats = inspection.layer_statistics(net, X)
    assert stats[0]["saturated_fraction"] == pytest.approx(float((np.abs(A) > 0.99).mean()))
    assert stats[0]["saturated_fraction"] >= 0.5


def test_layer_statistics_without_data(net):
    for entry in inspection.layer_statistics(net):
        assert entry["mean_abs_activation"] is None and entry["saturated_fraction"] is None
        assert entry["weight_std"] > 0


def test_confusion_matrix_reuses_metrics(net):
    confusion = inspection.confusion_matrix(net, X, Y)
    np.testing.assert_array_equal(confusion, metrics.confusion_matrix(Y, net.predict(X), 5))
    assert confusion.sum() == len(X)


def test_confident_mistakes(net):
    outputs = net.forward(X)
    mistakes = inspection.confident_mistakes(net, X, Y, k=10)
    wrong = np.flatnonzero(outputs.argmax(axis=1) != Y)
    assert len(mistakes) == min(10, len(wrong))
    confidences = [m[3] for m in mistakes]
    assert confidences == sorted(confidences, reverse=True)
    for index, true, predicted, confidence in mistakes:
        assert true == Y[index] and predicted == outputs[index].argmax() and predicted != true
        assert confidence == pytest.approx(float(outputs[index, predicted]))
    # The most confident mistake overall comes first.
    assert mistakes[0][3] == pytest.approx(float(outputs[wrong].max()))


def test_confident_mistakes_none_when_all_right(net):
    assert inspection.confident_mistakes(net, X, net.predict(X)) == []


@pytest.mark.parametrize(
    "labels, message",
    [(Y[:5], r"y must be 40 labels, one per row of x"), (Y.astype(float), "y must hold integer labels"),
     (Y + 5, r"y labels must be in 0\.\.4")],
)
def test_label_checks(net, labels, message):
    with pytest.raises(ValueError, match=message):
        inspection.confident_mistakes(net, X, labels)
    with pytest.raises(ValueError, match=message):
        inspection.confusion_matrix(net, X, labels)


def test_functions_do_not_modify_the_network(net):
    before = [array.copy() for array in net.parameters()]
    inspection.maximize_activation(net, 2, 1, steps=10)
    inspection.layer_statistics(net, X)
    inspection.neuron_picture(net, 2, 1)
    for old, new in zip(before, net.parameters()):
        np.testing.assert_array_equal(old, new)


# --------------------------------------------------------------------------- the package


def test_the_documented_names_are_one_package_that_draws_nothing():
    # The README's digitnet.inspection.X names all come from the numbers modules of one folder,
    # and importing them pulls in no matplotlib (NumPy only; the pictures are inspection.plots).
    code = (
        "import json, sys, digitnet.inspection as i\n"
        "names = ['weight_image', 'neuron_picture', 'maximize_activation', 'activation_trace', 'top_activating',\n"
        "         'layer_statistics', 'confident_mistakes', 'parameter_counts', 'confusion_matrix',\n"
        "         'input_gradient', 'layer_outputs', 'strongest_connections', 'check_layer', 'check_neuron']\n"
        "print(json.dumps(sorted({getattr(i, n).__module__ for n in names})))\n"
        "print('matplotlib' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    modules, matplotlib_loaded = result.stdout.split("\n")[:2]
    expected = ["activations", "diagnostics", "mistakes", "neurons", "numbering"]
    assert json.loads(modules) == [f"digitnet.inspection.{name}" for name in expected]
    assert matplotlib_loaded == "False"
