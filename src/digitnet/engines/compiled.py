"""The compiled engine: mini-batch training and one-image inference in Numba kernels.

The mathematics is the reference loop's (network.py's backpropagation, optimizers.py's update
rules, the output delta rules of network._output_delta); the arrangement is machine code.
- Narrow networks (engines/kernels.py): forward, output delta, backward and update of up to 256
  mini-batches run in one compiled call, example by example in 64-byte SIMD tiles
  (engines/simd.py), reading the shuffled rows in place.
- Wide networks (engines/wide.py): the big products stay BLAS calls; the rest is compiled.
Either way layer 0 reads each image through an index of its nonzero pixels (~150 of MNIST's
784), so its forward product and weight gradient cost a fifth of the dense ones. Both share one
layout: weights transposed and padded to the SIMD width, all layers in one flat θ.
forward(layers, X) is the inference path for narrow networks (one row or a batch); warm_up() gets the
kernels ready ahead (Numba compiles on first use).

CompiledPlan has the interface of every training plan (see digitnet.engines): supports(...),
CompiledPlan(net, cost, optimizer, batch_size, dropout), fits(...), run_epoch(...). The network
and the optimizer stay the source of truth between epochs: run_epoch copies their arrays in and
writes them back (also when interrupted), so checkpoints and resume are the other engines'.
Dropout masks come from the same draws as the reference loop's (per step, per hidden layer, a
(width, units) array of rng.random(dtype) < keep), so one seed gives the same masks on every engine.

Numba is optional: it is imported the first time a plan is built or supports() asks, and without
it supports() is False. Compiled functions are cached on disk by Numba, in a folder named after
the kernels' source (engines/kernel_cache.py: next to the package, or in the user's cache
directory when the package directory is read-only; under NUMBA_CACHE_DIR when that is set).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from digitnet.optimizers import SGD, Adam, AdamW, Momentum, Optimizer

Array = NDArray[np.floating]

ACTIVATION_CODES = {"identity": 0, "sigmoid": 1, "relu": 2, "tanh": 3, "leaky_relu": 4, "softmax": 5}
OPTIMIZER_CODES = {SGD: 0, Momentum: 1, Adam: 2, AdamW: 3}
STATE_NAMES = {SGD: (), Momentum: ("velocity",), Adam: ("m", "s"), AdamW: ("m", "s")}

# The kernel carries one example at a time through every layer: right for narrow networks, whose
# products are too small for a matrix library to help. Beyond this width (padded) BLAS-blocked
# products win (engines/wide.py) from batch 32 up (measured at batch 128, 20,000 images, one
# thread: 64 wide 0.06 s narrow vs 0.08 s wide, 128 a tie, 256 0.27 s vs 0.18 s); below batch
# 32 the wide path's ~15 calls a step cost more, and the narrow kernel keeps up to twice the width.
MAX_WIDTH = 128
WIDE_MIN_BATCH = 32


def is_wide(widest_padded: int, batch_size: int) -> bool:
    """Whether a network whose widest layer is this wide (padded) trains on the wide path."""
    return widest_padded > (MAX_WIDTH if batch_size >= WIDE_MIN_BATCH else 2 * MAX_WIDTH)


# Below this fraction of nonzero inputs layer 0 reads an index of the nonzero pixels (MNIST: 19%).
SPARSE_BELOW = 0.5

# Steps per kernel call when nobody asks for progress: short enough that Ctrl-C is answered in a
# moment, long enough that the call costs nothing; dropout draws for a call stay under ~8 MB.
CHUNK_STEPS = 256
DRAWS_PER_CALL = 2_000_000

_kernels = None
_import_error: str | None = None


def kernels():
    """The kernels module (importing Numba and compiling or loading the kernels on first use)."""
    global _kernels, _import_error
    if _kernels is None and _import_error is None:
        try:
            from digitnet.engines.kernel_cache import kernel_imports

            with kernel_imports():  # every kernel module, so each caches under its source's hash
                from digitnet.engines import forward_kernels, wide  # noqa: F401
                from digitnet.engines import kernels as module
        except Exception as error:  # noqa: BLE001 - any failure to import numba means: not available
            _import_error = f"{type(error).__name__}: {error}"
        else:
            _kernels = module
    return _kernels


def available() -> bool:
    """Whether Numba imports here (the compiled engine can run)."""
    return kernels() is not None


def unavailable_reason() -> str | None:
    """Why the compiled engine cannot run (None when it can)."""
    kernels()
    return _import_error


def warm_up(dtype="float32", inference: bool = False, wide: bool = False) -> float:
    """Get the training kernel for dtype ready (compiled, or loaded from Numba's cache) by training
    a tiny network for one step; with wide, the wide network's kernels (engines/wide.py, and on
    more than one thread the team's split product: engines/blas_calls.py); with
    inference, the inference kernel too. Returns the seconds it took. Safe to run in a thread
    while another engine trains (measured: a NumPy loop kept 57% of its pace during a compile, on
    a busy machine)."""
    import time

    from digitnet.losses import get_loss
    from digitnet.network import Network

    start = time.perf_counter()
    if not available():
        return 0.0
    net = Network([8, 2 * MAX_WIDTH + 1 if wide else 4, 3], seed=0, dtype=np.dtype(dtype).name)
    x = np.zeros((4, 8), net.dtype)
    x[:, ::3] = 1.0
    labels = np.arange(4) % 3
    Y = np.eye(3, dtype=net.dtype)[labels]
    plan = CompiledPlan(net, get_loss("quadratic"), SGD(0.1), 2, 0.0)
    plan.run_epoch(x, Y, labels, np.arange(4), np.random.default_rng(0))
    if wide:  # the split product too, which the tiny network's products are too small for
        from digitnet.engines import blas_calls

        blas_calls.warm_up(net.dtype)
    if inference:
        forward(net.layers, x[:1])
    return time.perf_counter() - start


def output_rule(cost, output_activation: str) -> int | None:
    """The kernel's output delta rule for this loss and output activation (None: not supported)."""
    if cost.fused_with is not None and cost.fused_with == output_activation:
        return 2 if output_activation == "softmax" else 3
    if cost.name == "quadratic":
        return 1 if output_activation == "softmax" else 0
    return None


LOSS_CODES = {"quadratic": 0, "cross-entropy": 1, "binary-cross-entropy": 2}


def aligned_zeros(size: int, dtype) -> Array:
    """np.zeros(size, dtype) starting on a 64-byte boundary (a SIMD row never straddles two cache
    lines: every offset in θ is a multiple of 64 bytes)."""
    dtype = np.dtype(dtype)
    raw = np.zeros(size + 64 // dtype.itemsize, dtype)
    start = (-raw.ctypes.data % 64) // dtype.itemsize
    return raw[start : start + size]


class CompiledPlan:
    """Flat parameters, buffers and kernel arguments for training one network with one optimizer."""

    name = "compiled"

    @staticmethod
    def supports(net, cost, optimizer: Optimizer, batch_size: int, dropout: float) -> bool:
        """Whether this engine runs these settings exactly (and Numba is importable)."""
        return (
            type(optimizer) in OPTIMIZER_CODES
            and net.dtype in (np.float32, np.float64)
            and all(layer.activation in ACTIVATION_CODES for layer in net.layers)
            and all(layer.activation != "softmax" for layer in net.layers[:-1])
            and cost.name in LOSS_CODES
            and output_rule(cost, net.output_activation) is not None
            and available()
        )

    def __init__(self, net, cost, optimizer: Optimizer, batch_size: int, dropout: float) -> None:
        if not self.supports(net, cost, optimizer, batch_size, dropout):
            reason = unavailable_reason()
            raise ValueError("the compiled engine does not support these settings"
                             + (f" (numba: {reason})" if reason else ""))
        self.net, self.cost, self.optimizer = net, cost, optimizer
        self.batch_size, self.dropout = batch_size, float(dropout)
        self.sizes = list(net.sizes)
        self.activations = [layer.activation for layer in net.layers]
        self.dtype = np.dtype(net.dtype)
        self.lanes = 16 if self.dtype == np.float32 else 8
        sizes = np.array(self.sizes, np.int64)
        pads = np.array([0] + [math.ceil(units / self.lanes) * self.lanes for units in self.sizes[1:]], np.int64)
        woff, boff, offset = [], [], 0
        for n_in, p_out in zip(sizes[:-1], pads[1:]):  # [W̄ (n_in, P) | b (P,)] per layer
            woff.append(offset)
            boff.append(offset + n_in * p_out)
            offset += (n_in + 1) * p_out
        self.layout = (sizes, pads, np.array(woff, np.int64), np.array(boff, np.int64))
        self.theta = aligned_zeros(offset, self.dtype)
        self.grad = aligned_zeros(offset, self.dtype)
        names = STATE_NAMES[type(optimizer)]
        self.state_names = names
        self.m = aligned_zeros(offset if names else 0, self.dtype)
        self.s = aligned_zeros(offset if len(names) > 1 else 0, self.dtype)
        self.t = np.zeros(1, np.int64)
        layers = len(self.sizes) - 1
        self.wide = is_wide(int(pads.max()), batch_size)  # BLAS products and compiled kernels (engines/wide.py)
        room = 0 if self.wide else (layers + 1) * batch_size * int(pads.max())
        self.H, self.DZ = aligned_zeros(room, self.dtype), aligned_zeros(room, self.dtype)
        self.HD = np.zeros(room if self.dropout else 0, self.dtype)
        self.zeros = np.zeros(self.lanes, self.dtype)
        self.back = aligned_zeros(0 if self.wide else int(np.sum(pads[2:] * pads[1:-1])), self.dtype)
        self.scratch = np.zeros(2, self.dtype)
        self.acts = np.array([ACTIVATION_CODES[name] for name in self.activations], np.int64)
        self.rule = output_rule(cost, net.output_activation)
        self.loss_code = LOSS_CODES[cost.name]
        self.hidden_units = sum(self.sizes[1:-1])
        self._csr_source = None
        self._pairs: NDArray | None = None  # the buffer index() fills
        if self.wide:
            from digitnet.engines.wide import WideSteps

            self.wide_steps = WideSteps(self)

    def fits(self, net, cost, optimizer: Optimizer, batch_size: int, dropout: float) -> bool:
        """Whether this plan was built for exactly these settings."""
        return (
            (self.net, self.cost, self.optimizer) == (net, cost, optimizer)
            and (self.batch_size, self.dropout) == (batch_size, float(dropout))
            and self.sizes == list(net.sizes)
            and self.activations == [layer.activation for layer in net.layers]
            and self.dtype == net.dtype
        )

    # ----------------------------------------------------------------- network <-> θ
    def _views(self, flat: Array) -> list[tuple[Array, Array]]:
        """(W̄ (n_in, n_out), b (n_out,)) views of a flat array, padding excluded."""
        sizes, pads, woff, boff = self.layout
        views = []
        for l in range(len(woff)):
            n_in, n_out, p_out = sizes[l], sizes[l + 1], pads[l + 1]
            W = flat[woff[l] : boff[l]].reshape(n_in, p_out)[:, :n_out]
            views.append((W, flat[boff[l] : boff[l] + n_out]))
        return views

    def load(self) -> None:
        """Copy the network's weights and the optimizer's buffers (transposed) into the flat arrays."""
        for (W, b), layer in zip(self._views(self.theta), self.net.layers):
            W[...] = layer.weight.T
            b[...] = layer.bias
        optimizer = self.optimizer
        for name, flat in zip(self.state_names, (self.m, self.s)):
            buffers = optimizer.state.get(name)
            flat[...] = 0.0
            if buffers:
                for l, (W, b) in enumerate(self._views(flat)):
                    W[...] = buffers[2 * l].T
                    b[...] = buffers[2 * l + 1]
        self.t[0] = optimizer.t

    def store_weights(self) -> None:
        """Write θ into the network's own weight and bias arrays (in place)."""
        for (W, b), layer in zip(self._views(self.theta), self.net.layers):
            layer.weight[...] = W.T
            layer.bias[...] = b

    def store(self) -> None:
        """Write θ into the network and the flat state into the optimizer (creating its buffers
        on its first steps, as Optimizer.step would)."""
        self.store_weights()
        optimizer = self.optimizer
        optimizer.t = int(self.t[0])
        if not self.state_names or optimizer.t == 0:
            return
        if not optimizer.state:
            optimizer.state = {name: [np.zeros_like(p) for p in self.net.parameters()] for name in self.state_names}
        for name, flat in zip(self.state_names, (self.m, self.s)):
            buffers = optimizer.state[name]
            for l, (W, b) in enumerate(self._views(flat)):
                buffers[2 * l][...] = W.T
                buffers[2 * l + 1][...] = b

    # ----------------------------------------------------------------- the data's nonzero index
    def index(self, x: Array) -> tuple:
        """(sparse, ptr, index, value) for x: its nonzero entries as (offset in θ, value) pairs
        when x is sparse enough (kernels.py). Built on first use, once per training array (a
        Trainer's own x, never modified in place; an augmented epoch brings a new array); call it
        ahead to keep that out of the first epoch."""
        if self._csr_source is not x:
            module = kernels()
            ptr = np.empty(len(x) + 1, np.int64)
            module.count_nonzero(x, ptr)
            nonzero = int(ptr[-1])
            sparse = nonzero < SPARSE_BELOW * x.size
            signed = np.int32 if self.dtype == np.float32 else np.int64  # an integer of the value's size
            if sparse:
                # One buffer kept from array to array (an augmented epoch brings a new one each time):
                # ~100 MB of fresh memory an epoch for MNIST cost more in page faults than filling it.
                if self._pairs is None or len(self._pairs) < 2 * nonzero:
                    self._pairs = np.empty(2 * nonzero + 2 * nonzero // 16, signed)  # room for more ink
                pairs = self._pairs[: 2 * nonzero]
                module.fill_pairs(x, ptr, self.layout[1][1], self.layout[2][0], pairs, pairs.view(self.dtype))
            else:
                pairs, ptr = np.empty(0, signed), np.zeros(1, np.int64)
            self._csr_source, self._csr = x, (sparse, ptr, pairs, pairs.view(self.dtype))
        return self._csr

    # ----------------------------------------------------------------- one epoch
    def _constants(self) -> tuple[Array, Array, bool]:
        """(c in the network's dtype, h in float64, fold) for this epoch's hyper-parameters."""
        optimizer, dtype = self.optimizer, self.dtype
        lr, decay = optimizer.learning_rate, optimizer.weight_decay
        beta1, beta2 = getattr(optimizer, "beta1", 0.0), getattr(optimizer, "beta2", 0.0)
        keep = dtype.type(1.0 - self.dropout)
        fold = type(optimizer) is SGD and not decay
        c = np.array([lr, decay, getattr(optimizer, "momentum", 0.0), beta1, 1.0 - beta1, beta2, 1.0 - beta2, 0.5,
                      1.0, 0.01, keep, dtype.type(1.0) / keep, 1.0 - lr * decay, 0.0], dtype)
        h = np.array([lr, beta1, beta2, getattr(optimizer, "eps", 0.0), lr if fold else 1.0])
        return c, h, fold

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

        x: (n, n₀) inputs; Y: (n, n_L) targets; labels: (n,); order: this epoch's permutation.
        """
        x = np.ascontiguousarray(x, self.dtype)
        Y = np.ascontiguousarray(Y, self.dtype)
        labels = np.ascontiguousarray(labels, np.int64)
        order = np.ascontiguousarray(order, np.int64)
        sparse, ptr, idx, val = self.index(x)
        self.load()
        try:
            return self._epoch(x, Y, labels, order, rng, on_batch, report_every, (int(sparse), ptr, idx, val))
        finally:
            self.store()

    def _epoch(self, x, Y, labels, order, rng, on_batch, report_every, index) -> tuple[float, int]:
        n, b = len(order), self.batch_size
        full, tail = divmod(n, b)
        c, h, fold = self._constants()
        sizes, pads, woff, boff = self.layout
        optimizer = self.optimizer
        opt = OPTIMIZER_CODES[type(optimizer)]
        nesterov = int(getattr(optimizer, "nesterov", False))
        per_call = CHUNK_STEPS
        if self.dropout:
            per_call = max(1, min(per_call, DRAWS_PER_CALL // max(1, b * self.hidden_units)))
        if on_batch is not None:
            per_call = report_every  # a call ends where a progress report is due
        no_draws = np.zeros((0, 0), self.dtype)
        run = kernels().train_steps
        total_loss, correct, step = 0.0, 0, 0
        while step < full + (1 if tail else 0):
            if step < full:
                steps = min(per_call - step % per_call if on_batch else per_call, full - step)
                width = b
            else:  # the short last batch: its own call, its own draws (the reference's shapes)
                steps, width = 1, tail
            draws = rng.random((steps, width * self.hidden_units), dtype=self.dtype) if self.dropout else no_draws
            if self.wide:
                loss, right = self.wide_steps.run(x, Y, labels, order, step, steps, width, draws, index, opt, nesterov,
                                                  c, h)
            else:
                loss, right = run(x, *index, Y, labels, order, step, steps, b, self.theta, self.grad, self.m, self.s,
                                  sizes, pads, woff, boff, self.acts, self.rule, self.loss_code, opt, int(fold),
                                  nesterov, c, h, self.t, draws, int(bool(self.dropout)), self.lanes, self.H, self.HD,
                                  self.DZ, self.zeros, self.scratch, self.back)
            total_loss += loss
            correct += int(right)
            step += steps
            if on_batch is not None and step % report_every == 0:
                self.store_weights()  # a progress callback may look at the network
                done = min(step * b, n)
                on_batch(done, n, total_loss / done)
        return total_loss, correct


# --------------------------------------------------------------------- inference
# Up to this many rows the compiled kernel runs on the network's own arrays (one image's latency:
# 4.3 µs against NumPy's 10 for the video's network). Larger batches of a narrow network run eight
# rows at a time on its transposed weights (forward_kernels.forward_blocks: for 10,000 images of
# the video's network 3.0 M images/s on one core against NumPy's 1.4 M: a 16-column product is
# where BLAS is weakest), split over the threads BLAS may use, at least SPLIT_ROWS rows a thread.
# It is ahead up to MAX_WIDTH too (one core, 10,000 images: 784-128-10 0.51 M/s against 0.39 M,
# 784-64-64-10 0.89 M against 0.58 M); wider networks are matrix products BLAS runs near its
# peak, and stay NumPy's.
DIRECT_ROWS = 16
SPLIT_ROWS = 1024

_PREPARED: dict[int, tuple] = {}  # id of a network's first weight array -> (its arrays, kernel arguments)


def forward(layers, X: Array) -> Array:
    """The output activations of a network of digitnet.layers.Dense for checked inputs
    X (n, n_in) of the layers' dtype: σ(… σ(X W₀ᵀ + b₀) …), (n, n_out).

    Compiled for narrow networks (every layer up to MAX_WIDTH neurons): a few rows (up to
    DIRECT_ROWS) on the network's own arrays (which training updates in place), a batch on a
    transposed copy made per call. Wider networks take the NumPy products.
    """
    entry = _PREPARED.get(id(layers[0].weight))
    if entry is None or entry[1] != X.dtype or not _still(entry[0], layers):
        entry = _prepare(layers, X.dtype)
    arrays, dtype, runnable, weights, biases, codes, c, lanes, work = entry
    if not runnable:  # NumPy's path, as Network.forward takes it (bias and activation in place)
        from digitnet.engines.inference import forward as numpy_forward

        return numpy_forward(layers, X)
    from digitnet.engines import forward_kernels

    if len(X) <= DIRECT_ROWS:
        return forward_kernels.forward_rows(X, weights, biases, codes, c, lanes, work)
    return forward_kernels.forward_batch(layers, X, codes, c, lanes, SPLIT_ROWS)


def _still(arrays: tuple, layers) -> bool:
    """Whether a prepared entry still describes these layers (the same arrays and activations)."""
    return len(arrays) == 3 * len(layers) and all(
        arrays[3 * i] is layer.weight and arrays[3 * i + 1] is layer.bias and arrays[3 * i + 2] == layer.activation
        for i, layer in enumerate(layers))


def _prepare(layers, dtype) -> tuple:
    arrays = tuple(item for layer in layers for item in (layer.weight, layer.bias, layer.activation))
    codes = tuple(ACTIVATION_CODES.get(layer.activation, -1) for layer in layers)
    lanes = 16 if dtype == np.float32 else 8
    runnable = (max(layer.n_out for layer in layers) <= MAX_WIDTH and -1 not in codes and kernels() is not None
                and dtype in (np.float32, np.float64)
                and all(layer.weight.dtype == dtype and layer.weight.flags.c_contiguous for layer in layers))
    c = work = None
    if runnable:
        from digitnet.engines import forward_kernels

        c = forward_kernels.constants(dtype)
        width = max(math.ceil(n / lanes) * lanes for n in [layer.n_out for layer in layers] + [lanes])
        work = np.zeros((3, width), dtype)
    weights = tuple(layer.weight for layer in layers)
    biases = tuple(layer.bias for layer in layers)
    entry = (arrays, dtype, runnable, weights, biases, codes, c, lanes, work)
    if len(_PREPARED) > 64:  # (networks come and go: keep the cache small)
        _PREPARED.clear()
    _PREPARED[id(layers[0].weight)] = entry
    return entry
