"""One training run or inference measurement per framework, each the same configuration.

Every function here runs inside a fresh worker process (benchmarks/run.py starts one per run), so
imports, allocations and thread pools never leak from one measurement into the next.

- digitnet: the public API, Trainer.run_epoch, as a user calls it (TrainConfig(engine="fused")).
- PyTorch: at its best without a DataLoader: the epoch's rows permuted once (X[perm]) and sliced
  per batch, zero_grad(set_to_none=True), the same initial weights as digitnet, and for Adam the
  fastest of torch's implementations on this machine (fused=True, measured against foreach).
- scikit-learn: MLPClassifier.partial_fit, one epoch per call (its own initialisation).
- textbook: benchmarks/textbook.py, the book's per-example loop in float64 (configuration A only).
- reference: digitnet's own plain loop (TrainConfig(engine="reference")), the "before" of A.
- compiled: digitnet on its compiled (Numba) engine, TrainConfig(engine="compiled").
- JAX: benchmarks/jaxpeer.py, jit over lax.scan of the steps (compile time reported on its own).
Times are wall seconds of training only; test accuracy is measured after the timed epochs.
"""

from __future__ import annotations

import math
import os
import statistics
import time

import numpy as np

from configs import Config

INFERENCE_NETWORKS = {
    # name: (sizes, hidden activation, output activation)
    "3b1b": ((784, 16, 16, 10), "sigmoid", "sigmoid"),
    "wide": ((784, 800, 800, 10), "relu", "softmax"),
}


def scheduled(config: Config, epoch: int, epochs: int) -> float:
    """The learning rate of `epoch` (0-based), exactly as digitnet's schedules compute it."""
    from digitnet.training.schedules import scheduled_learning_rate

    return scheduled_learning_rate(config.schedule, config.learning_rate, epoch, config.schedule_epochs or epochs)


def initial_network(config: Config, seed: int):
    import digitnet as dn

    return dn.Network(list(config.sizes), activation=config.activation, output_activation=config.output,
                      init=config.init, seed=seed)


# --------------------------------------------------------------------- digitnet
def train_config(config: Config, epochs: int, seed: int, engine: str):
    """The benchmark configuration as digitnet's TrainConfig, on the named engine."""
    import digitnet as dn

    return dn.TrainConfig(sizes=list(config.sizes), activation=config.activation, output_activation=config.output,
                          loss=config.loss, init=config.init, optimizer=config.optimizer,
                          learning_rate=config.learning_rate, batch_size=config.batch_size,
                          epochs=config.schedule_epochs or epochs, schedule=config.schedule, seed=seed,
                          dtype="float32", engine=engine)


def train_digitnet(config: Config, data, epochs: int, seed: int, until=None, engine: str = "fused") -> dict:
    import digitnet as dn

    x, y, x_test, y_test = data
    net = initial_network(config, seed)
    trainer = dn.Trainer(net, train_config(config, epochs, seed, engine), x, y)
    assert trainer.engine == engine, f"digitnet ran on the {trainer.engine} engine, not {engine}"
    startup = warm_up_compiled(trainer) if engine == "compiled" else None
    seconds, accuracies = [], []
    for _ in range(epochs):
        start = time.perf_counter()
        trainer.run_epoch()
        seconds.append(time.perf_counter() - start)
        if until is not None or len(seconds) == epochs:
            accuracies.append(float(np.mean(net.predict(x_test) == y_test)))
            if until is not None and accuracies[-1] >= until:
                break
    result = {"epoch_seconds": seconds, "test_accuracy": accuracies[-1], "accuracy_curve": accuracies}
    if startup is not None:
        result["compile_seconds"] = startup
    return result


# --------------------------------------------------------------------- PyTorch
def torch_model(config: Config, seed: int):
    """nn.Sequential with digitnet's initial weights; the output layer stays linear for softmax
    (cross_entropy takes logits) and ends in a sigmoid for the quadratic cost."""
    import torch

    net = initial_network(config, seed)
    modules = []
    for index, layer in enumerate(net.layers):
        linear = torch.nn.Linear(layer.n_in, layer.n_out)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(layer.weight))
            linear.bias.copy_(torch.from_numpy(layer.bias))
        modules.append(linear)
        is_output = index == len(net.layers) - 1
        name = config.output if is_output else config.activation
        if name == "sigmoid":
            modules.append(torch.nn.Sigmoid())
        elif name == "relu":
            modules.append(torch.nn.ReLU())
    return torch.nn.Sequential(*modules)


def torch_optimizer(config: Config, model, adam_impl: str = "fused"):
    import torch

    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.learning_rate)
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.learning_rate, **{adam_impl: True})
    raise ValueError(config.optimizer)


def train_torch(config: Config, data, epochs: int, seed: int, until=None, adam_impl: str = "fused") -> dict:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    x, y, x_test, y_test = data
    X = torch.from_numpy(np.ascontiguousarray(x))
    labels = torch.from_numpy(y.astype(np.int64))
    targets = F.one_hot(labels, config.sizes[-1]).to(torch.float32)
    X_test = torch.from_numpy(np.ascontiguousarray(x_test))
    model = torch_model(config, seed)
    optimizer = torch_optimizer(config, model, adam_impl)
    generator = torch.Generator().manual_seed(seed)
    n, batch = len(X), config.batch_size
    quadratic = config.loss == "quadratic"
    seconds, accuracies = [], []
    for epoch in range(epochs):
        start = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = scheduled(config, epoch, epochs)
        perm = torch.randperm(n, generator=generator)
        X_epoch = X[perm]
        Y_epoch = targets[perm] if quadratic else labels[perm]
        for i in range(0, n, batch):
            xb, yb = X_epoch[i : i + batch], Y_epoch[i : i + batch]
            out = model(xb)
            if quadratic:  # C = (1/n) Σ ½‖a − y‖²
                loss = F.mse_loss(out, yb, reduction="sum") * (0.5 / len(xb))
            else:
                loss = F.cross_entropy(out, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        seconds.append(time.perf_counter() - start)
        if until is not None or len(seconds) == epochs:
            with torch.inference_mode():
                predicted = model(X_test).argmax(1).numpy()
            accuracies.append(float(np.mean(predicted == y_test)))
            if until is not None and accuracies[-1] >= until:
                break
    return {"epoch_seconds": seconds, "test_accuracy": accuracies[-1], "accuracy_curve": accuracies,
            "adam": adam_impl if config.optimizer == "adam" else None}


# --------------------------------------------------------------------- scikit-learn
def sklearn_model(config: Config, seed: int):
    from sklearn.neural_network import MLPClassifier

    options = dict(hidden_layer_sizes=tuple(config.sizes[1:-1]), alpha=0.0, batch_size=config.batch_size,
                   random_state=seed, shuffle=True)
    if config.optimizer == "sgd":  # A: the closest MLPClassifier gets (see Config.notes)
        return MLPClassifier(activation="logistic", solver="sgd", learning_rate_init=0.5, momentum=0.0,
                             nesterovs_momentum=False, learning_rate="constant", **options)
    activation = {"sigmoid": "logistic"}.get(config.activation, config.activation)
    return MLPClassifier(activation=activation, solver="adam", learning_rate_init=config.learning_rate, **options)


def train_sklearn(config: Config, data, epochs: int, seed: int, until=None) -> dict:
    import warnings

    x, y, x_test, y_test = data
    model = sklearn_model(config, seed)
    classes = np.arange(config.sizes[-1])
    seconds, accuracies = [], []
    for _ in range(epochs):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.partial_fit(x, y, classes=classes)
        seconds.append(time.perf_counter() - start)
        if until is not None or len(seconds) == epochs:
            accuracies.append(float(np.mean(model.predict(x_test) == y_test)))
            if until is not None and accuracies[-1] >= until:
                break
    return {"epoch_seconds": seconds, "test_accuracy": accuracies[-1], "accuracy_curve": accuracies,
            "dtype": str(model.coefs_[0].dtype)}


# --------------------------------------------------------------------- the book's loop
def train_textbook(config: Config, data, epochs: int, seed: int, until=None) -> dict:
    from textbook import TextbookNetwork, as_examples

    assert config.key == "A", "the textbook baseline is the book's first network: configuration A"
    x, y, x_test, y_test = data
    examples = as_examples(x, y)  # the book's (784, 1) columns, built before the clock starts
    tests = as_examples(x_test, y_test, one_hot=False)
    net = TextbookNetwork.from_digitnet(initial_network(config, seed))
    rng = np.random.default_rng(seed)
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        net.train_epoch(examples, config.batch_size, config.learning_rate, rng)
        seconds.append(time.perf_counter() - start)
    accuracy = net.evaluate(tests) / len(tests)
    return {"epoch_seconds": seconds, "test_accuracy": accuracy, "accuracy_curve": [accuracy]}


def train_reference(config: Config, data, epochs: int, seed: int, until=None) -> dict:
    """digitnet's reference engine (backprop.backward and Optimizer.step per batch): the 'before'."""
    return train_digitnet(config, data, epochs, seed, until, engine="reference")


def warm_up_compiled(trainer) -> float:
    """The compiled engine's warm-up, like JAX's ahead-of-time compile: the kernels loaded (or
    compiled, without a cache) on a throwaway network of the same dtype, and the training rows'
    nonzero index built. Returns the warm-up's seconds."""
    from digitnet.engines.compiled import warm_up

    start = time.perf_counter()
    warm_up(trainer.net.dtype, wide=trainer.plan.wide)
    trainer.plan.index(trainer.x)  # the nonzero index of the training rows: once per data set
    return time.perf_counter() - start


def train_compiled(config: Config, data, epochs: int, seed: int, until=None) -> dict:
    """digitnet's compiled engine (the first epoch includes loading the cached kernels)."""
    return train_digitnet(config, data, epochs, seed, until, engine="compiled")


def train_jax(config: Config, data, epochs: int, seed: int, until=None) -> dict:
    from jaxpeer import train_jax as train

    return train(config, data, epochs, seed, until)


TRAIN = {"digitnet": train_digitnet, "compiled": train_compiled, "reference": train_reference, "pytorch": train_torch,
         "jax": train_jax, "sklearn": train_sklearn, "textbook": train_textbook}


# --------------------------------------------------------------------- inference
def _median_us(call, repeats: int) -> tuple[float, float, float]:
    for _ in range(min(200, repeats)):
        call()
    times = []
    clock = time.perf_counter_ns
    for _ in range(repeats):
        start = clock()
        call()
        times.append(clock() - start)
    times.sort()
    return times[len(times) // 2] / 1e3, times[len(times) // 100] / 1e3, times[-len(times) // 100 - 1] / 1e3


def _batch_rate(call, n: int, repeats: int) -> float:
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return n / statistics.median(times)


def infer(framework: str, network: str, x_test, repeats: int, single_repeats: int) -> dict:
    """Images/s for the whole test set as one batch, and µs for one image (median, p1, p99)."""
    import digitnet as dn

    sizes, hidden, output = INFERENCE_NETWORKS[network]
    net = dn.Network(list(sizes), activation=hidden, output_activation=output, seed=0)
    x_test = np.ascontiguousarray(x_test, dtype=np.float32)
    one = x_test[:1]  # (1, 784)
    if framework == "digitnet":
        batch = lambda: net.predict(x_test)  # noqa: E731
        single = lambda: net.predict(one)  # noqa: E731
    elif framework == "compiled":  # the compiled forward on the network's layers, plus argmax
        from digitnet.engines.compiled import forward

        layers = net.layers
        batch = lambda: forward(layers, x_test).argmax(axis=1)  # noqa: E731
        single = lambda: forward(layers, one).argmax(axis=1)  # noqa: E731
    elif framework == "jax":
        from jaxpeer import infer_jax

        batch, single = infer_jax(sizes, hidden, output, net, x_test)
    elif framework == "pytorch":
        import torch

        config = Config("E", "", sizes, hidden, output, "", "sgd", 1.0, 1, net.init)
        model = torch_model(config, 0).eval()
        X, x1 = torch.from_numpy(x_test), torch.from_numpy(one)

        def batch():
            with torch.inference_mode():
                return model(X).argmax(1)

        def single():
            with torch.inference_mode():
                return model(x1).argmax(1)
    elif framework == "sklearn":
        config = Config("E", "", sizes, hidden, output, "", "adam", 1e-3, 200, net.init)
        model = sklearn_model(config, 0)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.partial_fit(x_test[:1000], np.arange(1000) % 10, classes=np.arange(10))
        batch = lambda: model.predict(x_test)  # noqa: E731
        single = lambda: model.predict(one)  # noqa: E731
    elif framework == "onnxruntime":
        import onnxruntime as ort

        from digitnet.interop.onnx import to_onnx

        options = ort.SessionOptions()  # its own thread pool, sized like the BLAS pools of the run
        options.intra_op_num_threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(to_onnx(net).SerializeToString(), options, providers=["CPUExecutionProvider"])
        batch = lambda: session.run(None, {"input": x_test})[0].argmax(1)  # noqa: E731
        single = lambda: session.run(None, {"input": one})[0].argmax(1)  # noqa: E731
    elif framework == "textbook":
        if network != "3b1b":
            return {}
        from textbook import TextbookNetwork

        book = TextbookNetwork.from_digitnet(net)
        columns = [row.astype(np.float64).reshape(-1, 1) for row in x_test]
        batch = lambda: [int(np.argmax(book.feedforward(c))) for c in columns]  # noqa: E731
        single = lambda: int(np.argmax(book.feedforward(columns[0])))  # noqa: E731
    else:
        raise ValueError(framework)
    rate = _batch_rate(batch, len(x_test), repeats if framework != "textbook" else 1)
    median, low, high = _median_us(single, single_repeats)
    return {"images_per_second": rate, "one_image_us": median, "one_image_us_p1": low, "one_image_us_p99": high}


# --------------------------------------------------------------------- the floor
def matmul_rate(threads: int, size: int = 2048, repeats: int = 5) -> float:
    """Best GFLOP/s of a float32 size×size matrix product through NumPy's BLAS."""
    rng = np.random.default_rng(0)
    A = rng.random((size, size), dtype=np.float32)
    B = rng.random((size, size), dtype=np.float32)
    C = np.empty((size, size), np.float32)
    np.matmul(A, B, out=C)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(A, B, out=C)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def matmuls_alone(config: Config, rows: int) -> float:
    """Seconds per epoch of the step's matrix products alone, at the configuration's shapes and in
    the fused engine's layout and calls (digitnet.engines.fused: the first layer as rows when it is narrow,
    columns after, np.dot where operands are contiguous): the arithmetic's floor at these sizes,
    the BLAS's per-call overhead included."""
    rng = np.random.default_rng(0)
    sizes, b = config.sizes, config.batch_size
    f32 = np.float32
    W = [rng.random((n_out, n_in + 1), dtype=f32) * 0.01 for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    X = rng.random((b, sizes[0]), dtype=f32)
    A = [rng.random((n + 1, b), dtype=f32) for n in sizes[1:-1]]
    Z0 = np.empty((b, sizes[1]), f32)
    Z = [np.empty((n, b), f32) for n in sizes[1:]]
    D = [rng.random((n, b), dtype=f32) * 0.01 for n in sizes[1:]]
    G = [np.empty_like(w) for w in W]
    W0, W0_T = W[0][:, :-1], W[0][:, :-1].T
    W_back = [w[:, :-1].T for w in W]
    ones = np.ones((b, 1), f32)
    layers = len(W)
    steps = math.ceil(rows / b)
    first_as_rows = sizes[1] < 128

    def step():
        if first_as_rows:
            np.matmul(X, W0_T, out=Z0)
        else:
            np.matmul(W0, X.T, out=Z[0])
        for l in range(1, layers):
            np.dot(W[l], A[l - 1], out=Z[l])
        for l in range(layers - 1, 0, -1):
            np.dot(D[l], A[l - 1].T, out=G[l])
            np.matmul(W_back[l], D[l], out=D[l - 1])
        np.matmul(D[0], X, out=G[0][:, :-1])
        np.matmul(D[0], ones, out=G[0][:, -1:])

    timed = min(steps, 2000)
    step()
    start = time.perf_counter()
    for _ in range(timed):
        step()
    return (time.perf_counter() - start) * steps / timed


def gather_alone(config: Config, x) -> float:
    """Seconds per epoch of copying the shuffled rows into blocks (as the fused engine does)."""
    from digitnet.engines.fused import BLOCK_ROWS

    rows = max(1, BLOCK_ROWS // config.batch_size) * config.batch_size
    order = np.random.default_rng(0).permutation(len(x))
    buffer = np.empty((rows, x.shape[1]), x.dtype)
    start = time.perf_counter()
    for first in range(0, len(x) - rows + 1, rows):
        np.take(x, order[first : first + rows], axis=0, out=buffer, mode="clip")
    return time.perf_counter() - start


def update_alone(config: Config, rows: int) -> float:
    """Seconds per epoch of the optimizer's update as the fused engine runs it: on the plan's one
    flat parameter vector θ and gradient g, through the optimizer's public rule (plain SGD: the
    single subtraction θ ← θ − g, η being folded into g; Adam: Adam.scaled_update, the ten-pass
    form; momentum: Optimizer.update). No weight decay, as in configurations A–D."""
    import digitnet as dn
    from digitnet.engines.fused import FusedPlan
    from digitnet.losses import get_loss

    net = initial_network(config, 0)
    optimizer = dn.make_optimizer(config.optimizer, config.learning_rate)
    plan = FusedPlan(net, get_loss(config.loss, config.output), optimizer, config.batch_size, 0.0)
    plan.load()  # θ and the optimizer's state as the engine holds them during an epoch
    theta, grad, state = plan.theta, plan.grad, plan.state
    grad[...] = 1e-3
    if plan.fold_sgd:
        update = lambda: np.subtract(theta, grad, out=theta)  # noqa: E731
    elif plan.adam:
        coupled, factor = optimizer.decay_terms(plan.decay_mask, plan.dtype)
        arguments = (theta, grad, state["m"], state["s"], plan.work[0], coupled, factor)
        update = lambda: optimizer.scaled_update(*arguments)  # noqa: E731
    else:
        buffers = [state[name] for name in optimizer.state_names]
        update = lambda: optimizer.update(theta, grad, buffers, 0.0, plan.work)  # noqa: E731
    steps = math.ceil(rows / config.batch_size)
    timed = min(steps, 2000)
    start = time.perf_counter()
    for _ in range(timed):
        optimizer.t += 1
        update()
    return (time.perf_counter() - start) * steps / timed


# --------------------------------------------------------------------- start-up of the compiled engine
def compiled_startup() -> dict:
    """Seconds to import Numba, to get the training kernel ready (compiled, or loaded from Numba's
    cache: run.py points NUMBA_CACHE_DIR at an empty directory for the cold measurement) and to
    run its first call on 64 images, and the same for the inference kernels and for the wide
    network's kernels."""
    import digitnet as dn
    from digitnet.losses import get_loss

    start = time.perf_counter()
    import numba  # noqa: F401

    from digitnet.engines.compiled import CompiledPlan, forward, kernels

    kernels()
    imported = time.perf_counter()
    rng = np.random.default_rng(0)
    x = rng.random((64, 784), dtype=np.float32)
    x[x < 0.8] = 0.0
    labels = np.arange(64) % 10
    Y = np.eye(10, dtype=np.float32)[labels]
    net = dn.Network([784, 16, 16, 10], seed=0)
    plan = CompiledPlan(net, get_loss("quadratic", "sigmoid"), dn.make_optimizer("sgd", 3.0), 10, 0.0)
    plan.run_epoch(x, Y, labels, np.arange(64), rng)
    trained = time.perf_counter()
    forward(net.layers, x[:1])
    forward(net.layers, x)
    inferred = time.perf_counter()
    # The wide path's kernels (engines/wide.py, and with two threads the team's: engines/blas_calls.py):
    # config C's network for two steps of 32, products big enough to be split.
    wide = dn.Network([784, 800, 800, 10], activation="relu", output_activation="softmax", seed=0)
    plan = CompiledPlan(wide, get_loss("cross-entropy", "softmax"), dn.make_optimizer("adam", 1e-3), 32, 0.0)
    plan.run_epoch(x, Y, labels, np.arange(64), rng)
    widened = time.perf_counter()
    return {"import_s": imported - start, "training_kernel_s": trained - imported, "inference_kernels_s": inferred - trained,
            "wide_kernels_s": widened - inferred}
