"""Network: shapes, parameters, forward against an independent loop, inits, input checks."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import digitnet as dn
from digitnet.checks import one_hot

HIDDEN = ["sigmoid", "relu", "leaky_relu", "tanh", "identity"]

# Independent formulas, so forward is not checked against itself.
REFERENCE = {
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "relu": lambda z: np.maximum(z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "tanh": np.tanh,
    "identity": lambda z: z,
    "softmax": lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True),
}


def reference_activations(net, X):
    """a⁽ˡ⁺¹⁾ = σ(W a⁽ˡ⁾ + b), one example (column vector) at a time, as in the video."""
    out = []
    for x in X:
        a = x.astype(np.float64).reshape(-1, 1)
        trace = [a]
        for layer in net.layers:
            z = layer.weight.astype(np.float64) @ a + layer.bias.astype(np.float64).reshape(-1, 1)
            a = REFERENCE[layer.activation](z.T).T
            trace.append(a)
        out.append(trace)
    return [np.hstack([trace[l] for trace in out]).T for l in range(len(net.sizes))]


# ----------------------------------------------------------------- the video's network
def test_video_network_has_13002_parameters():
    net = dn.Network([784, 16, 16, 10])
    assert net.num_parameters == 13002 == 784 * 16 + 16 * 16 + 16 * 10 + 16 + 16 + 10
    assert net.sizes == [784, 16, 16, 10]
    assert [layer.weight.shape for layer in net.layers] == [(16, 784), (16, 16), (10, 16)]
    assert [layer.bias.shape for layer in net.layers] == [(16,), (16,), (10,)]
    assert [layer.activation for layer in net.layers] == ["sigmoid"] * 3
    assert all(p.dtype == np.float32 for p in net.parameters())


@pytest.mark.slow
def test_num_parameters_from_a_fresh_interpreter():
    result = subprocess.run(
        [sys.executable, "-c", "import digitnet as dn; print(dn.Network([784,16,16,10]).num_parameters)"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "13002"


def test_output_activation_applies_to_the_last_layer_only():
    net = dn.Network([6, 5, 4, 3], activation="relu", output_activation="softmax")
    assert [layer.activation for layer in net.layers] == ["relu", "relu", "softmax"]
    assert net.activation == "relu" and net.output_activation == "softmax"


def test_parameters_are_the_live_arrays():
    net = dn.Network([3, 2], seed=0)
    weight, bias = net.parameters()
    assert weight is net.layers[0].weight and bias is net.layers[0].bias
    weight[0, 0] = 5.0
    assert net.layers[0].weight[0, 0] == 5.0


def test_copy_is_independent():
    net = dn.Network([3, 4, 2], seed=0)
    clone = net.copy()
    clone.layers[0].weight += 1.0
    clone.layers[1].bias[:] = 7.0
    assert not np.array_equal(clone.layers[0].weight, net.layers[0].weight)
    assert not np.any(net.layers[1].bias == 7.0)
    assert clone.sizes == net.sizes


# ----------------------------------------------------------------- forward
@pytest.mark.parametrize("output", [None, "softmax", "identity"])
@pytest.mark.parametrize("activation", HIDDEN)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_matches_the_per_example_loop(activation, output, dtype):
    rng = np.random.default_rng(7)
    net = dn.Network([8, 6, 5, 4], activation=activation, output_activation=output, seed=1, dtype=dtype)
    X = rng.uniform(0, 1, size=(9, 8))
    expected = reference_activations(net, X.astype(dtype))
    tolerance = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-14)
    output_activations = net.forward(X)
    assert output_activations.dtype == np.dtype(dtype)
    np.testing.assert_allclose(output_activations, expected[-1], **tolerance)
    trace = net.activations(X)
    assert len(trace) == len(net.sizes)
    np.testing.assert_array_equal(trace[0], X.astype(dtype))
    for got, want in zip(trace, expected):
        np.testing.assert_allclose(got, want, **tolerance)
    np.testing.assert_array_equal(trace[-1], output_activations)


def test_predict_is_the_most_active_output():
    rng = np.random.default_rng(8)
    net = dn.Network([5, 7, 4], seed=2)
    X = rng.uniform(size=(20, 5)).astype(np.float32)
    predictions = net.predict(X)
    assert predictions.shape == (20,)
    assert np.issubdtype(predictions.dtype, np.integer)
    np.testing.assert_array_equal(predictions, net.forward(X).argmax(axis=1))


def test_single_example_and_batch_agree():
    rng = np.random.default_rng(9)
    net = dn.Network([784, 16, 16, 10], seed=0)
    X = rng.uniform(size=(5, 784)).astype(np.float32)
    batch = net.forward(X)
    for i in range(5):
        np.testing.assert_allclose(net.forward(X[i : i + 1])[0], batch[i], rtol=1e-6, atol=1e-7)


def test_forward_does_not_modify_x():
    rng = np.random.default_rng(10)
    net = dn.Network([4, 3, 2], activation="relu", seed=0)
    for X in (rng.normal(size=(3, 4)), rng.normal(size=(3, 4)).astype(np.float32)):
        before = X.copy()
        net.forward(X)
        net.activations(X)
        net.gradients(X, [0, 1, 1])
        np.testing.assert_array_equal(X, before)


def test_loss_accepts_labels_or_one_hot_targets():
    rng = np.random.default_rng(11)
    net = dn.Network([5, 4, 3], output_activation="softmax", seed=3, dtype="float64")
    X = rng.uniform(size=(6, 5))
    labels = np.array([0, 1, 2, 2, 1, 0])
    Y = np.eye(3)[labels]
    for loss in ("quadratic", "cross-entropy"):
        assert net.loss(X, labels, loss=loss) == net.loss(X, Y, loss=loss)
        for (dW1, db1), (dW2, db2) in zip(net.gradients(X, labels, loss=loss), net.gradients(X, Y, loss=loss)):
            np.testing.assert_array_equal(dW1, dW2)
            np.testing.assert_array_equal(db1, db2)
    P = REFERENCE["softmax"](reference_activations(net, X)[-2] @ net.layers[-1].weight.T + net.layers[-1].bias)
    assert net.loss(X, labels, loss="cross-entropy") == pytest.approx(-np.mean(np.log(P[np.arange(6), labels])), rel=1e-12)
    assert net.loss(X, labels) == pytest.approx(0.5 * np.mean(((P - Y) ** 2).sum(axis=1)), rel=1e-12)


@st.composite
def networks_and_batches(draw):
    sizes = draw(st.lists(st.integers(1, 12), min_size=2, max_size=5))
    activation = draw(st.sampled_from(HIDDEN))
    output = draw(st.sampled_from([None, "softmax", *HIDDEN]))
    dtype = draw(st.sampled_from(["float32", "float64"]))
    n = draw(st.integers(1, 9))
    seed = draw(st.integers(0, 2**32 - 1))
    return sizes, activation, output, dtype, n, seed


@given(networks_and_batches())
def test_shapes_for_many_size_lists(case):
    sizes, activation, output, dtype, n, seed = case
    rng = np.random.default_rng(seed)
    net = dn.Network(sizes, activation=activation, output_activation=output, seed=seed, dtype=dtype)
    assert net.sizes == sizes
    assert net.num_parameters == sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    X = rng.uniform(size=(n, sizes[0]))
    labels = rng.integers(0, sizes[-1], size=n)
    assert net.forward(X).shape == (n, sizes[-1])
    assert [A.shape for A in net.activations(X)] == [(n, s) for s in sizes]
    assert net.predict(X).shape == (n,)
    assert np.isfinite(net.loss(X, labels))
    grads = net.gradients(X, labels)
    assert len(grads) == len(net.layers)
    for (dW, db), layer in zip(grads, net.layers):
        assert dW.shape == layer.weight.shape == (layer.n_out, layer.n_in)
        assert db.shape == layer.bias.shape == (layer.n_out,)
        assert dW.dtype == db.dtype == np.dtype(dtype)


@given(st.integers(1, 30), st.integers(1, 12), st.data())
def test_one_hot(n, n_classes, data):
    labels = np.array(data.draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n)))
    Y = one_hot(labels, n_classes)
    assert Y.shape == (n, n_classes) and Y.dtype == np.float32
    np.testing.assert_array_equal(Y.sum(axis=1), 1.0)
    np.testing.assert_array_equal(Y.argmax(axis=1), labels)
    assert set(np.unique(Y)) <= {0.0, 1.0}
    assert one_hot(labels, n_classes, np.float64).dtype == np.float64


# ----------------------------------------------------------------- initialisation
def test_same_seed_same_weights_different_seed_different():
    a, b, c = (dn.Network([20, 10, 3], seed=s) for s in (5, 5, 6))
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters()):
        np.testing.assert_array_equal(pa, pb)
        assert not np.array_equal(pa, pc)


def test_seed_may_be_a_generator():
    a = dn.Network([4, 3], seed=np.random.default_rng(1))
    b = dn.Network([4, 3], seed=np.random.default_rng(1))
    np.testing.assert_array_equal(a.layers[0].weight, b.layers[0].weight)


def test_float64_network_draws_the_same_weights_as_float32():
    a = dn.Network([20, 10, 3], seed=5)
    b = dn.Network([20, 10, 3], seed=5, dtype="float64")
    assert b.layers[0].weight.dtype == np.float64
    np.testing.assert_array_equal(a.layers[0].weight, b.layers[0].weight.astype(np.float32))


@pytest.mark.parametrize(
    "init, weight_std, random_bias",
    [
        ("nielsen", 1 / np.sqrt(1000), True),
        ("standard-normal", 1.0, True),
        ("xavier", np.sqrt(2 / (1000 + 200)), False),
        ("he", np.sqrt(2 / 1000), False),
    ],
)
def test_init_scales(init, weight_std, random_bias):
    net = dn.Network([1000, 200, 1000], init=init, seed=0, dtype="float64")
    weight, bias = net.layers[0].weight, net.layers[0].bias
    assert weight.std() == pytest.approx(weight_std, rel=0.02)
    assert abs(weight.mean()) < 0.02 * weight_std
    if random_bias:
        assert net.layers[1].bias.std() == pytest.approx(1.0, rel=0.1)
    else:
        assert not bias.any() and not net.layers[1].bias.any()


@pytest.mark.parametrize(
    "activation, init",
    [("sigmoid", "nielsen"), ("relu", "he"), ("leaky_relu", "he"), ("tanh", "xavier"), ("identity", "xavier")],
)
def test_default_init_follows_the_activation(activation, init):
    assert dn.Network([3, 2], activation=activation).init == init


# ----------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    "sizes, message",
    [
        ([], r"at least an input and an output size.*got \[\]"),
        ([784], r"at least an input and an output size.*got \[784\]"),
        ([784, 0], r"sizes must be positive integers; got \[784, 0\]"),
        ([784, -1], r"sizes must be positive integers; got \[784, -1\]"),
        ([784, 1.5], r"sizes must be positive integers; got \[784, 1\.5\]"),
        ([784, True], r"sizes must be positive integers"),
        ("abc", r"sizes must be positive integers; got \['a', 'b', 'c'\]"),
        (784, r"sizes must be a list of layer sizes like \[784, 16, 16, 10\]; got 784"),
        (None, r"sizes must be a list of layer sizes"),
    ],
)
def test_bad_sizes(sizes, message):
    with pytest.raises(ValueError, match=message):
        dn.Network(sizes)


def test_numpy_integer_sizes_are_fine():
    assert dn.Network(np.array([4, 3, 2])).sizes == [4, 3, 2]


@pytest.mark.parametrize("dtype", ["int8", "float16", "complex64", np.int32])
def test_bad_dtype(dtype):
    with pytest.raises(ValueError, match=r"dtype must be one of float32, float64; got"):
        dn.Network([3, 2], dtype=dtype)


def test_bad_dtype_message_names_what_was_got():
    with pytest.raises(ValueError, match=r"dtype must be one of float32, float64; got 'int8'"):
        dn.Network([3, 2], dtype="int8")


def test_numpy_float_dtypes_are_fine():
    assert dn.Network([3, 2], dtype=np.float64).dtype == np.float64


def test_unknown_names():
    with pytest.raises(ValueError, match=r"unknown activation 'swish'; expected one of sigmoid, relu, leaky_relu, tanh, identity, softmax"):
        dn.Network([3, 2], activation="swish")
    with pytest.raises(ValueError, match=r"unknown activation 'logsoftmax'; expected one of"):
        dn.Network([3, 2], output_activation="logsoftmax")
    with pytest.raises(ValueError, match=r"unknown init 'glorot'; expected one of nielsen, standard-normal, xavier, he"):
        dn.Network([3, 2], init="glorot")
    with pytest.raises(ValueError, match=r"'softmax' is for the output layer only"):
        dn.Network([3, 4, 2], activation="softmax")


def test_loss_must_suit_the_output():
    net = dn.Network([3, 2], seed=0)  # sigmoid output
    X = np.ones((1, 3))
    with pytest.raises(ValueError, match=r"loss 'cross-entropy' needs a softmax output layer; got output activation 'sigmoid'"):
        net.loss(X, [0], loss="cross-entropy")
    with pytest.raises(ValueError, match=r"loss 'cross-entropy' needs a softmax output layer"):
        net.gradients(X, [0], loss="cross-entropy")
    with pytest.raises(ValueError, match=r"unknown loss 'hinge'; expected one of quadratic, cross-entropy, binary-cross-entropy"):
        net.loss(X, [0], loss="hinge")


@pytest.fixture(scope="module")
def video_net():
    return dn.Network([784, 16, 16, 10], seed=0)


@pytest.mark.parametrize("method", ["forward", "activations", "predict"])
@pytest.mark.parametrize(
    "X, message",
    [
        (np.zeros((28, 28), np.float32), r"X must have shape \(n, 784\); got \(28, 28\)"),
        (np.zeros(784, np.float32), r"X must have shape \(n, 784\); got \(784,\).*reshape\(1, -1\)"),
        (np.zeros((1, 28, 28), np.float32), r"X must have shape \(n, 784\); got \(1, 28, 28\)"),
        (np.zeros((0, 784), np.float32), r"X must hold at least one example; got shape \(0, 784\)"),
        (np.zeros((2, 784), np.uint8), r"X must be floating point.*got dtype uint8.*255"),
        (np.zeros((2, 784), np.int64), r"X must be floating point.*got dtype int64"),
        (np.full((2, 784), np.nan, np.float32), r"X must be finite; got NaN or inf"),
        (np.full((2, 784), np.inf), r"X must be finite; got NaN or inf"),
    ],
    ids=["28x28", "1-D", "3-D", "empty", "uint8", "int64", "nan", "inf"],
)
def test_bad_inputs(video_net, method, X, message):
    with pytest.raises(ValueError, match=message):
        getattr(video_net, method)(X)


def test_inputs_must_fit_the_network_dtype():
    X = np.zeros((1, 3))
    X[0, 0] = 1e39  # finite in float64, inf in float32
    with pytest.raises(ValueError, match=r"X must fit in float32; got values beyond ±3\.4e\+38"):
        dn.Network([3, 2], seed=0).forward(X)
    assert np.isfinite(dn.Network([3, 2], seed=0, dtype="float64").forward(X)).all()


def test_float64_inputs_are_converted_for_a_float32_network():
    net = dn.Network([3, 2], seed=0)
    X = np.full((2, 3), 0.1)
    assert net.activations(X)[0].dtype == np.float32
    np.testing.assert_array_equal(net.forward(X), net.forward(X.astype(np.float32)))


def test_bad_inputs_to_loss_and_gradients(video_net):
    for method in (video_net.loss, video_net.gradients):
        with pytest.raises(ValueError, match=r"X must have shape \(n, 784\); got \(28, 28\)"):
            method(np.zeros((28, 28), np.float32), [0])


@pytest.mark.parametrize(
    "Y, message",
    [
        (np.array([0, 10]), r"Y labels must be in 0\.\.9; got 0\.\.10"),
        (np.array([-1, 3]), r"Y labels must be in 0\.\.9; got -1\.\.3"),
        (np.array([0, 1, 2]), r"Y must have 2 labels, one per example; got 3"),
        (np.array([0.0, 1.0]), r"Y labels must be integers; got dtype float64"),
        (np.zeros((2, 9)), r"Y must be labels of shape \(2,\) or targets of shape \(2, 10\); got \(2, 9\)"),
        (np.full((2, 10), np.nan), r"Y targets must be finite numbers"),
    ],
    ids=["too-big", "negative", "wrong-length", "float-labels", "wrong-targets", "nan-targets"],
)
def test_bad_targets(video_net, Y, message):
    X = np.zeros((2, 784), np.float32)
    with pytest.raises(ValueError, match=message):
        video_net.loss(X, Y)
    with pytest.raises(ValueError, match=message):
        video_net.gradients(X, Y)
