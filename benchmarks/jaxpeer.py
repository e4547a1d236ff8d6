"""JAX as a benchmark peer, written the idiomatic fast way: one jax.jit over a lax.scan of the steps.

An epoch is one compiled XLA program: the rows gathered by this epoch's permutation, then a scan of
the full mini-batches (forward, jax.grad, the update), then the short last batch as a second
compiled step. The update rules are PyTorch's (as digitnet's): SGD, and Adam with bias correction.
Compilation is done ahead (jit(...).lower(...).compile()) and timed on its own, so every timed
epoch is a steady-state one. Threads: run.py pins every worker to as many cores as its thread count
(XLA's CPU runtime ignores the thread flags below for its compiled programs), and with one thread
XLA_FLAGS also turns XLA's Eigen pool off before jax is imported.
"""

from __future__ import annotations

import time

import numpy as np

from configs import Config


def xla_flags(threads: int) -> str | None:
    """XLA_FLAGS limiting XLA's CPU backend to one thread, or None: XLA then uses every core (the
    benchmark machine has two, the largest thread count measured)."""
    if threads == 1:
        return "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return None


def _activation(name):
    import jax

    return {"sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu, "tanh": jax.numpy.tanh}[name]


def _model(config: Config):
    """forward(params, X) -> output (softmax configurations return logits) and loss(params, X, Y)."""
    import jax
    import jax.numpy as jnp

    hidden, output = _activation(config.activation), config.output

    def forward(params, X):
        A = X
        for index, (W, b) in enumerate(params):
            Z = A @ W.T + b  # (n, n_out)
            last = index == len(params) - 1
            A = Z if last and output == "softmax" else (_activation(output) if last else hidden)(Z)
        return A

    def loss(params, X, Y):
        out = forward(params, X)
        if config.loss == "quadratic":  # C = (1/n) Σ ½‖a − y‖²
            return 0.5 * jnp.sum((out - Y) ** 2) / X.shape[0]
        return -jnp.mean(jnp.sum(Y * jax.nn.log_softmax(out), axis=1))

    return forward, loss


def _update(config: Config, grad_fn):
    """step(carry, (X, Y)) -> (carry, None): one mini-batch, PyTorch's SGD or Adam rule."""
    import jax
    import jax.numpy as jnp

    beta1, beta2, eps = 0.9, 0.999, 1e-8

    def step(carry, batch):
        params, m, s, t, lr = carry
        grads = grad_fn(params, *batch)
        if config.optimizer == "sgd":
            params = jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)
            return (params, m, s, t + 1, lr), None
        t = t + 1
        m = jax.tree_util.tree_map(lambda m_, g: beta1 * m_ + (1 - beta1) * g, m, grads)
        s = jax.tree_util.tree_map(lambda s_, g: beta2 * s_ + (1 - beta2) * g * g, s, grads)
        c1, c2 = 1 - beta1**t, 1 - beta2**t
        params = jax.tree_util.tree_map(lambda p, m_, s_: p - (lr / c1) * m_ / (jnp.sqrt(s_ / c2) + eps), params, m, s)
        return (params, m, s, t, lr), None

    return step


def train_jax(config: Config, data, epochs: int, seed: int, until=None) -> dict:
    import jax
    import jax.numpy as jnp

    from peers import initial_network, scheduled

    x, y, x_test, y_test = data
    net = initial_network(config, seed)
    params = [(jnp.asarray(layer.weight), jnp.asarray(layer.bias)) for layer in net.layers]
    zeros = lambda: jax.tree_util.tree_map(jnp.zeros_like, params)  # noqa: E731 (m and s: separate buffers)
    X = jnp.asarray(np.ascontiguousarray(x, np.float32))
    Y = jnp.asarray(np.eye(config.sizes[-1], dtype=np.float32)[y])
    n, b = len(x), config.batch_size
    full, tail = divmod(n, b)
    forward, loss = _model(config)
    step = _update(config, jax.grad(loss))

    def epoch(carry, perm):
        rows = perm[: full * b]
        batches = (X[rows].reshape(full, b, -1), Y[rows].reshape(full, b, -1))
        carry, _ = jax.lax.scan(step, carry, batches)
        if tail:
            rest = perm[full * b :]
            carry, _ = step(carry, (X[rest], Y[rest]))
        return carry

    carry = (params, zeros(), zeros(), jnp.asarray(0, jnp.int32), jnp.asarray(config.learning_rate, jnp.float32))
    perm0 = jnp.asarray(np.arange(n, dtype=np.int32))
    start = time.perf_counter()
    compiled = jax.jit(epoch, donate_argnums=0).lower(carry, perm0).compile()
    predict = jax.jit(lambda p, X: jnp.argmax(forward(p, X), axis=1)).lower(params, jnp.asarray(x_test)).compile()
    compile_seconds = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    seconds, accuracies = [], []
    for e in range(epochs):
        start = time.perf_counter()
        params_, m, s, t, _ = carry
        carry = (params_, m, s, t, jnp.asarray(scheduled(config, e, epochs), jnp.float32))
        carry = compiled(carry, jnp.asarray(rng.permutation(n).astype(np.int32)))
        jax.block_until_ready(carry)
        seconds.append(time.perf_counter() - start)
        if until is not None or len(seconds) == epochs:
            predicted = np.asarray(predict(carry[0], jnp.asarray(x_test)))
            accuracies.append(float(np.mean(predicted == y_test)))
            if until is not None and accuracies[-1] >= until:
                break
    return {"epoch_seconds": seconds, "test_accuracy": accuracies[-1], "accuracy_curve": accuracies,
            "compile_seconds": compile_seconds, "jax": jax.__version__}


def infer_jax(sizes, hidden: str, output: str, net, x_test):
    """(batch call, one-image call) for inference: jit-compiled forward + argmax."""
    import jax
    import jax.numpy as jnp

    config = Config("E", "", tuple(sizes), hidden, output, "", "sgd", 1.0, 1, net.init)
    forward, _ = _model(config)
    params = [(jnp.asarray(layer.weight), jnp.asarray(layer.bias)) for layer in net.layers]
    predict = jax.jit(lambda p, X: jnp.argmax(forward(p, X), axis=1))
    X, one = jnp.asarray(x_test), jnp.asarray(x_test[:1])
    batch = lambda: np.asarray(predict(params, X))  # noqa: E731
    single = lambda: np.asarray(predict(params, one))  # noqa: E731
    return batch, single
