"""Cost functions: values by hand, gradients by finite differences, fused forms, saturation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from digitnet.activations import sigmoid, sigmoid_derivative, softmax, softmax_backward
from digitnet.losses import (
    LOSSES,
    binary_cross_entropy,
    binary_cross_entropy_gradient,
    cross_entropy,
    cross_entropy_gradient,
    get_loss,
    output_delta_rule,
    quadratic,
    quadratic_gradient,
)


def fused_gradient(A, Y, output="softmax"):
    """∂C/∂Z for the batch mean by the engines' one output-delta rule."""
    loss = LOSSES["cross-entropy" if output == "softmax" else "binary-cross-entropy"]
    return output_delta_rule(loss, output)(A, Y, np.empty_like(A), np.empty_like(A)) / len(A)


def test_table_holds_every_loss():
    assert set(LOSSES) == {"quadratic", "cross-entropy", "binary-cross-entropy"}


def test_quadratic_by_hand():
    A = np.array([[0.5, 0.5], [1.0, 0.0]])
    Y = np.array([[1.0, 0.0], [0.0, 0.0]])
    # example 1: ½(0.25 + 0.25) = 0.25; example 2: ½(1) = 0.5; mean 0.375
    assert quadratic(A, Y) == pytest.approx(0.375, rel=1e-15)
    np.testing.assert_allclose(quadratic_gradient(A, Y), (A - Y) / 2)


def test_cross_entropy_by_hand():
    P = np.array([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]])
    Y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert cross_entropy(P, Y) == pytest.approx(-(np.log(0.7) + np.log(0.5)) / 2, rel=1e-15)


def test_binary_cross_entropy_by_hand():
    A = np.array([[0.9, 0.2], [0.6, 0.5]])
    Y = np.array([[1.0, 0.0], [0.0, 0.5]])
    expected = -(np.log(0.9) + np.log(0.8) + np.log(0.4) + 0.5 * np.log(0.5) + 0.5 * np.log(0.5)) / 2
    assert binary_cross_entropy(A, Y) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize(
    "function, gradient, low",
    [
        (quadratic, quadratic_gradient, -2.0),
        (cross_entropy, cross_entropy_gradient, 0.05),
        (binary_cross_entropy, binary_cross_entropy_gradient, 0.05),
    ],
    ids=["quadratic", "cross-entropy", "binary-cross-entropy"],
)
def test_gradient_wrt_output_matches_central_differences(function, gradient, low):
    rng = np.random.default_rng(3)
    A = rng.uniform(low, 0.95, size=(4, 3))
    Y = rng.uniform(0, 1, size=(4, 3))
    h = 1e-6
    numeric = np.zeros_like(A)
    for index in np.ndindex(A.shape):
        plus, minus = A.copy(), A.copy()
        plus[index] += h
        minus[index] -= h
        numeric[index] = (function(plus, Y) - function(minus, Y)) / (2 * h)
    np.testing.assert_allclose(gradient(A, Y), numeric, rtol=1e-6, atol=1e-9)


def test_fused_softmax_cross_entropy_is_the_chain_rule():
    rng = np.random.default_rng(4)
    P = softmax(rng.normal(size=(5, 4)))
    Y = np.eye(4)[rng.integers(0, 4, 5)]
    chain = softmax_backward(cross_entropy_gradient(P, Y), P)
    np.testing.assert_allclose(fused_gradient(P, Y), chain, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(fused_gradient(P, Y), (P - Y) / 5)


def test_fused_sigmoid_binary_cross_entropy_is_the_chain_rule():
    rng = np.random.default_rng(5)
    A = sigmoid(rng.normal(size=(5, 4)))
    Y = rng.uniform(0, 1, size=(5, 4))
    chain = binary_cross_entropy_gradient(A, Y) * sigmoid_derivative(A)
    np.testing.assert_allclose(fused_gradient(A, Y, "sigmoid"), chain, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", list(LOSSES))
def test_losses_do_not_modify_their_arguments(name):
    A = np.array([[0.2, 0.8], [0.6, 0.4]])
    Y = np.array([[0.0, 1.0], [1.0, 0.0]])
    A0, Y0 = A.copy(), Y.copy()
    LOSSES[name].function(A, Y)
    LOSSES[name].gradient(A, Y)
    np.testing.assert_array_equal(A, A0)
    np.testing.assert_array_equal(Y, Y0)


saturated = hnp.arrays(
    st.sampled_from([np.float32, np.float64]),
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
    elements=st.sampled_from([0.0, 1.0]),
)


@given(saturated, st.data())
@pytest.mark.parametrize("name", list(LOSSES))
def test_losses_finite_for_saturated_outputs(name, A, data):
    # A exactly 0 or 1 (a saturated sigmoid or a one-hot softmax), targets also 0/1:
    # a confident mistake costs a large finite number, never inf or NaN.
    Y = data.draw(hnp.arrays(A.dtype, A.shape, elements=st.sampled_from([0.0, 1.0])))
    loss = LOSSES[name]
    value = loss.function(A, Y)
    assert np.isfinite(value) and value >= 0
    assert np.isfinite(loss.gradient(A, Y)).all()
    assert np.isfinite(fused_gradient(A, Y)).all()


def test_confident_mistake_costs_the_clipped_log():
    A = np.array([[0.0, 1.0]])
    Y = np.array([[1.0, 0.0]])
    assert cross_entropy(A, Y) == pytest.approx(-np.log(1e-12))
    assert binary_cross_entropy(A, Y) == pytest.approx(-2 * np.log(1e-12))
    assert cross_entropy(Y, Y) == 0.0
    assert binary_cross_entropy(Y, Y) == pytest.approx(0.0, abs=1e-11)


def test_unknown_loss_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown loss 'mse'.*quadratic, cross-entropy, binary-cross-entropy"):
        get_loss("mse")


@pytest.mark.parametrize(
    "name, output, needed",
    [
        ("cross-entropy", "sigmoid", "softmax"),
        ("cross-entropy", "relu", "softmax"),
        ("binary-cross-entropy", "softmax", "sigmoid"),
        ("binary-cross-entropy", "identity", "sigmoid"),
    ],
)
def test_loss_checks_its_output_activation(name, output, needed):
    with pytest.raises(ValueError, match=rf"loss '{name}' needs a {needed} output layer; got output activation '{output}'"):
        get_loss(name, output)


@pytest.mark.parametrize("output", ["sigmoid", "relu", "leaky_relu", "tanh", "identity", "softmax"])
def test_quadratic_suits_every_output(output):
    assert get_loss("quadratic", output).name == "quadratic"
