"""The compiled (Numba) engine against a plain reference loop written here from public pieces.

The reference below is the textbook mini-batch loop: forward with inverted dropout, the output
delta, backpropagation, Optimizer.step. The compiled engine must agree with it step by step within
float32 rounding, be bit-identical run to run, and continue bit-identically from a saved state.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

import digitnet as dn  # noqa: E402
from digitnet.activations import get_activation  # noqa: E402
from digitnet.engines.compiled import CompiledPlan, forward  # noqa: E402
from digitnet.losses import get_loss  # noqa: E402

SIZES = [37, 19, 6, 4]  # hidden widths that do not fill a SIMD tile, an input that is not a multiple


def data(n: int = 53, sizes=SIZES, seed: int = 1, sparse: bool = True):
    """Inputs in [0, 1] with ~60% zeros (sparse, as MNIST), labels and one-hot targets."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, sizes[0]), dtype=np.float32)
    if sparse:
        x[x < 0.6] = 0.0
    labels = rng.integers(0, sizes[-1], n)
    return x, labels, np.eye(sizes[-1], dtype=np.float32)[labels]


def reference_epoch(net, cost, optimizer, x, Y, labels, order, rng, batch_size, dropout):
    """The plain loop: per mini-batch forward (with dropout), output delta, backprop, step."""
    params = net.parameters()
    total, correct = 0.0, 0
    last = len(net.layers) - 1
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        A, activations, masks = x[batch], [x[batch]], []
        for index, layer in enumerate(net.layers):
            A = layer.forward(A)
            activations.append(A)
            mask = None
            if dropout and index < last:
                keep = 1.0 - dropout
                mask = (rng.random(A.shape, dtype=A.dtype) < keep).astype(A.dtype) / A.dtype.type(keep)
                A = A * mask
            masks.append(mask)
        out, target = activations[-1], Y[batch]
        total += cost.function(out, target) * len(batch)
        correct += int(np.count_nonzero(out.argmax(axis=1) == labels[batch]))
        output = get_activation(net.output_activation)
        if cost.fused_with == net.output_activation:  # ∂C/∂Z = (A·Σy − Y)/n, or (A − Y)/n
            rows = target.sum(axis=1, keepdims=True) if cost.name == "cross-entropy" else 1.0
            dZ = (out * rows - target) / len(batch)
        else:
            dZ = output.backward(cost.gradient(out, target), out)
        grads = [None] * len(net.layers)
        for index in range(last, -1, -1):
            below = activations[index] if index == 0 or masks[index - 1] is None else activations[index] * masks[index - 1]
            grads[index] = (dZ.T @ below, dZ.sum(axis=0))
            if index:
                dA = dZ @ net.layers[index].weight
                if masks[index - 1] is not None:
                    dA = dA * masks[index - 1]
                dZ = get_activation(net.layers[index - 1].activation).backward(dA, activations[index])
        optimizer.step(params, [g for pair in grads for g in pair])
    return total, correct


def make(activation, output, loss, optimizer, weight_decay, sizes=SIZES, seed=0):
    net = dn.Network(sizes, activation=activation, output_activation=output, seed=seed)
    cost = get_loss(loss, net.output_activation)
    options = {"weight_decay": weight_decay}
    if optimizer in ("momentum", "nesterov"):
        options.update(momentum=0.9, nesterov=optimizer == "nesterov")
    rate = {"sgd": 0.3, "momentum": 0.05, "nesterov": 0.05, "adam": 3e-3, "adamw": 3e-3}[optimizer]
    name = "momentum" if optimizer == "nesterov" else optimizer
    return net, cost, dn.make_optimizer(name, rate, **options)


def relative_error(a, b) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


OUTPUTS = [  # (hidden activation, output activation, loss)
    ("sigmoid", "sigmoid", "quadratic"),
    ("relu", "softmax", "cross-entropy"),
    ("tanh", "sigmoid", "binary-cross-entropy"),
    ("leaky_relu", "softmax", "quadratic"),
    ("relu", "identity", "quadratic"),
    ("tanh", "tanh", "quadratic"),
]
OPTIMIZERS = [("sgd", 0.0), ("sgd", 1e-2), ("momentum", 0.0), ("nesterov", 1e-2), ("adam", 0.0), ("adam", 1e-2),
              ("adamw", 1e-2)]


WIDE = [37, 270, 260, 4]  # wider than MAX_WIDTH: BLAS products and the wide kernels (engines/wide.py)


@pytest.mark.parametrize("activation,output,loss", OUTPUTS)
@pytest.mark.parametrize("optimizer,weight_decay", OPTIMIZERS)
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_agrees_with_the_reference_loop(activation, output, loss, optimizer, weight_decay, dropout):
    check_agreement(activation, output, loss, optimizer, weight_decay, dropout, SIZES, sparse=True)


@pytest.mark.parametrize("activation,output,loss", OUTPUTS[:4])
@pytest.mark.parametrize("optimizer,weight_decay", [("sgd", 1e-2), ("nesterov", 0.0), ("adam", 0.0), ("adamw", 1e-2)])
@pytest.mark.parametrize("dropout,sparse", [(0.0, True), (0.3, True), (0.3, False)])
def test_wide_networks_agree_with_the_reference_loop(activation, output, loss, optimizer, weight_decay, dropout, sparse):
    check_agreement(activation, output, loss, optimizer, weight_decay, dropout, WIDE, sparse)


def check_agreement(activation, output, loss, optimizer, weight_decay, dropout, sizes, sparse):
    x, labels, Y = data(sizes=sizes, sparse=sparse)
    batch_size = 5  # 53 examples: 10 full steps and a short one of 3
    results = []
    for engine in ("compiled", "reference"):
        net, cost, opt = make(activation, output, loss, optimizer, weight_decay, sizes=sizes)
        rng = np.random.default_rng(7)
        order = rng.permutation(len(x))
        if engine == "compiled":
            plan = CompiledPlan(net, cost, opt, batch_size, dropout)
            summary = plan.run_epoch(x, Y, labels, order, rng)
        else:
            summary = reference_epoch(net, cost, opt, x, Y, labels, order, rng, batch_size, dropout)
        results.append((net, opt, summary, rng.random()))
    (net, opt, (loss_c, correct_c), after_c), (ref, ref_opt, (loss_r, correct_r), after_r) = results
    # Float32 rounding: the engines sum in different orders (SIMD tiles, BLAS blocks), which moves
    # each value by a few ulp per step; all parameters together must agree within 1e-5, and each
    # array within 1e-5 of its own size or, for the smallest (an output bias of a few hundredths),
    # of the largest array's.
    largest = max(np.linalg.norm(q) for q in ref.parameters())
    everything = relative_error(np.concatenate([p.ravel() for p in net.parameters()]),
                                np.concatenate([q.ravel() for q in ref.parameters()]))
    assert everything < 1e-5
    for p, q in zip(net.parameters(), ref.parameters()):
        assert np.linalg.norm(p - q) / max(np.linalg.norm(q), 0.1 * largest) < 1e-5
    assert opt.t == ref_opt.t == 11
    for name in ref_opt.state:
        for p, q in zip(opt.state[name], ref_opt.state[name]):
            assert relative_error(p, q) < 1e-5, name
    assert loss_c == pytest.approx(loss_r, rel=1e-5)
    assert correct_c == correct_r
    assert after_c == after_r  # the generator was consumed alike (the same dropout draws)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes", [SIZES, WIDE])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("activation,output,loss", [("relu", "softmax", "cross-entropy"), ("tanh", "sigmoid", "quadratic")])
def test_float64_and_dense_inputs(dtype, sizes, sparse, activation, output, loss):
    x, labels, Y = data(sizes=sizes, sparse=sparse)
    nets = []
    for engine in ("compiled", "reference"):
        net = dn.Network(sizes, activation=activation, output_activation=output, seed=3, dtype=dtype)
        cost, opt = get_loss(loss, output), dn.make_optimizer("adam", 1e-2)
        rng = np.random.default_rng(2)
        order = rng.permutation(len(x))
        X, T = x.astype(dtype), Y.astype(dtype)
        if engine == "compiled":
            CompiledPlan(net, cost, opt, 8, 0.0).run_epoch(X, T, labels, order, rng)
        else:
            reference_epoch(net, cost, opt, X, T, labels, order, rng, 8, 0.0)
        nets.append(net)
    # float32: an epoch of Adam steps (lr 1e-2) grows the last bit's rounding, and OpenBLAS's kernels
    # round by the machine (2.0e-5 apart on an AMD EPYC, under 1e-5 on earlier machines); a wrong step is O(1).
    tolerance = 1e-4 if dtype == "float32" else 1e-12
    largest = max(np.linalg.norm(q) for q in nets[1].parameters())
    for p, q in zip(nets[0].parameters(), nets[1].parameters()):
        assert p.dtype == np.dtype(dtype)
        assert np.linalg.norm(p - q) / max(np.linalg.norm(q), 0.1 * largest) < tolerance


def train(epochs, split=None, dropout=0.2, optimizer="adam"):
    """A Trainer-free run of the compiled plan; with split, the state is saved after `split`
    epochs and restored into a fresh network, optimizer and plan."""
    x, labels, Y = data(n=64)
    net, cost, opt = make("relu", "softmax", "cross-entropy", optimizer, 1e-3)
    rng = np.random.default_rng(5)
    plan = CompiledPlan(net, cost, opt, 10, dropout)
    for epoch in range(epochs):
        if epoch == split:
            weights = [p.copy() for p in net.parameters()]
            state, generator = opt.state_dict(), rng.bit_generator.state
            net, _, opt = make("relu", "softmax", "cross-entropy", optimizer, 1e-3, seed=99)
            for p, saved in zip(net.parameters(), weights):
                p[...] = saved
            opt.load_state_dict(state)
            rng = np.random.default_rng()
            rng.bit_generator.state = generator
            plan = CompiledPlan(net, cost, opt, 10, dropout)
        plan.run_epoch(x, Y, labels, rng.permutation(len(x)), rng)
    return [p.copy() for p in net.parameters()], opt.state_dict()


@pytest.mark.parametrize("optimizer", ["adam", "momentum", "sgd"])
def test_bit_identical_run_to_run_and_after_resume(optimizer):
    first, state = train(3, optimizer=optimizer)
    again, state_again = train(3, optimizer=optimizer)
    resumed, state_resumed = train(3, split=2, optimizer=optimizer)
    for a, b, c in zip(first, again, resumed):
        assert np.array_equal(a, b) and np.array_equal(a, c)
    for key in state:
        assert np.array_equal(state[key], state_again[key]) and np.array_equal(state[key], state_resumed[key])


def test_progress_reports_and_the_network_seen_by_them():
    x, labels, Y = data(n=60)
    net, cost, opt = make("sigmoid", "sigmoid", "quadratic", "sgd", 0.0)
    plan = CompiledPlan(net, cost, opt, 4, 0.0)
    seen = []
    order = np.random.default_rng(0).permutation(len(x))

    def on_batch(done, total, mean_loss):
        seen.append((done, total, mean_loss, net.layers[0].weight.copy()))

    total_loss, _ = plan.run_epoch(x, Y, labels, order, np.random.default_rng(0), on_batch, report_every=5)
    assert [s[0] for s in seen] == [20, 40, 60] and all(s[1] == 60 for s in seen)
    assert seen[-1][2] == pytest.approx(total_loss / 60)
    assert not np.array_equal(seen[0][3], seen[1][3])  # the weights were written back before each report
    assert np.array_equal(seen[-1][3], net.layers[0].weight)


def test_supports_and_refusals():
    net, cost, opt = make("relu", "softmax", "cross-entropy", "adam", 0.0)
    assert CompiledPlan.supports(net, cost, opt, 10, 0.0)

    class Custom(dn.optimizers.SGD):
        pass

    assert not CompiledPlan.supports(net, cost, Custom(0.1), 10, 0.0)  # a subclass may change the rule
    with pytest.raises(ValueError, match="compiled engine does not support"):
        CompiledPlan(net, cost, Custom(0.1), 10, 0.0)


@pytest.mark.parametrize("activation,output", [("sigmoid", "sigmoid"), ("relu", "softmax"), ("tanh", "identity"),
                                               ("leaky_relu", "softmax")])
@pytest.mark.parametrize("rows", [1, 7, 17, 40, 203])  # one row, a few, and batches of whole and partial blocks
def test_forward_matches_the_network(activation, output, rows):
    net = dn.Network([37, 19, 6, 4], activation=activation, output_activation=output, seed=2)
    x, _, _ = data(n=rows)
    got = forward(net.layers, x)
    assert got.shape == (rows, 4) and got.dtype == np.float32
    # (atol: an identity output near 0 is a difference of sums of order 1, each summed in another
    # order than BLAS's: float32 rounding of those sums, a few 1e-7)
    np.testing.assert_allclose(got, net.forward(x), rtol=2e-6, atol=1e-6)
    net.layers[0].weight *= 1.5  # trained in place: the next call sees the new weights
    net.layers[1].bias = net.layers[1].bias + 0.25  # or given new arrays
    np.testing.assert_allclose(forward(net.layers, x), net.forward(x), rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("sizes", [[37, 128, 10], [30, 16, 16, 10], [784, 16, 16, 10]])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_forward_matches_the_network(sizes, dtype):
    """The batch kernel (eight rows at a time on transposed weights), up to the widest it takes,
    in both dtypes, on read-only inputs (a type of their own to Numba)."""
    net = dn.Network(sizes, activation="sigmoid", seed=3, dtype=dtype)
    x = data(n=91, sizes=sizes)[0].astype(dtype)
    x.flags.writeable = False
    got = forward(net.layers, x)
    assert got.dtype == np.dtype(dtype) and got.shape == (91, sizes[-1])
    tolerance = (dict(rtol=2e-6, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-14))
    np.testing.assert_allclose(got, net.forward(x), **tolerance)


def test_batch_forward_split_over_threads_is_the_same(monkeypatch):
    """Split in parts of whole blocks over threads, a batch gives exactly the one-part numbers."""
    from digitnet.engines import compiled, threads

    net = dn.Network([37, 19, 6, 4], activation="relu", output_activation="softmax", seed=4)
    x = data(n=333)[0]
    monkeypatch.setattr(threads, "current_blas_threads", lambda: 1)
    whole = forward(net.layers, x)
    monkeypatch.setattr(threads, "current_blas_threads", lambda: 3)
    monkeypatch.setattr(compiled, "SPLIT_ROWS", 50)
    parts = forward(net.layers, x)
    np.testing.assert_array_equal(parts, whole)
    np.testing.assert_allclose(parts, net.forward(x), rtol=2e-6, atol=1e-6)


def test_wider_networks_take_numpy_products():
    net = dn.Network([20, compiled_max_width() + 1, 3], activation="relu", seed=5)
    x = data(n=40, sizes=[20, 3])[0]
    np.testing.assert_array_equal(forward(net.layers, x), net.forward(x))


def compiled_max_width() -> int:
    from digitnet.engines.compiled import MAX_WIDTH

    return MAX_WIDTH


def test_compiled_training_reaches_the_same_accuracy_as_the_trainer_tiny_task():
    """Learning, not only agreement: a separable problem is solved."""
    rng = np.random.default_rng(0)
    x = rng.random((400, 20), dtype=np.float32)
    labels = (x[:, :10].sum(axis=1) > x[:, 10:].sum(axis=1)).astype(np.int64)
    Y = np.eye(2, dtype=np.float32)[labels]
    net, cost, opt = make("relu", "softmax", "cross-entropy", "adam", 0.0, sizes=[20, 16, 2])
    plan = CompiledPlan(net, cost, opt, 16, 0.0)
    for _ in range(30):
        plan.run_epoch(x, Y, labels, rng.permutation(len(x)), rng)
    assert float(np.mean(net.predict(x) == labels)) > 0.95



@pytest.mark.parametrize("loss,output", [("cross-entropy", "softmax"), ("binary-cross-entropy", "sigmoid"),
                                         ("quadratic", "softmax")])
def test_targets_that_are_not_one_hot(loss, output):
    """Soft targets whose rows do not sum to 1 (one is all zeros): the true gradient, not P − Y."""
    x, labels, _ = data()
    Y = np.random.default_rng(4).random((len(x), SIZES[-1]), dtype=np.float32)
    Y[0] = 0.0
    nets = []
    for engine in ("compiled", "reference"):
        net, cost, opt = make("relu", output, loss, "sgd", 0.0)
        rng = np.random.default_rng(3)
        order = rng.permutation(len(x))
        if engine == "compiled":
            CompiledPlan(net, cost, opt, 6, 0.0).run_epoch(x, Y, labels, order, rng)
        else:
            reference_epoch(net, cost, opt, x, Y, labels, order, rng, 6, 0.0)
        nets.append(net)
    for p, q in zip(nets[0].parameters(), nets[1].parameters()):
        assert relative_error(p, q) < 1e-5


def test_without_numba_digitnet_imports_and_the_engine_declines():
    """With numba unimportable, digitnet still imports, supports() is False (saying why) and the
    inference function falls back to NumPy."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['numba'] = None\n"
        "import numpy as np, digitnet as dn\n"
        "from digitnet.engines import compiled\n"
        "from digitnet.losses import get_loss\n"
        "net = dn.Network([6, 5, 3], seed=0)\n"
        "print(compiled.CompiledPlan.supports(net, get_loss('quadratic'), dn.make_optimizer('sgd', 1.0), 2, 0.0))\n"
        "print(compiled.unavailable_reason())\n"
        "x = np.random.default_rng(0).random((4, 6), dtype=np.float32)\n"
        "print(np.allclose(compiled.forward(net.layers, x), net.forward(x)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    supported, reason, same = done.stdout.strip().splitlines()
    assert supported == "False" and "numba" in reason.lower() and same == "True"


def test_trainer_runs_the_compiled_engine_when_asked_and_agrees_with_fused():
    import digitnet as dn

    rng = np.random.default_rng(5)
    x = (rng.random((300, 64)) * (rng.random((300, 64)) < 0.3)).astype(np.float32)
    y = rng.integers(0, 10, 300)
    nets = {}
    for engine in ("compiled", "fused"):
        net = dn.Network([64, 16, 10], activation="relu", output_activation="softmax", seed=1)
        config = dn.TrainConfig(sizes=[64, 16, 10], activation="relu", output_activation="softmax",
                                loss="cross-entropy", optimizer="adam", learning_rate=0.01, batch_size=10,
                                epochs=2, seed=3, engine=engine)
        trainer = dn.Trainer(net, config, x, y)
        trainer.run()
        assert trainer.engine == engine
        nets[engine] = net
    for a, b in zip(nets["compiled"].parameters(), nets["fused"].parameters()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_a_run_that_compiles_the_kernels_trains_what_a_run_from_the_cache_trains(tmp_path):
    """The first run on a machine compiles the kernels (an empty Numba cache), every later one loads
    them: both must give the same weights (numba#10617: with fastmath's reassoc/contract they did not)."""
    import os
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, digitnet as dn\n"
        "rng = np.random.default_rng(0)\n"
        "x = (rng.random((400, 784)) < 0.2).astype(np.float32) * rng.random((400, 784), dtype=np.float32)\n"
        "y = rng.integers(0, 10, 400)\n"
        "for optimizer, rate in (('sgd', 3.0), ('adam', 1e-3)):\n"
        "    net = dn.Network([784, 16, 16, 10], seed=0)\n"
        "    dn.train(net, x, y, epochs=2, batch_size=10, learning_rate=rate, optimizer=optimizer, seed=0,\n"
        "             engine='compiled')\n"
        "    print(np.concatenate([p.ravel() for p in net.parameters()]).tobytes().hex()[:4000])\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
            for _ in ("cold", "warm")]
    assert all(run.returncode == 0 for run in runs), [run.stderr for run in runs]
    assert any((tmp_path / "numba-cache").rglob("*.nbi")), "the first run wrote no cache"
    assert runs[0].stdout == runs[1].stdout


def test_the_kernel_cache_folder_is_named_after_every_kernel_source(tmp_path, monkeypatch):
    """A change to any kernel source (not only the file defining a function) must start a fresh
    cache: Numba alone checks only the defining file, and once served fastmath kernels after the
    flags moved to activation_kernels.py."""
    pytest.importorskip("numba")
    from digitnet.engines import compiled, kernel_cache

    copy = tmp_path / "engines"
    copy.mkdir()
    for name in kernel_cache.SOURCES:
        (copy / name).write_bytes((kernel_cache.HERE / name).read_bytes())
    monkeypatch.setattr(kernel_cache, "HERE", copy)
    before = kernel_cache.source_key()
    for name in kernel_cache.SOURCES:
        text = (copy / name).read_bytes()
        (copy / name).write_bytes(text + b"\n# changed\n")
        assert kernel_cache.source_key() != before, name
        (copy / name).write_bytes(text)
    assert kernel_cache.source_key() == before

    # Where it goes: NUMBA_CACHE_DIR when set; else beside the sources, or the user's cache when
    # that folder cannot be written.
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert kernel_cache.cache_folder() == tmp_path / "mine" / f"numba-{before}"
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    assert kernel_cache.cache_folder() == copy / "__pycache__" / f"numba-{before}"
    monkeypatch.setattr(kernel_cache, "_writable", lambda folder: False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert kernel_cache.cache_folder() == tmp_path / "xdg" / "digitnet" / f"numba-{before}"

    # The loaded kernels really cache there, and the process's own Numba setting is left alone.
    monkeypatch.undo()
    from numba.core import config

    module = compiled.kernels()
    folder = str(kernel_cache.cache_folder())
    assert module.train_steps._cache._cache_path.startswith(folder)
    from digitnet.engines import forward_kernels

    assert forward_kernels.forward_rows._cache._cache_path.startswith(folder)
    assert config.CACHE_DIR != folder
