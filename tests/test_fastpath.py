"""The training fast path (digitnet.fastpath) against the plain reference loop in Trainer.

The fast path rearranges the same arithmetic (columns, augmented weights, one flat parameter
vector), so it must agree with the reference loop to rounding, draw the same dropout masks from
the same generator, stay bit-identical run to run, and resume bit-identically from a saved state.
"""

from __future__ import annotations

import numpy as np
import pytest

import digitnet as dn
from digitnet import fastpath
from digitnet.optimizers import SGD

N_FEATURES, N_CLASSES = 12, 3


def problem(n=203, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, N_FEATURES)).astype(np.float32)
    return x, rng.integers(0, N_CLASSES, size=n)


def run(fast, *, sizes=(N_FEATURES, 16, 8, N_CLASSES), activation="relu", output="softmax",
        loss="cross-entropy", optimizer="adam", dtype="float64", epochs=3, targets=None, **options):
    x, labels = problem()
    net = dn.Network(list(sizes), activation=activation, output_activation=output, seed=1, dtype=dtype)
    options.setdefault("batch_size", 10)
    options.setdefault("learning_rate", 0.05)
    trainer = dn.Trainer(net, x, labels if targets is None else targets, epochs=epochs, optimizer=optimizer,
                         loss=loss, seed=3, **options)
    trainer._fastpath = fast
    history = trainer.run()
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
def test_fast_path_matches_the_reference_loop(case, dtype, rtol):
    assert_same_run(run(True, dtype=dtype, **case), run(False, dtype=dtype, **case), rtol)


@pytest.mark.parametrize("batch_size", [1, 7, 64, 203, 500])  # tail batches, one batch, batch > n
@pytest.mark.parametrize("sizes", [(N_FEATURES, N_CLASSES), (N_FEATURES, 9, N_CLASSES), (N_FEATURES, 9, 7, 5, N_CLASSES)])
def test_any_depth_and_batch_size(sizes, batch_size):
    options = dict(sizes=sizes, batch_size=batch_size, dropout=0.2 if len(sizes) > 2 else 0.0)
    assert_same_run(run(True, **options), run(False, **options), 1e-12)


def test_soft_targets_use_the_exact_softmax_cross_entropy_gradient():
    # Targets whose rows do not sum to 1 take ∂C/∂Z = (P·Σy − Y)/n, as Network._output_delta does.
    _, labels = problem()
    targets = np.eye(N_CLASSES)[labels] * np.random.default_rng(7).uniform(0, 2, size=(len(labels), 1))
    targets[::5] = 0.0
    assert_same_run(run(True, targets=targets), run(False, targets=targets), 1e-12)


def test_same_seed_gives_bit_identical_weights():
    for case in CASES:
        a, _, _ = run(True, dtype="float32", **case)
        b, _, _ = run(True, dtype="float32", **case)
        assert all(np.array_equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize("case", [CASES[0], CASES[2], CASES[7]], ids=["sgd", "adam-decay", "dropout"])
def test_resuming_in_a_fresh_trainer_is_bit_identical(case):
    x, labels = problem()
    options = dict(epochs=4, batch_size=10, seed=3, optimizer=case["optimizer"], loss=case["loss"],
                   learning_rate=case.get("learning_rate", 0.05), weight_decay=case.get("weight_decay", 0.0),
                   dropout=case.get("dropout", 0.0))

    def network():
        return dn.Network([N_FEATURES, 16, 8, N_CLASSES], activation=case["activation"],
                          output_activation=case["output"], seed=1, dtype="float32")

    straight = network()
    dn.Trainer(straight, x, labels, **options).run()

    first = network()
    trainer = dn.Trainer(first, x, labels, **options)
    trainer.run_epoch()
    trainer.run_epoch()
    tensors, document = trainer.state()
    weights = [p.copy() for p in first.parameters()]

    resumed = network()
    for p, saved in zip(resumed.parameters(), weights):
        p[...] = saved
    again = dn.Trainer(resumed, x, labels, **options)
    again.restore_state(tensors, document)
    again.run()
    assert all(np.array_equal(p, q) for p, q in zip(straight.parameters(), resumed.parameters()))


def test_network_arrays_are_updated_in_place():
    x, labels = problem()
    net = dn.Network([N_FEATURES, 16, N_CLASSES], seed=0)
    arrays = net.parameters()
    before = [p.copy() for p in arrays]
    dn.train(net, x, labels, epochs=1, batch_size=10, learning_rate=3.0, seed=0)
    assert all(a is b for a, b in zip(arrays, net.parameters()))
    assert all(not np.array_equal(p, q) for p, q in zip(arrays, before))


def test_progress_callback_sees_the_current_weights_and_loss():
    x, labels = problem()
    net = dn.Network([N_FEATURES, 16, N_CLASSES], seed=0)
    seen = []

    def on_batch(done, total, loss):
        seen.append((done, total, loss, net.parameters()[0].copy()))

    reference_net = net.copy()
    reference = dn.Trainer(reference_net, x, labels, epochs=1, batch_size=10, learning_rate=3.0, seed=0)
    reference._fastpath = False
    expected = []
    reference.run_epoch(lambda done, total, loss: expected.append((done, total, loss, reference_net.parameters()[0].copy())))
    dn.Trainer(net, x, labels, epochs=1, batch_size=10, learning_rate=3.0, seed=0).run_epoch(on_batch)
    assert [s[:2] for s in seen] == [e[:2] for e in expected] and len(seen) == 21  # every step: 21 < 100
    for (_, _, loss, weight), (_, _, loss_ref, weight_ref) in zip(seen, expected):
        assert loss == pytest.approx(loss_ref, rel=1e-5)
        np.testing.assert_allclose(weight, weight_ref, rtol=1e-5, atol=1e-6)


def test_a_custom_optimizer_takes_the_reference_path():
    class HalfSGD(SGD):
        def _update(self, p, g, buffers, decay, work=None):
            p -= 0.5 * self.learning_rate * g

    assert fastpath.supports(dn.make_optimizer("adam", 0.1)) and not fastpath.supports(HalfSGD(0.1))
    x, labels = problem()
    net = dn.Network([N_FEATURES, 16, N_CLASSES], seed=0)
    trainer = dn.Trainer(net, x, labels, epochs=1, batch_size=10, learning_rate=1.0, optimizer=HalfSGD(1.0), seed=0)
    trainer.run()
    assert getattr(trainer, "_plan", None) is None
    twin = dn.Network([N_FEATURES, 16, N_CLASSES], seed=0)
    dn.train(twin, x, labels, epochs=1, batch_size=10, learning_rate=0.5, seed=0)
    for p, q in zip(net.parameters(), twin.parameters()):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6)


def test_weights_changed_between_epochs_are_picked_up():
    x, labels = problem()
    net = dn.Network([N_FEATURES, 16, N_CLASSES], seed=0)
    trainer = dn.Trainer(net, x, labels, epochs=2, batch_size=10, learning_rate=3.0, seed=0)
    trainer.run_epoch()
    net.layers[0].bias[...] = 0.0  # a user (or the web app) sets biases by hand
    twin = net.copy()
    twin_trainer = dn.Trainer(twin, x, labels, epochs=2, batch_size=10, learning_rate=3.0, seed=0)
    twin_trainer.rng.bit_generator.state = trainer.rng.bit_generator.state
    twin_trainer._fastpath = False
    trainer.run_epoch()
    twin_trainer.run_epoch()
    for p, q in zip(net.parameters(), twin.parameters()):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------- the forward path
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite_is_exact_for_large_arrays(dtype):
    from digitnet.network import all_finite

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
def test_dense_forward_in_place_gives_the_activation_functions_values(activation):
    from digitnet.activations import ACTIVATIONS

    rng = np.random.default_rng(1)
    layer = dn.Dense(rng.normal(size=(5, 7)).astype(np.float32), rng.normal(size=5).astype(np.float32), activation)
    A = rng.normal(size=(4, 7)).astype(np.float32) * 3
    before = A.copy()
    expected = ACTIVATIONS[activation].function(A @ layer.weight.T + layer.bias)
    np.testing.assert_array_equal(layer.forward(A), expected)
    np.testing.assert_array_equal(A, before)


@pytest.mark.parametrize("optimizer, weight_decay", [("adam", 0.0), ("adamw", 0.1), ("momentum", 0.01)])
def test_a_large_network_trains_like_the_reference(optimizer, weight_decay):
    options = dict(sizes=(N_FEATURES, 600, 400, N_CLASSES), optimizer=optimizer, weight_decay=weight_decay,
                   epochs=2, batch_size=64, learning_rate=0.01)
    assert_same_run(run(True, **options), run(False, **options), 1e-11)


def test_divergence_in_a_large_network_is_reported_as_training_diverged():
    x, labels = problem()
    net = dn.Network([N_FEATURES, 600, 400, N_CLASSES], activation="relu", output_activation="identity", seed=0)
    with pytest.raises(dn.TrainingDiverged):
        dn.train(net, x, labels, epochs=2, batch_size=10, learning_rate=1e4, optimizer="momentum", seed=0)


def test_gathering_the_next_block_on_a_second_thread_changes_nothing(monkeypatch):
    # With a thread budget of 2+, block k+1 is gathered (and its dropout masks drawn) while block
    # k trains: same generator order, so the same weights bit for bit.
    x, labels = problem(n=1500, seed=2)

    def train(threads):
        monkeypatch.setattr(fastpath, "current_blas_threads", lambda: threads)
        monkeypatch.setattr(fastpath, "PREFETCH_MIN_BATCH", 1)
        net = dn.Network([N_FEATURES, 16, 8, N_CLASSES], activation="relu", output_activation="softmax", seed=1)
        trainer = dn.Trainer(net, x, labels, epochs=2, batch_size=7, learning_rate=0.01, optimizer="adam",
                             loss="cross-entropy", dropout=0.25, seed=4)
        trainer.run()
        return net, trainer.rng.bit_generator.state

    (one, state_one), (two, state_two) = train(1), train(2)
    assert state_one == state_two
    assert all(np.array_equal(p, q) for p, q in zip(one.parameters(), two.parameters()))


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # Python 3.12+
def test_a_forked_child_trains_with_its_own_gather_thread():
    # The prefetching thread does not survive fork(); the child must make its own, not wait forever.
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    x, labels = problem(n=1500, seed=2)
    options = dict(epochs=1, batch_size=64, learning_rate=0.01, optimizer="adam", loss="cross-entropy", seed=4)
    net = dn.Network([N_FEATURES, 16, N_CLASSES], activation="relu", output_activation="softmax", seed=1)
    dn.Trainer(net, x, labels, **options).run()  # the parent's pool now has its thread
    with multiprocessing.get_context("fork").Pool(1) as pool:
        child = pool.apply_async(_train_in_child, (x, labels, options)).get(timeout=60)
    twin = dn.Network([N_FEATURES, 16, N_CLASSES], activation="relu", output_activation="softmax", seed=1)
    dn.Trainer(twin, x, labels, **options).run()
    assert all(np.array_equal(p, q) for p, q in zip(child, twin.parameters()))


def _train_in_child(x, labels, options):
    net = dn.Network([N_FEATURES, 16, N_CLASSES], activation="relu", output_activation="softmax", seed=1)
    dn.Trainer(net, x, labels, **options).run()
    return net.parameters()
