"""digitnet.inspection.backprop: one example's cost, nudges, wishes and gradients.

Checked three independent ways: against net.gradients (the batch backpropagation every engine is
tested against), against float64 central differences of the cost (for the activation gradients,
which net.gradients does not return), and against PyTorch's autograd when it is installed.
"""

from __future__ import annotations

import numpy as np
import pytest

from digitnet import inspection
from digitnet.inspection.backprop import DEFAULT_STEP
from digitnet.network import Network

RELATIVE = 1e-4  # float32 acceptance: ‖ours − reference‖ / ‖reference‖

# (hidden activation, output activation, loss)
SETTINGS = [
    ("sigmoid", "sigmoid", "quadratic"),
    ("relu", "softmax", "cross-entropy"),
    ("tanh", "sigmoid", "binary-cross-entropy"),
    ("relu", "identity", "quadratic"),
]


def relative_error(ours, reference) -> float:
    ours, reference = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
    return float(np.linalg.norm(ours - reference) / max(np.linalg.norm(reference), 1e-30))


def example(net: Network, seed: int) -> tuple[np.ndarray, int]:
    rng = np.random.default_rng(seed)
    x = rng.random(net.num_inputs).astype(net.dtype)
    x[x < 0.6] = 0  # mostly background, like a digit
    return x, int(rng.integers(net.num_outputs))


@pytest.mark.parametrize("activation, output, loss", SETTINGS)
@pytest.mark.parametrize("seed", [0, 1])
def test_gradients_are_those_of_net_gradients(activation, output, loss, seed):
    net = Network([784, 16, 16, 10], activation=activation, output_activation=output, seed=seed)
    x, label = example(net, seed)
    result = inspection.backprop(net, x, label, loss)
    expected = net.gradients(x[None], [label], loss)
    assert len(result["layers"]) == len(expected) == 3
    for layer, (dW, db), dense in zip(result["layers"], expected, net.layers):
        assert layer["weight_gradient"].shape == dense.weight.shape
        assert layer["bias_gradient"].shape == layer["activation_gradient"].shape == (dense.n_out,)
        assert relative_error(layer["weight_gradient"], dW) < RELATIVE
        assert relative_error(layer["bias_gradient"], db) < RELATIVE
        assert np.abs(layer["weight_gradient"]).sum() > 0  # not trivially zero
    assert result["cost"] == pytest.approx(net.loss(x[None], [label], loss), rel=1e-6)
    assert result["label"] == label and result["loss"] == loss
    np.testing.assert_allclose(result["activations"][-1], net.forward(x[None])[0], rtol=1e-6)


def cost_of_output(net: Network, A: np.ndarray, label: int, loss: str) -> float:
    from digitnet.losses import get_loss

    Y = np.zeros((1, net.num_outputs))
    Y[0, label] = 1
    return get_loss(loss).function(A[None], Y)


def cost_from_layer(net: Network, layer: int, a: np.ndarray, label: int, loss: str) -> float:
    """C as a function of layer `layer`'s output activations a (the rest of the network after it)."""
    A = a[None]
    for dense in net.layers[layer + 1 :]:
        A = dense.forward(A)
    return cost_of_output(net, A[0], label, loss)


@pytest.mark.parametrize("activation, output, loss", SETTINGS)
def test_activation_gradients_and_nudges_match_central_differences(activation, output, loss):
    net = Network([20, 7, 5, 4], activation=activation, output_activation=output, seed=3, dtype="float64")
    x, label = example(net, 3)
    result = inspection.backprop(net, x, label, loss)
    eps = 1e-5
    for layer, a in enumerate(result["activations"]):
        numeric = np.zeros_like(a)
        for i in range(len(a)):
            up, down = a.copy(), a.copy()
            up[i] += eps
            down[i] -= eps
            numeric[i] = (cost_from_layer(net, layer, up, label, loss) - cost_from_layer(net, layer, down, label, loss)) / (2 * eps)
        assert relative_error(result["layers"][layer]["activation_gradient"], numeric) < 1e-6, layer
    np.testing.assert_array_equal(result["output_nudges"], -result["layers"][-1]["activation_gradient"])


def test_the_wishes_sum_to_the_activation_gradient_of_the_layer_before():
    net = Network([784, 16, 16, 10], seed=5)
    x, label = example(net, 5)
    result = inspection.backprop(net, x, label)
    for layer in (1, 2):
        W = inspection.wishes(net, result, layer)
        assert W.shape == net.layers[layer].weight.shape
        np.testing.assert_allclose(W.sum(axis=0), -result["layers"][layer - 1]["activation_gradient"], rtol=1e-4, atol=1e-9)
    # Layer 0's wishes are for the pixels: −∂C/∂x, checked by central differences in float64.
    net64 = Network([30, 6, 3], seed=6, dtype="float64")
    x64, label64 = example(net64, 6)
    wish = inspection.wishes(net64, inspection.backprop(net64, x64, label64), 0).sum(axis=0)
    eps = 1e-6
    numeric = np.array([
        (net64.loss((x64 + eps * e)[None], [label64]) - net64.loss((x64 - eps * e)[None], [label64])) / (2 * eps)
        for e in np.eye(30)
    ])
    assert relative_error(wish, -numeric) < 1e-6


def test_quadratic_nudges_are_up_for_the_label_and_down_for_the_rest():
    net = Network([784, 16, 16, 10], seed=2)  # sigmoid outputs, quadratic cost: nudge = e_y − a
    x, label = example(net, 2)
    result = inspection.backprop(net, x, label)
    target = np.eye(10)[label]
    np.testing.assert_allclose(result["output_nudges"], target - result["activations"][-1], rtol=1e-6)
    assert result["output_nudges"][label] > 0
    assert (np.delete(result["output_nudges"], label) < 0).all()


def test_most_nudged_and_the_weight_change_picture():
    net = Network([784, 16, 16, 10], seed=4)
    x, label = example(net, 4)
    result = inspection.backprop(net, x, label)
    top = inspection.most_nudged(result, 0, 4)
    magnitudes = np.abs(result["layers"][0]["activation_gradient"])
    assert list(top) == list(np.argsort(-magnitudes, kind="stable")[:4])
    assert magnitudes[top[0]] == magnitudes.max()
    picture = inspection.weight_change_image(net, result, int(top[0]))
    assert picture.shape == (28, 28)
    # One example's weight change is the digit scaled by −∂C/∂z_j: zero off the ink.
    dZ = result["layers"][0]["bias_gradient"][top[0]]
    np.testing.assert_allclose(picture, (-dZ * x).reshape(28, 28), rtol=1e-5, atol=1e-12)
    assert (picture.ravel()[x == 0] == 0).all()


def test_default_loss_is_the_training_loss_else_by_output():
    sigmoid = Network([784, 16, 10], seed=0)
    softmax = Network([784, 16, 10], activation="relu", output_activation="softmax", seed=0)
    assert inspection.default_loss(sigmoid) == "quadratic"
    assert inspection.default_loss(softmax) == "cross-entropy"
    sigmoid.metadata = {"training": {"loss": "binary-cross-entropy"}}
    assert inspection.default_loss(sigmoid) == "binary-cross-entropy"
    x, label = example(sigmoid, 0)
    assert inspection.backprop(sigmoid, x, label)["loss"] == "binary-cross-entropy"
    assert inspection.backprop(softmax, x, label)["loss"] == "cross-entropy"


def test_a_gradient_step_is_w_minus_eta_g_on_a_copy():
    net = Network([784, 16, 16, 10], seed=7, dtype="float64")
    x, label = example(net, 7)
    before = [p.copy() for p in net.parameters()]
    step = inspection.gradient_step(net, x, label, learning_rate=0.5)
    for p, kept in zip(net.parameters(), before):
        np.testing.assert_array_equal(p, kept)  # the network passed in never changes
    grads = [g for pair in net.gradients(x[None], [label]) for g in pair]
    for p, g, q in zip(net.parameters(), grads, step["network"].parameters()):
        np.testing.assert_allclose(q, p - 0.5 * g, rtol=1e-12, atol=1e-15)
    assert step["cost_after"] < step["cost_before"]
    assert step["output_after"][label] > step["output_before"][label]
    assert step["cost_before"] == pytest.approx(net.loss(x[None], [label]))
    three = inspection.gradient_step(net, x, label, learning_rate=0.5, steps=3)
    assert three["cost_after"] < step["cost_after"]
    # Default η: the model's own SGD rate, else the video's 3.0.
    assert step["learning_rate"] == 0.5
    assert inspection.gradient_step(net, x, label)["learning_rate"] == DEFAULT_STEP
    net.metadata = {"training": {"optimizer": "sgd", "learning_rate": 0.25}}
    assert inspection.gradient_step(net, x, label)["learning_rate"] == 0.25


@pytest.mark.parametrize("call, message", [
    (lambda net, x: inspection.backprop(net, x, 10), r"label must be an integer in 0\.\.9"),
    (lambda net, x: inspection.backprop(net, x, True), r"label must be an integer"),
    (lambda net, x: inspection.backprop(net, x[:100], 1), r"x must be one example of 784 values"),
    (lambda net, x: inspection.backprop(net, x, 1, "hinge"), r"unknown loss|loss must be one of|hinge"),
    (lambda net, x: inspection.backprop(net, x, 1, "cross-entropy"), r"needs a softmax output"),
    (lambda net, x: inspection.gradient_step(net, x, 1, learning_rate=0), r"learning_rate"),
    (lambda net, x: inspection.gradient_step(net, x, 1, steps=10_000), r"steps must be at most"),
    (lambda net, x: inspection.weight_change_image(net, inspection.backprop(net, x, 1), 16), r"index must be in 0\.\.15"),
])
def test_bad_input_gets_one_clear_error(call, message):
    net = Network([784, 16, 16, 10], seed=0)
    x, _ = example(net, 0)
    with pytest.raises(ValueError, match=message):
        call(net, x)


def test_agrees_with_torch_autograd_including_hidden_activations():
    torch = pytest.importorskip("torch")
    net = Network([784, 16, 16, 10], seed=8)
    x, label = example(net, 8)
    result = inspection.backprop(net, x, label)
    params = [torch.tensor(p.copy(), requires_grad=True) for p in net.parameters()]
    A = torch.tensor(x[None])
    hidden = []
    for W, b in zip(params[::2], params[1::2]):
        A = torch.sigmoid(A @ W.T + b)
        A.retain_grad()
        hidden.append(A)
    target = torch.zeros(1, 10)
    target[0, label] = 1
    cost = 0.5 * ((A - target) ** 2).sum()
    cost.backward()
    assert result["cost"] == pytest.approx(cost.item(), rel=1e-5)
    for layer, (W, b), a in zip(result["layers"], zip(params[::2], params[1::2]), hidden):
        assert relative_error(layer["weight_gradient"], W.grad.numpy()) < RELATIVE
        assert relative_error(layer["bias_gradient"], b.grad.numpy()) < RELATIVE
        assert relative_error(layer["activation_gradient"], a.grad.numpy()[0]) < RELATIVE
