"""Backpropagation against central finite differences, in float64.

For every hidden activation × (output activation, loss) pair that makes sense × 3 seeds, on a
tiny network, the analytic gradient g of every weight and bias is compared with
ĝ = (C(θ + ε) − C(θ − ε)) / 2ε, ε = 1e-5, by the norm-relative error
‖g − ĝ‖ / (‖g‖ + ‖ĝ‖) < 1e-6 over all parameters at once.

ReLU kinks: inputs and weights are redrawn until no ReLU/leaky-ReLU pre-activation is within
1e-3 of 0, so a ±ε step never crosses a kink. The worst error per combination is kept in
WORST_ERRORS and printed at the end of the module (pytest -s).
"""

from __future__ import annotations

import numpy as np
import pytest

import digitnet as dn
from digitnet import backprop
from digitnet.losses import LOSSES

EPSILON = 1e-5
TOLERANCE = 1e-6
KINK_MARGIN = 1e-3
SIZES = [5, 4, 3, 3]
N_EXAMPLES = 6
SEEDS = [0, 1, 2]

HIDDEN = ["sigmoid", "relu", "leaky_relu", "tanh", "identity"]
OUTPUT_LOSS = [
    *[(output, "quadratic") for output in ["sigmoid", "relu", "leaky_relu", "tanh", "identity", "softmax"]],
    ("softmax", "cross-entropy"),
    ("sigmoid", "binary-cross-entropy"),
]
KINKED = {"relu", "leaky_relu"}

WORST_ERRORS: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def report_worst_errors():
    yield
    if WORST_ERRORS:
        print("\nworst gradient-check relative error per combination:")
        for key, error in sorted(WORST_ERRORS.items()):
            print(f"  {key:55s} {error:.3e}")
        print(f"  {'overall':55s} {max(WORST_ERRORS.values()):.3e}")


def record(key: str, error: float) -> None:
    WORST_ERRORS[key] = max(error, WORST_ERRORS.get(key, 0.0))


def relative_error(g: np.ndarray, g_hat: np.ndarray) -> float:
    denominator = np.linalg.norm(g) + np.linalg.norm(g_hat)
    assert denominator > 0, "degenerate check: every gradient is zero"
    return float(np.linalg.norm(g - g_hat) / denominator)


def flatten(grads) -> np.ndarray:
    return np.concatenate([array.ravel() for pair in grads for array in pair])


def numerical_gradient(cost, params: list[np.ndarray]) -> np.ndarray:
    """Central differences of cost() with respect to every entry of every array in params."""
    estimates = []
    for p in params:
        estimate = np.zeros_like(p)
        for index in np.ndindex(p.shape):
            saved = p[index]
            p[index] = saved + EPSILON
            plus = cost()
            p[index] = saved - EPSILON
            minus = cost()
            p[index] = saved
            estimate[index] = (plus - minus) / (2 * EPSILON)
        estimates.append(estimate)
    return np.concatenate([e.ravel() for e in estimates])


def pre_activations(net, X, masks=None) -> list[np.ndarray]:
    """Z of every layer, computed here from the weights (dropout masks applied to inputs)."""
    Zs, A = [], X
    for index, layer in enumerate(net.layers):
        Z = A @ layer.weight.T + layer.bias
        Zs.append(Z)
        A = layer.activation_function.function(Z)
        if masks is not None and masks[index] is not None:
            A = A * masks[index]
    return Zs


def far_from_kinks(net, X, masks=None) -> bool:
    return all(
        np.abs(Z).min() > KINK_MARGIN
        for Z, layer in zip(pre_activations(net, X, masks), net.layers)
        if layer.activation in KINKED
    )


def targets_for(loss: str, rng: np.random.Generator, n: int, k: int):
    if loss == "cross-entropy":
        return rng.integers(0, k, size=n)  # labels, one-hot inside
    return rng.uniform(0, 1, size=(n, k))  # soft targets (also valid for binary cross-entropy)


def tiny_problem(hidden, output, loss, seed):
    """A float64 network and batch with no ReLU pre-activation near its kink."""
    rng = np.random.default_rng(seed)
    for _ in range(200):
        net = dn.Network(SIZES, activation=hidden, output_activation=output, seed=rng, dtype="float64")
        for layer in net.layers:  # non-zero biases, so they are tested too
            layer.bias += rng.normal(scale=0.3, size=layer.bias.shape)
        X = rng.normal(size=(N_EXAMPLES, SIZES[0]))
        if far_from_kinks(net, X):
            return net, X, targets_for(loss, rng, N_EXAMPLES, SIZES[-1])
    raise AssertionError("could not draw a batch away from the ReLU kinks")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("output, loss", OUTPUT_LOSS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_backprop_matches_finite_differences(hidden, output, loss, seed):
    net, X, Y = tiny_problem(hidden, output, loss, seed)
    analytic = flatten(net.gradients(X, Y, loss=loss))
    numeric = numerical_gradient(lambda: net.loss(X, Y, loss=loss), net.parameters())
    error = relative_error(analytic, numeric)
    record(f"{hidden} -> {output} / {loss}", error)
    assert error < TOLERANCE, f"relative error {error:.2e}"


@pytest.mark.parametrize("targets", ["distributions", "unnormalised", "zero-row"])
@pytest.mark.parametrize("hidden", ["tanh", "relu"])
def test_softmax_cross_entropy_with_soft_targets(hidden, targets):
    # The fused gradient must be the gradient of the cost for any targets check_targets
    # accepts, not only for one-hot labels.
    net, X, _ = tiny_problem(hidden, "softmax", "cross-entropy", 5)
    rng = np.random.default_rng(6)
    Y = {
        "distributions": rng.dirichlet(np.ones(SIZES[-1]), size=N_EXAMPLES),
        "unnormalised": rng.uniform(0, 2, size=(N_EXAMPLES, SIZES[-1])),
        "zero-row": np.vstack([np.eye(SIZES[-1])[[0, 1, 2, 0, 1]], np.zeros((1, SIZES[-1]))]),
    }[targets]
    analytic = flatten(net.gradients(X, Y, loss="cross-entropy"))
    numeric = numerical_gradient(lambda: net.loss(X, Y, loss="cross-entropy"), net.parameters())
    error = relative_error(analytic, numeric)
    record(f"{hidden} -> softmax / cross-entropy, {targets} targets", error)
    assert error < TOLERANCE, f"relative error {error:.2e}"


def masked_loss(net, X, Y, masks, loss):
    """The cost of the network with fixed dropout masks on the hidden layers, computed here."""
    A = X
    for layer, mask in zip(net.layers, masks):
        A = layer.activation_function.function(A @ layer.weight.T + layer.bias)
        if mask is not None:
            A = A * mask
    return LOSSES[loss].function(A, net.check_targets(Y, len(X)))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("output, loss", [("sigmoid", "quadratic"), ("softmax", "cross-entropy"), ("identity", "quadratic")])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_dropout_backprop_matches_finite_differences(hidden, output, loss, seed):
    # The trainer's path: masks (already scaled by 1/keep) on the hidden layers' outputs,
    # activations stored undropped, digitnet.backprop.backward(layers, activations, dZ, masks).
    rng = np.random.default_rng(100 + seed)
    keep = 0.6
    for _ in range(200):
        net, X, Y = tiny_problem(hidden, output, loss, int(rng.integers(2**32)))
        masks = [(rng.random((N_EXAMPLES, size)) < keep) / keep for size in SIZES[1:-1]] + [None]
        if far_from_kinks(net, X, masks) and all(m.any() for m in masks[:-1]):
            break
    activations, A = [X], X
    for layer, mask in zip(net.layers, masks):
        A_out = layer.activation_function.function(A @ layer.weight.T + layer.bias)
        activations.append(A_out)
        A = A_out if mask is None else A_out * mask
    cost = LOSSES[loss]
    dZ = backprop.output_delta(cost, net.output_activation, activations[-1], net.check_targets(Y, N_EXAMPLES))
    analytic = flatten(backprop.backward(net.layers, activations, dZ, masks))
    numeric = numerical_gradient(lambda: masked_loss(net, X, Y, masks, loss), net.parameters())
    error = relative_error(analytic, numeric)
    record(f"dropout {hidden} -> {output} / {loss}", error)
    assert error < TOLERANCE, f"relative error {error:.2e}"


@pytest.mark.parametrize("hidden, output, loss", [
    ("sigmoid", "sigmoid", "quadratic"),
    ("relu", "softmax", "cross-entropy"),
    ("tanh", "sigmoid", "binary-cross-entropy"),
])
def test_float32_gradients_agree_with_float64(hidden, output, loss):
    net64, X, Y = tiny_problem(hidden, output, loss, 0)
    net32 = dn.Network(SIZES, activation=hidden, output_activation=output, dtype="float32")
    for layer32, layer64 in zip(net32.layers, net64.layers):
        layer32.weight[...] = layer64.weight
        layer32.bias[...] = layer64.bias
    g64 = flatten(net64.gradients(X, Y, loss=loss))
    g32 = flatten(net32.gradients(X, Y, loss=loss))
    assert g32.dtype == np.float32
    assert relative_error(g64, g32.astype(np.float64)) < 1e-6
