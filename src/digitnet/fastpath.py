"""The training hot path: one epoch of mini-batch gradient descent with nothing allocated per step.

The mathematics is exactly that of Network._backward and the optimizers (see network.py and
optimizers.py); only the arrangement differs, because for networks of this size the cost of a
step is mostly the overhead of each NumPy call, not arithmetic:

- Columns. Inside the hot path a batch is stored one example per *column*, the book's column
  vectors side by side: activations Aᵀ are (units, b), and a layer is Zᵀ = W Aᵀ + b, exactly the
  video's z = W a + b for b examples at once. Every buffer an elementwise operation touches is then
  contiguous (a strided view costs NumPy several times more per call than a contiguous one).
- Augmented weights. Each layer keeps its weight and bias together as W̃ = [W | b], (n_out, n_in + 1),
  and each hidden activation buffer has a last row of ones, ãᵀ = [aᵀ; 1]. Then z = W̃ ã adds the
  bias inside the matrix product, and ∂C/∂W̃ = dZ ãᵀ gives ∂C/∂W and ∂C/∂b in one call. The first
  layer reads the gathered input rows directly, so it adds its bias and sums its bias gradient
  separately.
- One flat vector. Every W̃ is a view of one flat parameter vector θ, every gradient a view of one
  flat g, and the optimizer state the same, so an update is a handful of whole-vector operations
  (optimizers.Optimizer._update) however many layers there are. Plain SGD goes further: η is
  folded into the output delta, so the update is the single subtraction θ ← θ − g; Adam takes
  1 − β₁ there and runs in ten passes (_FusedAdam).
- Preallocated, reused buffers; activations applied in place; constants as 0-d arrays; the
  training rows gathered by shuffled index in blocks of about 512 rows (the data stays where it
  is, contiguous; each block is one np.take, done ahead on a spare core when there is one), with
  the targets, dropout masks, loss and accuracy handled once per block.
- Threads per shape: small products run on one BLAS thread (see SMALL_MATMUL).

Weights, biases and optimizer buffers are copied into θ at the start of an epoch and written back
(into the network's own arrays, in place) at its end, so a Trainer's state, checkpoints and resume
are unchanged. The generator is used only for the dropout masks, drawn once per block but in
exactly the order the reference loop draws them, so both paths see the same masks: the same seed
gives bit-identical weights, and an epoch consumes the generator the same way whether or not the
run was resumed before it.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from digitnet.activations import ACTIVATIONS
from digitnet.layers import _ONE, _ZERO, identity_in_place, relu_in_place, sigmoid_in_place, tanh_in_place
from digitnet.losses import Loss
from digitnet.network import Network
from digitnet.optimizers import SGD, Adam, AdamW, Momentum, Optimizer

Array = NDArray[np.floating]

# Rows gathered per block: large enough to make the per-block work negligible, small enough that
# a block of 784-pixel rows (1.6 MB in float32) stays in this machine's 2 MB L2 cache.
BLOCK_ROWS = 512

# Threads per shape: below about this many multiply-adds in a step's largest matrix product, a
# second BLAS thread costs more in hand-off than it saves (measured on this project's 2-core
# machine: 128×784×16 ran 2.5× slower on 2 threads, 32×784×100 1.5× faster), so such networks
# train on one thread whatever the thread setting. Needs threadpoolctl; without it nothing changes.
SMALL_MATMUL = 2_000_000

# When the thread budget has a core that BLAS leaves idle (small products run on one thread), the
# next block of shuffled rows is gathered on it while the current block trains, from this batch
# size up: at batch 128 that hides the gather (a sixth of the 3b1b-sized network's epoch). At
# batch 10 the worker's GIL hand-offs to a step loop of ~30 NumPy calls cost about what they save
# (measured: ±5%), and where BLAS itself uses both cores the extra thread only competes.
PREFETCH_MIN_BATCH = 32

# The optimizers whose update rule this path runs (a subclass may change the rule: it takes the
# reference path in Trainer).
SUPPORTED_OPTIMIZERS = (SGD, Momentum, Adam, AdamW)


def supports(optimizer: Optimizer) -> bool:
    """Whether the fast path runs this optimizer's exact update rule."""
    return type(optimizer) in SUPPORTED_OPTIMIZERS


def blas_threads(sizes: list[int], batch_size: int) -> int | None:
    """1 for networks whose matrix products are too small to share, None (keep the setting) otherwise."""
    largest = batch_size * max(n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    return 1 if largest < SMALL_MATMUL else None


_controller = None


def limit_blas_threads(threads: int | None):
    """A context limiting BLAS to `threads` (threadpoolctl), or doing nothing."""
    controller = _get_controller() if threads is not None else None
    if controller is None:
        return contextlib.nullcontext()
    return controller.limit(limits=threads, user_api="blas")


def current_blas_threads() -> int:
    """The number of threads BLAS may use now (1 if threadpoolctl cannot tell)."""
    controller = _get_controller()
    if controller is None:
        return 1
    counts = [lib.num_threads for lib in controller.select(user_api="blas").lib_controllers]
    return max(1, min(counts, default=1))


def _get_controller():
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            return None
        _controller = ThreadpoolController()
    return _controller


_pool = None


def _forget_pool() -> None:
    global _pool
    _pool = None  # a forked child has the executor object but not its thread


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _thread_pool():
    global _pool
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="digitnet-gather")
    return _pool


# --------------------------------------------------------------------- in-place activations
# forward(Z): A = σ(Z) written over Z (digitnet.layers).  backward(dA, A, T): dA ← dA ⊙ σ'(Z),
# from A, with T a scratch array of dA's shape. Each performs the same operations as its
# counterpart in activations.py, so the values are the same.


def _sigmoid_backward(dA: Array, A: Array, T: Array) -> None:
    np.subtract(_ONE[A.dtype], A, out=T)  # σ' = a(1 − a)
    np.multiply(A, T, out=T)
    np.multiply(dA, T, out=dA)


def _relu_backward(dA: Array, A: Array, T: Array) -> None:
    np.greater(A, _ZERO[A.dtype], out=T)  # relu' = [z > 0] = [a > 0]
    np.multiply(dA, T, out=dA)


def _tanh_backward(dA: Array, A: Array, T: Array) -> None:
    np.multiply(A, A, out=T)  # tanh' = 1 − a²
    np.subtract(_ONE[A.dtype], T, out=T)
    np.multiply(dA, T, out=dA)


def _identity_backward(dA: Array, A: Array, T: Array) -> None:
    pass


def _bound(name: str, dtype: np.dtype) -> tuple[Callable, Callable]:
    """(forward, backward) of IN_PLACE[name], with the sigmoid's constants bound as 0-d arrays of
    dtype once (at batch 10 the two dictionary look-ups per call are worth saving). Same
    operations as layers.sigmoid_in_place and _sigmoid_backward."""
    if name != "sigmoid":
        return IN_PLACE[name]
    half, one = np.array(0.5, dtype), np.array(1.0, dtype)
    multiply, add, subtract, tanh = np.multiply, np.add, np.subtract, np.tanh

    def forward(Z: Array) -> None:  # (out given by position: a little quicker to parse)
        multiply(Z, half, Z)
        tanh(Z, Z)
        add(Z, one, Z)
        multiply(Z, half, Z)

    def backward(dA: Array, A: Array, T: Array) -> None:
        subtract(one, A, T)
        multiply(A, T, T)
        multiply(dA, T, dA)

    return forward, backward


def _generic_forward(name: str) -> Callable[[Array], None]:
    function = ACTIVATIONS[name].function

    def forward(Z: Array) -> None:
        Z[...] = function(Z)

    return forward


def _generic_backward(name: str) -> Callable[[Array, Array, Array], None]:
    derivative = ACTIVATIONS[name].derivative

    def backward(dA: Array, A: Array, T: Array) -> None:
        np.multiply(dA, derivative(A), out=dA)

    return backward


def _softmax_columns(Z: Array, row: Array) -> None:
    """softmax over each column of Z (one example per column), in place; row: (1, b) scratch."""
    np.max(Z, axis=0, keepdims=True, out=row)  # subtract the max: exp ≤ 1
    np.subtract(Z, row, out=Z)
    np.exp(Z, out=Z)
    np.sum(Z, axis=0, keepdims=True, out=row)
    np.divide(Z, row, out=Z)


IN_PLACE = {
    "sigmoid": (sigmoid_in_place, _sigmoid_backward),
    "relu": (relu_in_place, _relu_backward),
    "tanh": (tanh_in_place, _tanh_backward),
    "identity": (identity_in_place, _identity_backward),
    "leaky_relu": (_generic_forward("leaky_relu"), _generic_backward("leaky_relu")),
}


# --------------------------------------------------------------------- Adam in fewer passes
class _FusedAdam:
    """Adam and AdamW on the flat θ in ten whole-vector passes instead of twelve.

    Two exact rescalings do it. The output delta is scaled by (1 − β₁), so the gradient arrives
    as g′ = (1 − β₁)g and m ← β₁m + g′ takes two passes; and s is kept as s̃ = s/k with
    k = (1 − β₂)/(1 − β₁)², so s̃ ← β₂s̃ + g′² takes three. k then returns in the step's constants:
        p ← p − (η/c₁)√(c₂/k) · m / (√s̃ + ε√(c₂/k))      (c₁ = 1 − β₁ᵗ, c₂ = 1 − β₂ᵗ)
    which is PyTorch's p − (η/c₁) m / (√(s/c₂) + ε) up to rounding. Between epochs the optimizer
    holds the true m and s (s = k·s̃, and load() divides by k again in every run, resumed or not),
    so its checkpoints mean what the reference path's mean and resuming stays bit-identical.
    Weight decay: coupled (Adam) adds (1 − β₁)λp to g′; decoupled (AdamW) multiplies p by
    1 − ηλ, both only where θ holds weights.
    """

    def __init__(self, optimizer: Adam) -> None:
        self.optimizer = optimizer
        self.gradient_scale = 1.0 - optimizer.beta1
        self.k = (1.0 - optimizer.beta2) / (1.0 - optimizer.beta1) ** 2

    def constants(self, decay_mask: Array) -> tuple:
        """Per-epoch vectors: the coupled decay (1 − β₁)λ·mask, or AdamW's factor 1 − ηλ·mask."""
        optimizer = self.optimizer
        if not optimizer.weight_decay:
            return None, None
        if isinstance(optimizer, AdamW):
            factor = 1.0 - optimizer.learning_rate * optimizer.weight_decay * decay_mask
            return None, factor.astype(decay_mask.dtype)
        return (self.gradient_scale * optimizer.weight_decay * decay_mask).astype(decay_mask.dtype), None

    def __call__(self, p: Array, g: Array, m: Array, s: Array, w: Array, decay, factor) -> None:
        optimizer = self.optimizer
        beta1, beta2, t = optimizer.beta1, optimizer.beta2, optimizer.t
        if factor is not None:
            np.multiply(p, factor, out=p)  # AdamW: p ← p(1 − ηλ) at the weights
        if decay is not None:
            np.multiply(p, decay, out=w)  # Adam: g′ ← g′ + (1 − β₁)λp at the weights
            np.add(g, w, out=g)
        np.multiply(m, beta1, out=m)
        np.add(m, g, out=m)
        np.multiply(g, g, out=w)
        np.multiply(s, beta2, out=s)
        np.add(s, w, out=s)
        root = math.sqrt((1.0 - beta2**t) / self.k)
        np.sqrt(s, out=w)
        np.add(w, optimizer.eps * root, out=w)
        np.divide(m, w, out=w)
        np.multiply(w, optimizer.learning_rate * root / (1.0 - beta1**t), out=w)
        np.subtract(p, w, out=p)


# --------------------------------------------------------------------- buffers for one batch width
class _Workspace:
    """Every array one block of steps of batch width w needs, allocated once.

    X: (k·w, n₀) gathered input rows; Y: (k·w, n_L) their targets; Yc: (k, n_L, w) the same as
    columns; O: (k, n_L, w) each step's output columns (kept for the block's loss and accuracy);
    A[l]: (n_l + 1, w) hidden activations with a last row of ones; M[l]: (k, n_l + 1, w) dropout
    masks (last row 1); AD[l]: the dropped activations; D[l], T[l]: (n_l, w) deltas and scratch.
    """

    def __init__(self, plan: "TrainingPlan", width: int, steps: int) -> None:
        dtype, sizes = plan.dtype, plan.sizes
        self.width, self.steps = width, steps
        rows = width * steps
        self.X = np.empty((rows, sizes[0]), dtype)
        self.Y = np.empty((rows, sizes[-1]), dtype)
        self.Yc = np.empty((steps, sizes[-1], width), dtype)
        self.O = np.empty((steps, sizes[-1], width), dtype)
        self.row_sums = np.empty((steps, 1, width), dtype) if plan.needs_row_sums else None
        self.labels = np.empty(rows, np.intp)
        hidden = sizes[1:-1]
        self.A = [np.ones((units + 1, width), dtype) for units in hidden]
        self.AD = [np.ones((units + 1, width), dtype) for units in hidden] if plan.dropout else []
        self.M = [np.ones((steps, units + 1, width), dtype) for units in hidden] if plan.dropout else []
        self.D = [np.empty((units, width), dtype) for units in sizes[1:]]
        self.T = [np.empty((units, width), dtype) for units in sizes[1:]]
        self.ones = np.ones((width, 1), dtype)  # for the first layer's bias gradient dZ·1
        self.row = np.empty((1, width), dtype)  # softmax scratch
        # Views made once, not per step: each step's rows and columns, hidden outputs without the
        # row of ones, what feeds the next layer (dropped or not), each step's masks.
        self.rows = [self.X[j * width : (j + 1) * width] for j in range(steps)]  # (w, n₀)
        self.columns = [rows.T for rows in self.rows]  # (n₀, w)
        self.Z0 = np.empty((width, sizes[1]), dtype)  # the first layer's sums, one row per example
        self.H = [A[:-1] for A in self.A]  # (n_l, w)
        self.inputs = self.AD if plan.dropout else self.A  # ãᵀ, (n_l + 1, w)
        self.inputs_T = [inputs.T for inputs in self.inputs]
        self.masks = [[M[j] for j in range(steps)] for M in self.M]
        self.mask_rows = [[M[j, :-1] for j in range(steps)] for M in self.M]


# --------------------------------------------------------------------- the plan
class TrainingPlan:
    """Flat parameters, views and buffers for training one network with one optimizer.

    Built once by a Trainer; run_epoch() trains one epoch. The network and optimizer remain the
    source of truth between epochs: load() copies them in, store() writes them back.
    """

    def __init__(self, net: Network, cost: Loss, optimizer: Optimizer, batch_size: int, dropout: float) -> None:
        assert supports(optimizer)
        self.net, self.cost, self.optimizer = net, cost, optimizer
        self.sizes = list(net.sizes)
        self.dtype = net.dtype
        self.batch_size = batch_size
        self.dropout = float(dropout)
        self.layers = len(net.layers)
        self.activations = [layer.activation for layer in net.layers]
        hidden = self.activations[:-1]
        self.hidden = [_bound(name, self.dtype) for name in hidden]
        self.output_activation = net.output_activation
        output = net.output_activation
        self.output_forward = None if output == "softmax" else _bound(output, self.dtype)[0]
        self.fused = cost.fused_with == net.output_activation
        quadratic_elementwise = cost.name == "quadratic" and net.output_activation in IN_PLACE
        self.output_backward = _bound(output, self.dtype)[1] if quadratic_elementwise else None
        self.needs_row_sums = False  # set per data set by bind()

        # θ: every W̃ = [W | b] (n_out, n_in + 1) one after another; g and the optimizer state alike.
        shapes = [(n_out, n_in + 1) for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:])]
        total = sum(rows * cols for rows, cols in shapes)
        self.theta = np.zeros(total, self.dtype)
        self.grad = np.zeros(total, self.dtype)
        self.work = (np.empty(total, self.dtype), np.empty(total, self.dtype))
        self.state = {name: np.zeros(total, self.dtype) for name in optimizer._state_names}
        self.W = self._views(self.theta, shapes)
        self.G = self._views(self.grad, shapes)
        self.state_views = {name: self._views(flat, shapes) for name, flat in self.state.items()}
        # Weight decay reaches weights, not biases: λ at every weight of θ, 0 at every bias.
        self.decay_mask = np.ones(total, self.dtype)
        for W in self._views(self.decay_mask, shapes):
            W[:, -1] = 0.0
        # Views used every step.
        self.W0 = self.W[0][:, :-1]  # (n₁, n₀), the first layer's weights
        self.W0_T = self.W0.T  # (n₀, n₁)
        self.b0 = self.W[0][:, -1:]  # (n₁, 1), its bias as a column
        self.G0 = self.G[0][:, :-1]
        self.g0 = self.G[0][:, -1:]
        self.W_back = [W[:, :-1].T for W in self.W]  # Wᵀ without the bias column, (n_in, n_out)
        self.workspaces: dict[tuple[int, int], _Workspace] = {}
        # Plain SGD takes η in the output delta (its update is then θ ← θ − g); Adam takes 1 − β₁.
        self.fold_sgd = type(optimizer) is SGD
        self.adam = _FusedAdam(optimizer) if type(optimizer) in (Adam, AdamW) else None
        self.state_scale = {"s": self.adam.k} if self.adam else {}

    def fits(self, net: Network, cost: Loss, optimizer: Optimizer, batch_size: int, dropout: float) -> bool:
        """Whether this plan was built for exactly these settings (a Trainer's may be changed)."""
        return (
            (self.net, self.cost, self.optimizer) == (net, cost, optimizer)
            and (self.batch_size, self.dropout) == (batch_size, float(dropout))
            and self.sizes == list(net.sizes)
            and self.activations == [layer.activation for layer in net.layers]
        )

    @staticmethod
    def _views(flat: Array, shapes) -> list[Array]:
        views, offset = [], 0
        for rows, cols in shapes:
            views.append(flat[offset : offset + rows * cols].reshape(rows, cols))
            offset += rows * cols
        return views

    def _workspace(self, width: int, steps: int, copy: int = 0) -> _Workspace:
        """The buffers for blocks of `steps` steps of width `width` (two copies when prefetching)."""
        key = (width, copy)
        if key not in self.workspaces or self.workspaces[key].steps < steps:
            self.workspaces[key] = _Workspace(self, width, steps)
        return self.workspaces[key]

    # ----------------------------------------------------------------- network <-> θ
    def load(self) -> None:
        """Copy the network's weights and biases and the optimizer's buffers into the flat arrays."""
        for W, layer in zip(self.W, self.net.layers):
            W[:, :-1] = layer.weight
            W[:, -1] = layer.bias
        for name, views in self.state_views.items():
            buffers = self.optimizer.state.get(name)
            for l, view in enumerate(views):
                if buffers:
                    view[:, :-1] = buffers[2 * l]
                    view[:, -1] = buffers[2 * l + 1]
                else:
                    view[...] = 0.0
            if name in self.state_scale:  # kept divided by a constant (see _FusedAdam)
                np.divide(self.state[name], self.dtype.type(self.state_scale[name]), out=self.state[name])

    def store_weights(self) -> None:
        """Write θ back into the network's own weight and bias arrays (in place)."""
        for W, layer in zip(self.W, self.net.layers):
            layer.weight[...] = W[:, :-1]
            layer.bias[...] = W[:, -1]

    def store(self) -> None:
        """Write θ into the network and the flat state into the optimizer's buffers."""
        self.store_weights()
        optimizer = self.optimizer
        if self.state and not optimizer.state:  # its first steps: create the buffers as step() would
            optimizer.state = {
                name: [np.zeros_like(p) for p in self.net.parameters()] for name in optimizer._state_names
            }
        for name, views in self.state_views.items():
            buffers = optimizer.state[name]
            scale = self.dtype.type(self.state_scale.get(name, 1.0))
            for l, view in enumerate(views):
                np.multiply(view[:, :-1], scale, out=buffers[2 * l])
                np.multiply(view[:, -1], scale, out=buffers[2 * l + 1])

    # ----------------------------------------------------------------- one epoch
    def run_epoch(
        self,
        x: Array,
        Y: Array,
        labels: NDArray[np.integer],
        order: NDArray[np.integer],
        rng: np.random.Generator,
        on_batch: Callable[[int, int, float], None] | None = None,
        report_every: int = 1,
    ) -> tuple[float, int]:
        """Train one epoch over the examples in `order`; returns (summed loss, correct predictions).

        x: (n, n₀) contiguous inputs; Y: (n, n_L) targets; labels: (n,). The network and the
        optimizer are read at the start and written back at the end (also if interrupted).
        """
        self.needs_row_sums = self.fused and self.output_activation == "softmax" and not self._rows_sum_to_one(Y)
        self.load()
        threads = current_blas_threads()  # the caller's thread budget (before narrowing it below)
        try:
            with limit_blas_threads(blas_threads(self.sizes, self.batch_size)):
                return self._epoch(x, Y, labels, order, rng, on_batch, report_every, threads)
        finally:
            self.store()

    def _rows_sum_to_one(self, Y: Array) -> bool:
        if getattr(self, "_checked_targets", None) is not Y:
            self._checked_targets = Y
            self._targets_sum_to_one = bool(np.all(Y.sum(axis=1) == 1))
        return self._targets_sum_to_one

    def _epoch(self, x, Y, labels, order, rng, on_batch, report_every, threads: int) -> tuple[float, int]:
        n, b = len(order), self.batch_size
        full_steps, tail = divmod(n, b)
        steps_per_block = max(1, BLOCK_ROWS // b)
        # (first row, batch width, steps) for each block: full-width blocks, then the short tail.
        blocks = [(start, b, min(steps_per_block, full_steps - start // b)) for start in range(0, full_steps * b, steps_per_block * b)]
        if tail:
            blocks.append((full_steps * b, tail, 1))
        self.total_loss, self.correct = 0.0, 0
        self.on_batch, self.report_every, self.n = on_batch, report_every, n
        self.step_count = 0  # counted only for on_batch
        weight_decay = self.optimizer.weight_decay
        self.decay = weight_decay * self.decay_mask if weight_decay else 0.0
        self.update = self._flat_update()

        def gather(i: int) -> tuple[_Workspace, int]:
            start, width, steps = blocks[i]
            space = self._workspace(width, steps, i % 2)
            self._gather(space, x, Y, labels, order[start : start + width * steps], steps, rng)
            return space, steps

        spare_core = threads >= 2 and blas_threads(self.sizes, self.batch_size) == 1  # BLAS on one
        if not spare_core or len(blocks) < 2 or self.batch_size < PREFETCH_MIN_BATCH:
            for i in range(len(blocks)):
                self._run_block(*gather(i))
            return self.total_loss, self.correct
        # With a second thread to spare, the next block's rows are gathered while this block
        # trains (np.take releases the GIL). Blocks are still gathered one after another, so the
        # generator draws the masks in the same order.
        pool = _thread_pool()
        pending = pool.submit(gather, 0)
        try:
            for i in range(len(blocks)):
                space, steps = pending.result()
                pending = pool.submit(gather, i + 1) if i + 1 < len(blocks) else None
                self._run_block(space, steps)
        finally:
            if pending is not None:  # interrupted: let the gather finish before anyone reuses the buffers
                pending.exception()
        return self.total_loss, self.correct

    def _flat_update(self) -> Callable[[], None]:
        """The optimizer's update of all of θ from g, as one call.

        (Cutting θ in pieces updated on two threads was measured too: in isolation 1.4× faster for
        the wide network, inside training no faster at all, as BLAS's own threads compete for the
        core and the memory bandwidth. So one call.)
        """
        if self.adam is not None:
            decay, factor = self.adam.constants(self.decay_mask)
            arguments = (self.theta, self.grad, self.state["m"], self.state["s"], self.work[0], decay, factor)
            return lambda: self.adam(*arguments)
        buffers = [self.state[name] for name in self.optimizer._state_names]
        arguments = (self.theta, self.grad, buffers, self.decay, self.work)
        return lambda: self.optimizer._update(*arguments)

    def _gather(self, space: _Workspace, x, Y, labels, index, steps: int, rng) -> None:
        """Copy a block's rows, targets and labels (mode="clip": the indices are a permutation, so
        in range, and NumPy can write straight into the buffer), and draw its dropout masks."""
        rows, width = len(index), space.width
        np.take(x, index, axis=0, out=space.X[:rows], mode="clip")
        np.take(Y, index, axis=0, out=space.Y[:rows], mode="clip")
        np.take(labels, index, out=space.labels[:rows], mode="clip")
        targets = space.Y[:rows].reshape(steps, width, -1)
        space.Yc[:steps] = targets.transpose(0, 2, 1)
        if space.row_sums is not None:
            np.sum(targets, axis=2, out=space.row_sums[:steps, 0, :])
        if self.dropout:
            # One draw for the whole block, in the reference loop's order (per step, per hidden
            # layer, a (w, units) array): the same generator gives the same masks on either path.
            keep = 1.0 - self.dropout
            scale = self.dtype.type(1.0) / self.dtype.type(keep)  # inverted dropout: kept units × 1/keep
            units = [mask.shape[1] - 1 for mask in space.M]
            draws = rng.random((steps, width * sum(units)), dtype=self.dtype)
            offset = 0
            for mask, count in zip(space.M, units):
                part = draws[:, offset : offset + width * count].reshape(steps, width, count)
                np.multiply(part.transpose(0, 2, 1) < keep, scale, out=mask[:steps, :-1])
                offset += width * count

    def _account(self, space: _Workspace, first: int, last: int) -> None:
        """Add steps first..last−1 of the block to the epoch's loss and accuracy."""
        if last <= first:
            return
        width = space.width
        outputs = space.O[first:last].transpose(0, 2, 1).reshape(-1, space.O.shape[1])  # (rows, n_L)
        targets = space.Y[first * width : last * width]
        self.total_loss += self.cost.function(outputs, targets) * len(outputs)
        predicted = space.O[first:last].argmax(axis=1).ravel()
        self.correct += int(np.count_nonzero(predicted == space.labels[first * width : last * width]))

    def _run_block(self, space: _Workspace, steps: int) -> None:
        """The steps of one block: forward, output delta, backward into g, optimizer update.

        Written out flat with everything bound to local names, because at batch 10 the Python
        around the NumPy calls costs as much as the calls themselves.
        """
        # np.dot where every operand is contiguous (or a transposed contiguous array): for small
        # products it costs about half a microsecond less per call than np.matmul.
        matmul, dot, add, multiply, subtract = np.matmul, np.dot, np.add, np.multiply, np.subtract
        optimizer = self.optimizer
        fold = self.fold_sgd and not optimizer.weight_decay
        # ∂C/∂Z of the output for the batch mean is (…)/w; plain SGD also takes η here, Adam 1 − β₁.
        gradient_scale = optimizer.learning_rate if fold else self.adam.gradient_scale if self.adam else 1.0
        scale = np.array(gradient_scale / space.width, self.dtype)  # 0-d: quicker than a Python float
        update = self.update
        theta, grad = self.theta, self.grad
        W0, W0_T, b0, G0, g0 = self.W0, self.W0_T, self.b0, self.G0, self.g0
        first_as_rows = self.sizes[1] < 128
        W, G, W_back = self.W, self.G, self.W_back
        hidden_forward = [forward for forward, _ in self.hidden]
        hidden_backward = [backward for _, backward in self.hidden]
        output_forward, output_backward, delta = self.output_forward, self.output_backward, self._output_delta
        # The two common output deltas are written out below; anything else calls _output_delta.
        plain_fused = self.fused and space.row_sums is None
        quadratic = not self.fused and output_backward is not None
        rows, columns, Z0, outputs, targets = space.rows, space.columns, space.Z0, space.O, space.Yc
        A, H, AD, D, T = space.A, space.H, space.AD, space.D, space.T
        inputs, inputs_T, masks, mask_rows = space.inputs, space.inputs_T, space.masks, space.mask_rows
        ones, row, dropout = space.ones, space.row, bool(self.dropout)
        last = self.layers - 1
        on_batch, accounted = self.on_batch, 0
        for j in range(steps):
            # ---- forward, one example per column: Zᵀ = W̃ ãᵀ, Aᵀ = σ(Zᵀ)
            out = outputs[j]  # (n_L, w)
            first = H[0] if last else out
            if first_as_rows:
                # X W₀ᵀ, then turned into columns while adding b₀: for a narrow first layer
                # (16 neurons) OpenBLAS runs this shape about twice as fast as W₀ Xᵀ.
                matmul(rows[j], W0_T, out=Z0)
                add(Z0.T, b0, out=first)
            else:  # and W₀ Xᵀ about 15% faster for a wide one (256 or 800)
                matmul(W0, columns[j], out=first)
                add(first, b0, out=first)
            for l in range(last):  # hidden layer l: activation, dropout, the next layer's sums
                hidden_forward[l](H[l])
                if dropout:
                    multiply(A[l], masks[l][j], out=AD[l])
                dot(W[l + 1], inputs[l], out=H[l + 1] if l + 1 < last else out)
            if output_forward is None:
                _softmax_columns(out, row)
            else:
                output_forward(out)
            # ---- output delta: dZ = ∂C/∂Z for the batch mean (× η for plain SGD)
            dZ = D[last]
            if plain_fused:  # softmax + cross-entropy, sigmoid + binary cross-entropy: (A − Y)/n
                subtract(out, targets[j], out=dZ)
                multiply(dZ, scale, out=dZ)
            elif quadratic:  # (A − Y)/n ⊙ σ'
                subtract(out, targets[j], out=dZ)
                output_backward(dZ, out, T[last])
                multiply(dZ, scale, out=dZ)
            else:
                delta(space, j, out, targets[j], dZ, scale)
            # ---- backward: dW̃ = dZ ãᵀ;  dAᵀ = Wᵀ dZ;  dZ_prev = dA ⊙ σ'(Z_prev)
            for l in range(last, 0, -1):
                dot(D[l], inputs_T[l - 1], out=G[l])
                matmul(W_back[l], D[l], out=D[l - 1])
                if dropout:
                    multiply(D[l - 1], mask_rows[l - 1][j], out=D[l - 1])
                hidden_backward[l - 1](D[l - 1], H[l - 1], T[l - 1])  # σ' at the undropped A
            matmul(D[0], rows[j], out=G0)  # (n₁, n₀)
            matmul(D[0], ones, out=g0)  # the bias gradient: Σ over the batch, (n₁, 1)
            # ---- the optimizer's update, on the whole flat vector at once
            optimizer.t += 1
            if fold:
                subtract(theta, grad, out=theta)
            else:
                update()
            if on_batch is not None:
                self.step_count += 1
                if self.step_count % self.report_every == 0:
                    self._account(space, accounted, j + 1)
                    accounted = j + 1
                    self.store_weights()  # a progress callback may look at the network
                    done = min(self.step_count * self.batch_size, self.n)
                    on_batch(done, self.n, self.total_loss / done)
        self._account(space, accounted, steps)

    def _output_delta(self, space: _Workspace, j: int, A: Array, Y: Array, dZ: Array, scale: float) -> None:
        """dZ ← ∂C/∂Z of the output layer for the batch mean, times scale·w. A, Y, dZ: (n_L, w)."""
        if self.fused:
            if space.row_sums is not None:  # softmax + cross-entropy, targets not summing to 1
                np.multiply(A, space.row_sums[j], out=dZ)  # (P ⊙ Σₖyₖ − Y)/n
                np.subtract(dZ, Y, out=dZ)
            else:
                np.subtract(A, Y, out=dZ)  # (A − Y)/n
        elif self.output_backward is not None:  # quadratic: ∂C/∂A = (A − Y)/n, then ⊙ σ'
            np.subtract(A, Y, out=dZ)
            self.output_backward(dZ, A, space.T[-1])
        else:  # any other pairing: the reference functions, on rows (they include the 1/n)
            activation = ACTIVATIONS[self.output_activation]
            dZ[...] = activation.backward(self.cost.gradient(A.T, Y.T), A.T).T
            scale = scale * A.shape[1]
        np.multiply(dZ, scale, out=dZ)
