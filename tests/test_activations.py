"""Activation functions: values, derivatives, stability at extreme inputs, the name table."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from digitnet.activations import (
    ACTIVATIONS,
    LEAKY_SLOPE,
    get_activation,
    sigmoid,
    softmax,
    softmax_backward,
)

ELEMENTWISE = ["sigmoid", "relu", "leaky_relu", "tanh", "identity"]
DTYPES = [np.float32, np.float64]

# Independent reference formulas (written here, not imported).
REFERENCE = {
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "relu": lambda z: np.where(z > 0, z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "tanh": lambda z: (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z)),
    "identity": lambda z: z,
}

finite_matrices = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=8),
    elements=st.floats(-1000, 1000),
)


def test_errstate_from_conftest_is_active():
    with pytest.raises(FloatingPointError):
        np.float64(1e308) * np.float64(10)


def test_table_holds_every_activation():
    assert set(ACTIVATIONS) == {"sigmoid", "relu", "leaky_relu", "tanh", "identity", "softmax"}
    assert LEAKY_SLOPE == 0.01


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_values_match_the_textbook_formula(name):
    # Within ±20 the textbook forms do not overflow.
    Z = np.linspace(-20, 20, 401).reshape(1, -1)
    np.testing.assert_allclose(
        ACTIVATIONS[name].function(Z), REFERENCE[name](Z), rtol=1e-12, atol=1e-15
    )


def test_sigmoid_at_known_points():
    Z = np.array([[0.0, np.log(3.0), -np.log(3.0)]])
    np.testing.assert_allclose(sigmoid(Z), [[0.5, 0.75, 0.25]], rtol=1e-15)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_from_output_matches_central_differences(name):
    # Away from 0 so relu's kink is not straddled.
    rng = np.random.default_rng(1)
    Z = rng.uniform(-4, 4, size=(6, 7))
    Z = np.where(np.abs(Z) < 1e-2, 0.5, Z)
    activation = ACTIVATIONS[name]
    h = 1e-6
    numeric = (activation.function(Z + h) - activation.function(Z - h)) / (2 * h)
    np.testing.assert_allclose(activation.derivative(activation.function(Z)), numeric, rtol=1e-7, atol=1e-9)


def test_softmax_backward_is_the_jacobian_product():
    rng = np.random.default_rng(2)
    Z = rng.normal(size=(3, 4))
    dA = rng.normal(size=(3, 4))
    A = softmax(Z)
    for row in range(3):
        a = A[row]
        jacobian = np.diag(a) - np.outer(a, a)  # ∂aᵢ/∂zⱼ
        np.testing.assert_allclose(softmax_backward(dA, A)[row], jacobian.T @ dA[row], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(ACTIVATIONS["softmax"].backward(dA, A)[row], jacobian.T @ dA[row], rtol=1e-12)


@given(finite_matrices)
def test_softmax_rows_sum_to_one(Z):
    A = softmax(Z)
    assert np.all(A >= 0) and np.all(A <= 1)
    np.testing.assert_allclose(A.sum(axis=1), 1.0, rtol=1e-12)


@given(finite_matrices, st.floats(-1000, 1000))
def test_softmax_ignores_a_constant_shift_per_row(Z, shift):
    np.testing.assert_allclose(softmax(Z + shift), softmax(Z), rtol=1e-9, atol=1e-12)


@given(st.floats(-1000, 1000))
def test_softmax_shift_per_row_independently(shift):
    Z = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    shifted = Z + np.array([[shift], [-shift]])
    np.testing.assert_allclose(softmax(shifted), softmax(Z), rtol=1e-9, atol=1e-12)


@given(hnp.arrays(np.float64, st.integers(1, 20), elements=st.floats(-1000, 1000)))
def test_sigmoid_symmetry(z):
    Z = z.reshape(1, -1)
    np.testing.assert_allclose(sigmoid(-Z), 1.0 - sigmoid(Z), rtol=0, atol=2e-16)


@given(hnp.arrays(np.float32, st.integers(1, 20), elements=st.floats(-1000, 1000, width=32)))
def test_sigmoid_symmetry_float32(z):
    Z = z.reshape(1, -1)
    np.testing.assert_allclose(sigmoid(-Z), 1.0 - sigmoid(Z), rtol=0, atol=1.2e-7)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_finite_and_quiet_at_extreme_inputs(name, dtype):
    # Runs under errstate(over/divide/invalid="raise") and filterwarnings=error: any overflow
    # warning fails the test.
    Z = np.array([[-1e4, -1000.0, -100.0, -1.0, 0.0, 1.0, 100.0, 1000.0, 1e4]], dtype=dtype)
    activation = ACTIVATIONS[name]
    A = activation.function(Z)
    assert A.dtype == dtype
    assert np.isfinite(A).all()
    dZ = activation.backward(np.ones_like(A), A)
    assert dZ.dtype == dtype
    assert np.isfinite(dZ).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_saturated_values(dtype):
    Z = np.array([[-1000.0, 1000.0]], dtype=dtype)
    np.testing.assert_array_equal(sigmoid(Z), [[0.0, 1.0]])
    np.testing.assert_array_equal(ACTIVATIONS["tanh"].function(Z), [[-1.0, 1.0]])
    np.testing.assert_array_equal(softmax(Z), [[0.0, 1.0]])


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_functions_do_not_modify_their_input(name):
    Z = np.linspace(-3, 3, 12).reshape(3, 4)
    before = Z.copy()
    activation = ACTIVATIONS[name]
    A = activation.function(Z)
    assert A is not Z
    np.testing.assert_array_equal(Z, before)
    A_before = A.copy()
    dA = np.ones_like(A)
    activation.backward(dA, A)
    np.testing.assert_array_equal(A, A_before)
    np.testing.assert_array_equal(dA, 1.0)


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown activation 'swish'.*sigmoid, relu, leaky_relu, tanh, identity, softmax"):
        get_activation("swish")
    with pytest.raises(ValueError, match="unknown activation None"):
        get_activation(None)


def test_softmax_is_for_the_output_only():
    assert get_activation("softmax").name == "softmax"
    with pytest.raises(ValueError, match=r"'softmax' is for the output layer only.*sigmoid, relu"):
        get_activation("softmax", hidden=True)
