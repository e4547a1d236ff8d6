"""PyTorch as the reference: same weights and batch -> same outputs, losses, gradients, and the
same parameters after 10 optimizer steps (SGD, momentum, Nesterov, Adam, AdamW, weight decay).

Torch computes the same network its own way (nn.functional, autograd, torch.optim), so this
checks the conventions too: W is (n_out, n_in) like nn.Linear.weight, the quadratic cost is
½‖a − y‖² averaged over the batch, cross-entropy is torch's on the logits, decay skips biases.
The largest differences seen are kept in WORST_DIFFERENCES and printed at the end (pytest -s).
"""

from __future__ import annotations

import numpy as np
import pytest

import digitnet as dn

torch = pytest.importorskip("torch")
F = torch.nn.functional

TORCH_ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "leaky_relu": lambda Z: F.leaky_relu(Z, negative_slope=0.01),
    "tanh": torch.tanh,
    "identity": lambda Z: Z,
    "softmax": lambda Z: torch.softmax(Z, dim=1),
}

WORST_DIFFERENCES: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def single_threaded_torch():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    if WORST_DIFFERENCES:
        print("\nlargest difference from torch (max |ours − torch| / max |torch|):")
        for key, value in sorted(WORST_DIFFERENCES.items()):
            print(f"  {key:50s} {value:.3e}")


def record(key: str, value: float) -> None:
    WORST_DIFFERENCES[key] = max(value, WORST_DIFFERENCES.get(key, 0.0))


def difference(ours: np.ndarray, theirs) -> float:
    """max |ours − theirs| relative to the size of theirs (max |theirs|, at least 1e-30)."""
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    assert ours.shape == theirs.shape
    return float(np.abs(ours.astype(np.float64) - theirs).max() / max(np.abs(theirs).max(), 1e-30))


def torch_parameters(net):
    """Leaf tensors holding copies of the network's weights and biases: [W₀, b₀, W₁, b₁, ...]."""
    return [torch.tensor(array.copy(), requires_grad=True) for array in net.parameters()]


def torch_forward(net, params, X):
    """Returns (activations [X, A₁, ..., A_L], output pre-activation Z_L)."""
    A = torch.from_numpy(np.asarray(X, dtype=net.dtype))
    activations = [A]
    for layer, W, b in zip(net.layers, params[0::2], params[1::2]):
        Z = F.linear(A, W, b)  # A @ Wᵀ + b, nn.Linear's convention
        A = TORCH_ACTIVATIONS[layer.activation](Z)
        activations.append(A)
    return activations, Z


def torch_loss(loss, Z, A, labels, dtype):
    n, k = A.shape
    if loss == "quadratic":
        Y = F.one_hot(torch.from_numpy(labels), k).to(A.dtype)
        return 0.5 * ((A - Y) ** 2).sum(1).mean()
    if loss == "cross-entropy":
        return F.cross_entropy(Z, torch.from_numpy(labels))
    if loss == "binary-cross-entropy":
        Y = F.one_hot(torch.from_numpy(labels), k).to(A.dtype)
        return F.binary_cross_entropy_with_logits(Z, Y, reduction="sum") / n
    raise AssertionError(loss)


COMBINATIONS = [
    ("sigmoid", "sigmoid", "quadratic"),  # the video's network
    ("relu", "softmax", "cross-entropy"),
    ("sigmoid", "softmax", "cross-entropy"),
    ("relu", "softmax", "quadratic"),  # softmax's Jacobian, not the fused form
    ("tanh", "identity", "quadratic"),
    ("leaky_relu", "sigmoid", "binary-cross-entropy"),
    ("identity", "tanh", "quadratic"),
]


def batch(n=64, n_in=784, n_out=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, size=(n, n_in)).astype(np.float32), rng.integers(0, n_out, size=n)


@pytest.mark.parametrize("hidden, output, loss", COMBINATIONS)
def test_forward_loss_and_gradients_match_torch_float32(hidden, output, loss):
    net = dn.Network([784, 32, 16, 10], activation=hidden, output_activation=output, seed=1)
    X, labels = batch()
    params = torch_parameters(net)
    activations, Z = torch_forward(net, params, X)
    for l, (ours, theirs) in enumerate(zip(net.activations(X), activations)):
        error = difference(ours, theirs)
        record("forward activations (float32)", error)
        assert error < 1e-5, f"layer {l} activations differ by {error:.2e}"

    reference = torch_loss(loss, Z, activations[-1], labels, net.dtype)
    reference.backward()
    loss_error = abs(net.loss(X, labels, loss=loss) - reference.item()) / abs(reference.item())
    record("loss value (float32)", loss_error)
    assert loss_error < 1e-5

    ours = [g for pair in net.gradients(X, labels, loss=loss) for g in pair]
    for i, (g, p) in enumerate(zip(ours, params)):
        assert g.dtype == np.float32
        error = difference(g, p.grad)
        record(f"gradients (float32) {hidden}->{output}/{loss}", error)
        assert error < 1e-5, f"parameter {i} gradient differs by {error:.2e}"


@pytest.mark.parametrize("hidden, output, loss", COMBINATIONS)
def test_gradients_match_torch_float64(hidden, output, loss):
    net = dn.Network([30, 16, 12, 10], activation=hidden, output_activation=output, seed=2, dtype="float64")
    X, labels = batch(n=20, n_in=30, seed=3)
    params = torch_parameters(net)
    activations, Z = torch_forward(net, params, X)
    torch_loss(loss, Z, activations[-1], labels, net.dtype).backward()
    ours = [g for pair in net.gradients(X, labels, loss=loss) for g in pair]
    for g, p in zip(ours, params):
        error = difference(g, p.grad)
        record("gradients (float64)", error)
        assert error < 1e-12


@pytest.mark.parametrize("targets", ["distributions", "unnormalised"])
def test_cross_entropy_with_soft_targets_matches_torch(targets):
    net = dn.Network([30, 16, 10], activation="relu", output_activation="softmax", seed=7, dtype="float64")
    X, _ = batch(n=12, n_in=30, seed=8)
    rng = np.random.default_rng(9)
    Y = rng.dirichlet(np.ones(10), size=12) if targets == "distributions" else rng.uniform(0, 2, size=(12, 10))
    params = torch_parameters(net)
    _, Z = torch_forward(net, params, X)
    reference = F.cross_entropy(Z, torch.from_numpy(Y))  # −(1/n) Σ y log softmax(z)
    reference.backward()
    assert net.loss(X, Y, loss="cross-entropy") == pytest.approx(reference.item(), rel=1e-12)
    ours = [g for pair in net.gradients(X, Y, loss="cross-entropy") for g in pair]
    for g, p in zip(ours, params):
        error = difference(g, p.grad)
        record("gradients (float64), soft cross-entropy targets", error)
        assert error < 1e-12


# ----------------------------------------------------------------- optimizer trajectories
OPTIMIZERS = {
    # name: (our optimizer, options, torch optimizer factory(groups), learning rate)
    "sgd": ("sgd", {}, lambda g, lr: torch.optim.SGD(g, lr=lr), 0.5),
    "sgd+decay": ("sgd", {"weight_decay": 0.01}, lambda g, lr: torch.optim.SGD(g, lr=lr), 0.5),
    "momentum": ("momentum", {"momentum": 0.9}, lambda g, lr: torch.optim.SGD(g, lr=lr, momentum=0.9), 0.1),
    "nesterov": (
        "momentum", {"momentum": 0.9, "nesterov": True},
        lambda g, lr: torch.optim.SGD(g, lr=lr, momentum=0.9, nesterov=True), 0.1,
    ),
    "momentum+decay": (
        "momentum", {"momentum": 0.8, "weight_decay": 0.05},
        lambda g, lr: torch.optim.SGD(g, lr=lr, momentum=0.8), 0.1,
    ),
    "adam": ("adam", {}, lambda g, lr: torch.optim.Adam(g, lr=lr), 0.01),
    "adam+decay": ("adam", {"weight_decay": 0.05}, lambda g, lr: torch.optim.Adam(g, lr=lr), 0.01),
    "adamw": ("adamw", {"weight_decay": 0.1}, lambda g, lr: torch.optim.AdamW(g, lr=lr), 0.01),
}
STEPS = 10


def torch_optimizer(key, params):
    _, options, factory, lr = OPTIMIZERS[key]
    decay = options.get("weight_decay", 0.0)
    groups = [
        {"params": params[0::2], "weight_decay": decay},  # weights
        {"params": params[1::2], "weight_decay": 0.0},  # biases: never decayed
    ]
    return factory(groups, lr)


def torch_trajectory(net, key, batches, loss):
    params = torch_parameters(net)
    optimizer = torch_optimizer(key, params)
    for X, labels in batches:
        optimizer.zero_grad()
        activations, Z = torch_forward(net, params, X)
        torch_loss(loss, Z, activations[-1], labels, net.dtype).backward()
        optimizer.step()
    return params


def trajectory_problem(dtype, seed=4):
    net = dn.Network([20, 16, 12, 5], activation="relu", output_activation="softmax", seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(16 * STEPS, 20)).astype(dtype)
    labels = rng.integers(0, 5, size=len(x))
    batches = [(x[i : i + 16], labels[i : i + 16]) for i in range(0, len(x), 16)]
    return net, x, labels, batches


@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-11), ("float32", 1e-5)])
@pytest.mark.parametrize("key", list(OPTIMIZERS))
def test_ten_optimizer_steps_match_torch(key, dtype, tolerance):
    net, _, _, batches = trajectory_problem(dtype)
    theirs = torch_trajectory(net, key, batches, "cross-entropy")
    name, options, _, lr = OPTIMIZERS[key]
    optimizer = dn.make_optimizer(name, lr, **options)
    for X, labels in batches:
        grads = [g for pair in net.gradients(X, labels, loss="cross-entropy") for g in pair]
        optimizer.step(net.parameters(), grads)
    for i, (p, t) in enumerate(zip(net.parameters(), theirs)):
        error = difference(p, t)
        record(f"{key} after {STEPS} steps ({dtype})", error)
        assert error < tolerance, f"parameter {i} differs by {error:.2e}"


@pytest.mark.parametrize("key", list(OPTIMIZERS))
def test_train_full_batch_matches_torch(key):
    # train() with one batch per epoch takes exactly torch's full-batch steps: this checks the
    # wiring (options, decay, loss) through the public entry point.
    net, x, labels, _ = trajectory_problem("float64", seed=5)
    theirs = torch_trajectory(net, key, [(x, labels)] * STEPS, "cross-entropy")
    name, options, _, lr = OPTIMIZERS[key]
    dn.train(net, x, labels, epochs=STEPS, batch_size=len(x), learning_rate=lr, optimizer=name,
             loss="cross-entropy", seed=0, **options)
    for p, t in zip(net.parameters(), theirs):
        error = difference(p, t)
        record(f"train() {key}, {STEPS} full-batch epochs (float64)", error)
        assert error < 1e-11


def test_video_network_sgd_matches_torch_float32():
    # The video's recipe: sigmoid everywhere, quadratic cost, plain SGD with learning rate 3.0.
    net = dn.Network([784, 16, 16, 10], seed=6)
    batches = [batch(n=10, seed=s) for s in range(STEPS)]
    params = torch_parameters(net)
    optimizer = torch.optim.SGD(params, lr=3.0)
    for X, labels in batches:
        optimizer.zero_grad()
        activations, Z = torch_forward(net, params, X)
        torch_loss("quadratic", Z, activations[-1], labels, net.dtype).backward()
        optimizer.step()
        dn.SGD(3.0).step(net.parameters(), [g for pair in net.gradients(X, labels) for g in pair])
    for p, t in zip(net.parameters(), params):
        error = difference(p, t)
        record("video network, SGD 10 steps (float32)", error)
        assert error < 1e-5
