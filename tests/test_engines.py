"""The training engines (digitnet.engines): the fused engine against the plain reference engine.

The fused engine rearranges the same arithmetic (columns, augmented weights, one flat parameter
vector), so it must agree with the reference engine to rounding, draw the same dropout masks from
the same generator, stay bit-identical run to run, and resume bit-identically from a saved state.
Everything here goes through public names: TrainConfig(engine=...), Trainer, engines.choose.
"""

from __future__ import annotations

import numpy as np
import pytest

import digitnet as dn
from digitnet import engines
from digitnet.engines import fused
from digitnet.losses import get_loss
from digitnet.optimizers import OPTIMIZERS, SGD

N_FEATURES, N_CLASSES = 12, 3


def problem(n=203, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, N_FEATURES)).astype(np.float32)
    return x, rng.integers(0, N_CLASSES, size=n)


def make_config(engine, *, sizes=(N_FEATURES, 16, 8, N_CLASSES), activation="relu", output="softmax",
                loss="cross-entropy", optimizer="adam", dtype="float64", epochs=3, batch_size=10,
                learning_rate=0.05, seed=3, **settings) -> dn.TrainConfig:
    return dn.TrainConfig(sizes=list(sizes), activation=activation, output_activation=output, loss=loss,
                          optimizer=optimizer, learning_rate=learning_rate, batch_size=batch_size,
                          epochs=epochs, seed=seed, dtype=dtype, engine=engine, **settings)


def network(config: dn.TrainConfig, seed=1) -> dn.Network:
    """The network a config describes, with its own seed for the initial weights."""
    return dn.Network(config.sizes, activation=config.activation, output_activation=config.output_activation,
                      seed=seed, dtype=config.dtype)


def run(engine, *, targets=None, **settings):
    x, labels = problem()
    config = make_config(engine, **settings)
    net = network(config)
    trainer = dn.Trainer(net, config, x, labels if targets is None else targets)
    history = trainer.run()
    assert trainer.engine == engine
    return net, trainer, history


def assert_same_run(fast, reference, rtol):
    (net_a, trainer_a, history_a), (net_b, trainer_b, history_b) = fast, reference
    for a, b in zip(net_a.parameters(), net_b.parameters()):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
    state_a, state_b = trainer_a.optimizer.state_dict(), trainer_b.optimizer.state_dict()
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert state_a[key].dtype == state_b[key].dtype and state_a[key].shape == state_b[key].shape
        np.testing.assert_allclose(state_a[key], state_b[key], rtol=rtol, atol=rtol)
    np.testing.assert_allclose(history_a.loss, history_b.loss, rtol=rtol)
    assert history_a.accuracy == history_b.accuracy


CASES = [
    dict(activation="sigmoid", output=None, loss="quadratic", optimizer="sgd", learning_rate=3.0),
    dict(activation="relu", output="softmax", loss="cross-entropy", optimizer="adam"),
    dict(activation="relu", output="softmax", loss="cross-entropy", optimizer="adam", weight_decay=0.01),
    dict(activation="tanh", output="sigmoid", loss="binary-cross-entropy", optimizer="momentum",
         nesterov=True, weight_decay=0.1),
    dict(activation="leaky_relu", output="identity", loss="quadratic", optimizer="adamw", weight_decay=0.1),
    dict(activation="relu", output="softmax", loss="quadratic", optimizer="sgd", weight_decay=0.01),
    dict(activation="sigmoid", output="tanh", loss="quadratic", optimizer="momentum"),
    dict(activation="relu", output="softmax", loss="cross-entropy", optimizer="adam", dropout=0.3),
    dict(activation="sigmoid", output="sigmoid", loss="quadratic", optimizer="sgd", dropout=0.5, learning_rate=1.0),
]


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 2e-4)])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_fused_engine_matches_the_reference_engine(case, dtype, rtol):
    assert_same_run(run("fused", dtype=dtype, **case), run("reference", dtype=dtype, **case), rtol)


@pytest.mark.parametrize("batch_size", [1, 7, 64, 203, 500])  # tail batches, one batch, batch > n
@pytest.mark.parametrize("sizes", [(N_FEATURES, N_CLASSES), (N_FEATURES, 9, N_CLASSES), (N_FEATURES, 9, 7, 5, N_CLASSES)])
def test_any_depth_and_batch_size(sizes, batch_size):
    settings = dict(sizes=sizes, batch_size=batch_size, dropout=0.2 if len(sizes) > 2 else 0.0)
    assert_same_run(run("fused", **settings), run("reference", **settings), 1e-12)


def test_soft_targets_use_the_exact_softmax_cross_entropy_gradient():
    # Targets whose rows do not sum to 1 take ∂C/∂Z = (P·Σy − Y)/n (backprop.output_delta).
    _, labels = problem()
    targets = np.eye(N_CLASSES)[labels] * np.random.default_rng(7).uniform(0, 2, size=(len(labels), 1))
    targets[::5] = 0.0
    assert_same_run(run("fused", targets=targets), run("reference", targets=targets), 1e-12)


def test_same_seed_gives_bit_identical_weights():
    for case in CASES:
        a, _, _ = run("fused", dtype="float32", **case)
        b, _, _ = run("fused", dtype="float32", **case)
        assert all(np.array_equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize("engine", ["fused", "reference"])
@pytest.mark.parametrize("case", [CASES[0], CASES[2], CASES[7]], ids=["sgd", "adam-decay", "dropout"])
def test_resuming_in_a_fresh_trainer_is_bit_identical(case, engine):
    x, labels = problem()
    config = make_config(engine, dtype="float32", epochs=4, **case)

    straight = network(config)
    dn.Trainer(straight, config, x, labels).run()

    first = network(config)
    trainer = dn.Trainer(first, config, x, labels)
    trainer.run_epoch()
    trainer.run_epoch()
    tensors, document = trainer.state()
    weights = [p.copy() for p in first.parameters()]

    resumed = network(config)
    for p, saved in zip(resumed.parameters(), weights):
        p[...] = saved
    again = dn.Trainer(resumed, config, x, labels)
    again.restore_state(tensors, document)
    again.run()
    assert again.epoch == 4
    assert all(np.array_equal(p, q) for p, q in zip(straight.parameters(), resumed.parameters()))


@pytest.mark.parametrize("engine", ["auto", "fused", "reference"])
def test_network_arrays_are_updated_in_place(engine):
    x, labels = problem()
    net = dn.Network([N_FEATURES, 16, N_CLASSES], seed=0)
    arrays = net.parameters()
    before = [p.copy() for p in arrays]
    dn.train(net, x, labels, epochs=1, batch_size=10, learning_rate=3.0, seed=0, engine=engine)
    assert all(a is b for a, b in zip(arrays, net.parameters()))
    assert all(not np.array_equal(p, q) for p, q in zip(arrays, before))


def test_progress_callback_sees_the_current_weights_and_loss():
    x, labels = problem()
    settings = dict(sizes=(N_FEATURES, 16, N_CLASSES), activation="sigmoid", output=None, loss="quadratic",
                    optimizer="sgd", learning_rate=3.0, epochs=1, seed=0, dtype="float32")
    net = network(make_config("fused", **settings), seed=0)
    reference_net = net.copy()
    seen, expected = [], []

    def on_batch(done, total, loss):
        seen.append((done, total, loss, net.parameters()[0].copy()))

    def on_reference_batch(done, total, loss):
        expected.append((done, total, loss, reference_net.parameters()[0].copy()))

    dn.Trainer(reference_net, make_config("reference", **settings), x, labels).run_epoch(on_reference_batch)
    dn.Trainer(net, make_config("fused", **settings), x, labels).run_epoch(on_batch)
    assert [s[:2] for s in seen] == [e[:2] for e in expected] and len(seen) == 21  # every step: 21 < 100
    for (_, _, loss, weight), (_, _, loss_ref, weight_ref) in zip(seen, expected):
        assert loss == pytest.approx(loss_ref, rel=1e-5)
        np.testing.assert_allclose(weight, weight_ref, rtol=1e-5, atol=1e-6)


class HalfSGD(SGD):
    """A custom rule (p ← p − ½ηg): only the reference engine runs it."""

    def update(self, p, g, buffers, decay, work=None):
        p -= 0.5 * self.learning_rate * g


def test_auto_picks_the_fastest_engine_for_every_built_in_optimizer(monkeypatch):
    from digitnet.engines import compiled

    net = dn.Network([N_FEATURES, 16, N_CLASSES], seed=0)
    net64 = dn.Network([N_FEATURES, 16, N_CLASSES], seed=0, dtype="float64")
    cost = get_loss("quadratic", net.output_activation)
    float32 = "compiled" if compiled.available() else "fused"
    for name in OPTIMIZERS:
        assert engines.choose("auto", net, cost, dn.make_optimizer(name, 0.1), 10, 0.0).name == float32, name
        assert engines.choose("auto", net64, cost, dn.make_optimizer(name, 0.1), 10, 0.0).name == "fused", name
    # Without numba: the fused engine, and one warning saying why, however often auto asks.
    monkeypatch.setattr(compiled, "available", lambda: False)
    monkeypatch.setattr(compiled, "unavailable_reason", lambda: "ModuleNotFoundError: No module named 'numba'")
    monkeypatch.setattr(engines, "_told_unavailable", False)
    with pytest.warns(engines.CompiledEngineUnavailable, match="No module named 'numba'.*digitnet\\[compiled\\]") as told:
        for _ in range(3):
            assert engines.choose("auto", net, cost, dn.make_optimizer("sgd", 0.1), 10, 0.0).name == "fused"
    assert len(told) == 1
    assert engines.choose("auto", net, cost, HalfSGD(0.1), 10, 0.0).name == "reference"
    assert engines.choose("reference", net, cost, dn.make_optimizer("adam", 0.1), 10, 0.0).name == "reference"
    with pytest.raises(ValueError, match="HalfSGD"):
        engines.choose("fused", net, cost, HalfSGD(0.1), 10, 0.0)
    with pytest.raises(ValueError, match="unknown engine"):
        engines.choose("turbo", net, cost, HalfSGD(0.1), 10, 0.0)


def test_a_custom_optimizer_runs_on_the_reference_engine():
    x, labels = problem()
    config = make_config("auto", sizes=(N_FEATURES, 16, N_CLASSES), activation="sigmoid", output=None,
                         loss="quadratic", optimizer="sgd", learning_rate=1.0, epochs=1, seed=0, dtype="float32")
    net = network(config, seed=0)
    trainer = dn.Trainer(net, config, x, labels, optimizer=HalfSGD(1.0))
    trainer.run()
    assert trainer.engine == "reference"
    twin = network(config, seed=0)
    dn.train(twin, x, labels, epochs=1, batch_size=10, learning_rate=0.5, seed=0)
    for p, q in zip(net.parameters(), twin.parameters()):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6)

    forced = dn.Trainer(network(config, seed=0), config.replace(engine="fused"), x, labels, optimizer=HalfSGD(1.0))
    with pytest.raises(ValueError, match="engine 'fused'"):
        forced.run()


def test_weights_changed_between_epochs_are_picked_up():
    x, labels = problem()
    settings = dict(sizes=(N_FEATURES, 16, N_CLASSES), activation="sigmoid", output=None, loss="quadratic",
                    optimizer="sgd", learning_rate=3.0, epochs=2, seed=0, dtype="float32")
    net = network(make_config("fused", **settings), seed=0)
    trainer = dn.Trainer(net, make_config("fused", **settings), x, labels)
    trainer.run_epoch()
    net.layers[0].bias[...] = 0.0  # a user (or the web app) sets biases by hand
    twin = net.copy()
    twin_trainer = dn.Trainer(twin, make_config("reference", **settings), x, labels)
    twin_trainer.rng.bit_generator.state = trainer.rng.bit_generator.state
    trainer.run_epoch()
    twin_trainer.run_epoch()
    assert (trainer.engine, twin_trainer.engine) == ("fused", "reference")
    for p, q in zip(net.parameters(), twin.parameters()):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------- the forward path
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite_is_exact_for_large_arrays(dtype):
    from digitnet.checks import all_finite

    X = np.random.default_rng(0).random((100, 784)).astype(dtype)
    assert all_finite(X)
    for value in (np.nan, np.inf, -np.inf):
        for position in ((0, 0), (57, 300), (99, 783)):
            Y = X.copy()
            Y[position] = value
            assert not all_finite(Y)
    huge = X.copy()
    huge[3, 3] = np.finfo(dtype).max / 2  # finite, but x·x overflows: the elementwise test decides
    assert all_finite(huge)
    assert all_finite(np.asfortranarray(X)) and not all_finite(np.asfortranarray(Y))


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "tanh", "identity", "leaky_relu", "softmax"])
def test_dense_forward_gives_the_activation_functions_values(activation):
    from digitnet.activations import ACTIVATIONS

    rng = np.random.default_rng(1)
    layer = dn.Dense(rng.normal(size=(5, 7)).astype(np.float32), rng.normal(size=5).astype(np.float32), activation)
    A = rng.normal(size=(4, 7)).astype(np.float32) * 3
    before = A.copy()
    expected = ACTIVATIONS[activation].function(A @ layer.weight.T + layer.bias)
    np.testing.assert_array_equal(layer.forward(A), expected)
    np.testing.assert_array_equal(A, before)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation, output", [("sigmoid", "sigmoid"), ("relu", "softmax"), ("tanh", "identity"),
                                                ("leaky_relu", "sigmoid")])
def test_network_forward_is_the_layer_by_layer_forward(activation, output, dtype):
    # Network.forward runs on engines.inference (one example as a vector, a batch in place);
    # its numbers are exactly those of Dense.forward applied in turn, for one example and a batch.
    net = dn.Network([N_FEATURES, 30, 20, N_CLASSES], activation=activation, output_activation=output,
                     seed=2, dtype=dtype)
    x = np.random.default_rng(5).uniform(-2, 2, size=(17, N_FEATURES)).astype(dtype)
    before = x.copy()
    for rows in (x[:1], x[7:8], x):
        got, expected = net.forward(rows), net.activations(rows)[-1]
        assert got.shape == expected.shape == (len(rows), N_CLASSES) and got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, expected)
        assert np.array_equal(net.predict(rows), expected.argmax(axis=1))
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("optimizer, weight_decay", [("adam", 0.0), ("adamw", 0.1), ("momentum", 0.01)])
def test_a_large_network_trains_like_the_reference(optimizer, weight_decay):
    settings = dict(sizes=(N_FEATURES, 600, 400, N_CLASSES), optimizer=optimizer, weight_decay=weight_decay,
                    epochs=2, batch_size=64, learning_rate=0.01)
    assert_same_run(run("fused", **settings), run("reference", **settings), 1e-11)


@pytest.mark.parametrize("engine", ["fused", "reference"])
def test_divergence_in_a_large_network_is_reported_as_training_diverged(engine):
    x, labels = problem()
    net = dn.Network([N_FEATURES, 600, 400, N_CLASSES], activation="relu", output_activation="identity", seed=0)
    with pytest.raises(dn.TrainingDiverged):
        dn.train(net, x, labels, epochs=2, batch_size=10, learning_rate=1e4, optimizer="momentum", seed=0,
                 engine=engine)


def test_gathering_the_next_block_on_a_second_thread_changes_nothing(monkeypatch):
    # With a thread budget of 2+, block k+1 is gathered (and its dropout masks drawn) while block
    # k trains: same generator order, so the same weights bit for bit.
    assert callable(fused.current_blas_threads) and isinstance(fused.PREFETCH_MIN_BATCH, int)
    x, labels = problem(n=1500, seed=2)
    config = make_config("fused", sizes=(N_FEATURES, 16, 8, N_CLASSES), optimizer="adam", learning_rate=0.01,
                         epochs=2, batch_size=7, dropout=0.25, seed=4, dtype="float32")

    def train(threads):
        monkeypatch.setattr(fused, "current_blas_threads", lambda: threads)
        monkeypatch.setattr(fused, "PREFETCH_MIN_BATCH", 1)
        net = network(config)
        trainer = dn.Trainer(net, config, x, labels)
        trainer.run()
        assert trainer.engine == "fused"
        return net, trainer.rng.bit_generator.state

    (one, state_one), (two, state_two) = train(1), train(2)
    assert state_one == state_two
    assert all(np.array_equal(p, q) for p, q in zip(one.parameters(), two.parameters()))


FORK_SETTINGS = dict(sizes=(N_FEATURES, 16, N_CLASSES), optimizer="adam", learning_rate=0.01, epochs=1,
                     batch_size=64, seed=4, dtype="float32")


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # Python 3.12+
def test_a_forked_child_trains_with_its_own_gather_thread():
    # The prefetching thread does not survive fork(); the child must make its own, not wait forever.
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    x, labels = problem(n=1500, seed=2)
    config = make_config("fused", **FORK_SETTINGS)
    dn.Trainer(network(config), config, x, labels).run()  # the parent's pool now has its thread
    with multiprocessing.get_context("fork").Pool(1) as pool:
        child = pool.apply_async(train_in_child, (x, labels)).get(timeout=60)
    twin = network(config)
    dn.Trainer(twin, config, x, labels).run()
    assert all(np.array_equal(p, q) for p, q in zip(child, twin.parameters()))


def train_in_child(x, labels):
    config = make_config("fused", **FORK_SETTINGS)
    net = network(config)
    dn.Trainer(net, config, x, labels).run()
    return net.parameters()
