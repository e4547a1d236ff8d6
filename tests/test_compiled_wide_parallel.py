"""The wide path's parallel team (engines/blas_calls.py): split products and shared-out kernels.

On the parallel path every big product is cut into blocks of whole rows or columns, one one-thread
OpenBLAS call each, and every kernel works on its own columns, rows or chunks. Nothing is summed in
a different order, so where OpenBLAS gives a block of a product the same bits as the whole product
(its float32 kernels on many CPUs), the parallel path must train exactly what the one-thread path
trains: the same weights, bit for bit. Elsewhere OpenBLAS's kernels for the ragged edge of a block
round the last bit by where the block ends: its own blocks and the whole product already differ
there (in float64, and in float32 on an AMD EPYC), and `blocks_exact` finds it out with NumPy alone.
Then float64 is held to 1e-12 and float32 to float32's rounding (1e-5; a wrong block is O(1) off).
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import sys

import numpy as np
import pytest

pytest.importorskip("numba")

import digitnet as dn  # noqa: E402
from digitnet.engines import compiled  # noqa: E402
from digitnet.engines.compiled import CompiledPlan  # noqa: E402
from digitnet.losses import get_loss  # noqa: E402

compiled.kernels()  # imported inside the kernel cache's context, as the engine does
from digitnet.engines import blas_calls, threads, wide  # noqa: E402

needs_team = pytest.mark.skipif(blas_calls.parallel_threads() < 2 and threads.current_blas_threads() < 2,
                                reason="one core: there is no team to share the work with")


@functools.cache
def blocks_exact(dtype) -> bool:
    """Does this machine's OpenBLAS, on one thread, give the blocks of a product (by rows and by
    columns, ragged) the same bits as the whole product? Asked of NumPy alone, not of digitnet."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((128, 784)).astype(dtype), rng.standard_normal((784, 803)).astype(dtype)
    with threads.limit_blas_threads(1):
        whole = a @ b
        by_columns = np.concatenate([a @ b[:, :401], a @ b[:, 401:]], axis=1)
        by_rows = np.concatenate([a[:65] @ b, a[65:] @ b])
    return bool(np.array_equal(whole, by_columns) and np.array_equal(whole, by_rows))


def assert_same(p, q):
    """p equals q bit for bit where OpenBLAS's blocks are exact; else float64 to 1e-12 and float32
    within 1e-5 of q's size (‖p − q‖ / ‖q‖: its rounding, grown by a few training steps)."""
    if p.dtype == np.float32 and blocks_exact(np.float32):
        np.testing.assert_array_equal(p, q)
    elif p.dtype == np.float32:
        assert np.linalg.norm(p - q) <= 1e-5 * np.linalg.norm(q), np.linalg.norm(p - q) / np.linalg.norm(q)
    else:
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-12)


@pytest.fixture
def two_blas_threads():
    """BLAS (and so the team) allowed two threads, whatever the machine's setting."""
    with threads.limit_blas_threads(2):
        if blas_calls.parallel_threads() < 2:
            pytest.skip("NumPy's OpenBLAS cannot be called from compiled code here, or one core")
        yield


def operands(rng, dtype, M, N, K, layout):
    """a (M, K) and b (K, N) as the wide path hands them over: plain, transposed or column-sliced views."""
    if layout == "nn":
        a = rng.standard_normal((M, K + 5)).astype(dtype)[:, :K]  # a slice of wider rows (as H[:, :n])
        b = rng.standard_normal((K, N)).astype(dtype)
    elif layout == "tn":
        a = rng.standard_normal((K, M + 3)).astype(dtype)[:, :M].T  # the weight gradient's Aᵀ
        b = rng.standard_normal((K, N)).astype(dtype)
    else:
        a = rng.standard_normal((M, K)).astype(dtype)
        b = rng.standard_normal((N, K)).astype(dtype).T  # δ W̄ᵀ
    return a, b


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["nn", "tn", "nt"])
@pytest.mark.parametrize("M,N,K", [(128, 800, 784), (800, 803, 128), (37, 1000, 990)])
@pytest.mark.parametrize("parts", [2, 3])
def test_a_split_product_equals_one_one_thread_product_bit_for_bit(two_blas_threads, dtype, layout, M, N, K, parts):
    rng = np.random.default_rng(M + N + K)
    a, b = operands(rng, dtype, M, N, K, layout)
    split, whole = np.empty((M, N), dtype), np.empty((M, N), dtype)
    with threads.limit_blas_threads(1):
        blas_calls.matmul(a, b, split, parts)
        np.matmul(a, b, out=whole)
    assert M * N * K >= blas_calls.SPLIT_MIN * parts  # (it was split, not handed to np.matmul)
    assert_same(split, whole)
    np.testing.assert_allclose(split, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-3, atol=1e-3)


def test_small_or_odd_products_go_to_numpy(two_blas_threads):
    rng = np.random.default_rng(0)
    a, b = rng.random((128, 800), np.float32), rng.random((800, 16), np.float32)
    out = np.empty((128, 16), np.float32)
    blas_calls.matmul(a, b, out, 2)  # 1.6 M multiply-adds: not worth a split
    np.testing.assert_allclose(out, a @ b, rtol=1e-5)
    big = rng.random((256, 512), np.float32)
    strided = big[:, ::2]  # no unit stride on either axis: NumPy's own matmul
    other = rng.random((256, 1000), np.float32)
    out = np.empty((256, 1000), np.float32)
    blas_calls.matmul(strided, other, out, 2)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, strided @ other, rtol=1e-5)


def test_shapes_that_do_not_fit_get_numpys_error_not_a_read_past_the_arrays(two_blas_threads):
    a, b = np.ones((128, 800), np.float32), np.ones((700, 800), np.float32)
    with pytest.raises(ValueError):
        blas_calls.matmul(a, b, np.empty((128, 800), np.float32), 2)
    with pytest.raises(ValueError):
        blas_calls.matmul(a, np.ones((800, 800), np.float32), np.empty((128, 700), np.float32), 2)


def test_the_team_sets_openblas_to_one_thread_and_puts_both_settings_back(two_blas_threads):
    import numba

    before = numba.get_num_threads()
    with pytest.raises(RuntimeError):
        with blas_calls.team(2):
            assert threads.current_blas_threads() == 1
            assert numba.get_num_threads() == 2
            raise RuntimeError("interrupted mid-step")
    assert threads.current_blas_threads() == 2
    assert numba.get_num_threads() == before


WIDE = [300, 400, 384, 10]  # big enough that, with SPLIT_MIN lowered, every hidden product is split


def train_wide(dropout, sparse, dtype="float32", optimizer="adam", epochs=2):
    rng = np.random.default_rng(4)
    x = rng.random((150, WIDE[0]), dtype=np.float32)
    if sparse:
        x[x < 0.8] = 0.0
    labels = rng.integers(0, 10, len(x))
    Y = np.eye(10, dtype=np.float32)[labels]
    net = dn.Network(WIDE, activation="relu", output_activation="softmax", seed=2, dtype=dtype)
    opt = dn.make_optimizer(optimizer, 2e-3 if optimizer != "sgd" else 0.1)
    plan = CompiledPlan(net, get_loss("cross-entropy", "softmax"), opt, 64, dropout)
    assert plan.wide
    summaries = []
    for _ in range(epochs):
        order = rng.permutation(len(x))
        summaries.append(plan.run_epoch(x.astype(dtype), Y.astype(dtype), labels, order, rng))
    return [p.copy() for p in net.parameters()], summaries


@pytest.mark.parametrize("dropout,sparse", [(0.0, True), (0.2, True), (0.2, False)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_parallel_path_trains_what_the_one_thread_path_trains(two_blas_threads, monkeypatch, dropout, sparse,
                                                                   dtype):
    monkeypatch.setattr(blas_calls, "SPLIT_MIN", 100_000)
    calls = {"parts": 0}
    real = wide.sparse_forward_parts if sparse else blas_calls.gemm_parts

    def counted(*args):
        calls["parts"] += 1
        return real(*args)

    monkeypatch.setattr(wide if sparse else blas_calls, "sparse_forward_parts" if sparse else "gemm_parts", counted)
    parallel, parallel_summary = train_wide(dropout, sparse, dtype)
    assert calls["parts"] > 0  # the parallel path ran
    monkeypatch.setattr(wide, "parallel_threads", lambda: 1)
    serial, serial_summary = train_wide(dropout, sparse, dtype)
    for p, q in zip(parallel, serial):
        assert_same(p, q)
    exact = dtype == "float64" or blocks_exact(np.float32)
    for (loss_p, right_p), (loss_s, right_s) in zip(parallel_summary, serial_summary):
        assert loss_p == pytest.approx(loss_s, rel=1e-9 if exact else 1e-5)
        assert right_p == right_s


def test_sgd_and_momentum_on_the_parallel_path(two_blas_threads, monkeypatch):
    monkeypatch.setattr(blas_calls, "SPLIT_MIN", 100_000)
    for optimizer in ("sgd", "momentum"):
        parallel, _ = train_wide(0.0, True, optimizer=optimizer, epochs=1)
        with monkeypatch.context() as m:
            m.setattr(wide, "parallel_threads", lambda: 1)
            serial, _ = train_wide(0.0, True, optimizer=optimizer, epochs=1)
        for p, q in zip(parallel, serial):
            assert_same(p, q)


def _train_in_child(queue):
    queue.put((blas_calls.parallel_threads(), train_wide(0.2, True, epochs=1)[0]))


@pytest.mark.skipif(sys.platform != "linux", reason="fork")
def test_a_child_forked_after_the_team_ran_trains_on_one_thread_and_does_not_abort(two_blas_threads):
    """GNU OpenMP is not fork-safe (Numba aborts a forked child that starts a parallel loop), so a
    forked child takes the one-thread path, and trains the same weights."""
    here, _ = train_wide(0.2, True, epochs=1)  # the team has run in this process
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_train_in_child, args=(queue,))
    child.start()
    parts, there = queue.get(timeout=120)
    child.join(timeout=30)
    assert child.exitcode == 0
    assert parts == 1
    for p, q in zip(here, there):
        assert_same(p, q)


@needs_team
def test_the_trainer_on_a_wide_network_uses_the_team_and_keeps_its_thread_setting():
    rng = np.random.default_rng(1)
    x = (rng.random((256, 784)) * (rng.random((256, 784)) < 0.2)).astype(np.float32)
    y = rng.integers(0, 10, 256)
    config = dn.TrainConfig(sizes=[784, 800, 800, 10], activation="relu", output_activation="softmax",
                            loss="cross-entropy", optimizer="adam", learning_rate=1e-3, batch_size=128, epochs=1,
                            seed=0, engine="compiled")
    net = dn.Network(config.sizes, activation="relu", output_activation="softmax", seed=0)
    with threads.limit_blas_threads(2):
        dn.Trainer(net, config, x, y).run()
        assert threads.current_blas_threads() == 2
    assert all(np.isfinite(p).all() for p in net.parameters())


def test_overlapping_teams_in_two_threads_put_openblas_back_once_both_end(two_blas_threads):
    """OpenBLAS's thread count is one setting for the whole process: the first team to start sets
    it to one, the last to end puts it back."""
    import threading

    inside, release, seen = threading.Event(), threading.Event(), {}

    def other():
        with blas_calls.team(2):
            inside.set()
            release.wait(10)
        seen["after the other"] = threads.current_blas_threads()

    worker = threading.Thread(target=other)
    worker.start()
    inside.wait(10)
    seen["beside the other"] = threads.current_blas_threads()
    with blas_calls.team(2):  # a second team, started while the first runs
        release.set()
        worker.join(10)
        seen["after the other"] = threads.current_blas_threads()  # (this team still runs)
    assert seen == {"beside the other": 1, "after the other": 1}
    assert threads.current_blas_threads() == 2


def test_training_in_a_thread_uses_the_team_and_leaves_every_threads_setting(two_blas_threads, monkeypatch):
    import threading

    monkeypatch.setattr(blas_calls, "SPLIT_MIN", 100_000)
    result = {}

    def train():
        result["parts"] = blas_calls.parallel_threads()
        result["weights"] = train_wide(0.0, True, epochs=1)[0]
        result["after"] = threads.current_blas_threads()

    worker = threading.Thread(target=train)
    worker.start()
    worker.join(120)
    assert result["parts"] == 2 and result["after"] == 2
    assert threads.current_blas_threads() == 2
    here, _ = train_wide(0.0, True, epochs=1)
    for p, q in zip(result["weights"], here):
        assert_same(p, q)


FIRST_USE_TOGETHER = """
import json
import threading
from digitnet.engines import compiled
compiled.kernels()
from digitnet.engines import blas_calls
start, answers = threading.Barrier(4), []
def ask():
    start.wait(30)
    answers.append(blas_calls.parallel_threads())
workers = [threading.Thread(target=ask) for _ in range(4)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join(60)
print(json.dumps(sorted(answers)))
"""


@pytest.mark.parametrize("layer", ["workqueue", "omp"])
def test_threads_asking_for_the_first_time_together_get_one_answer(layer):
    """The first use (finding NumPy's OpenBLAS, a probe loop for Numba's threading layer) happens once,
    in one thread: under the workqueue layer two probe loops started at once abort the process."""
    import os
    import subprocess

    env = dict(os.environ, NUMBA_THREADING_LAYER=layer)
    done = subprocess.run([sys.executable, "-c", FIRST_USE_TOGETHER], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(answers) == 4 and len(set(answers)) == 1
    assert answers[0] == (1 if layer == "workqueue" else answers[0])
