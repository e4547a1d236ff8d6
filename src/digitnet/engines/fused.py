"""The training hot path: one epoch of mini-batch gradient descent with nothing allocated per step.

The mathematics is exactly that of digitnet.backprop and the optimizers (see backprop.py and
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
  (Optimizer.update) however many layers there are. Plain SGD goes further: η is folded into
  the output delta, so the update is the single subtraction θ ← θ − g; Adam takes 1 − β₁ there
  and keeps s scaled for the epoch, and runs in ten passes (Adam.scaled_update).
- Preallocated, reused buffers; activations applied in place; constants as 0-d arrays; the
  training rows gathered by shuffled index in blocks of about 512 rows (the data stays where it
  is, contiguous; each block is one np.take, done ahead on a spare core when there is one), with
  the targets, dropout masks, loss and accuracy handled once per block.
- Threads per shape: small products run on one BLAS thread (engines.threads).

Weights, biases and optimizer buffers are copied into θ at the start of an epoch and written back
(into the network's own arrays, in place) at its end, so a Trainer's state, checkpoints and resume
are unchanged. The generator is used only for the dropout masks, drawn once per block but in
exactly the order the reference loop draws them, so both paths see the same masks: the same seed
gives bit-identical weights, and an epoch consumes the generator the same way whether or not the
run was resumed before it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from digitnet.activations import get_activation
from digitnet.engines.dropout import draw_dropout_masks
from digitnet.engines.threads import blas_threads, current_blas_threads, gather_pool, limit_blas_threads
from digitnet.engines.workspace import Workspace
from digitnet.losses import Loss, output_delta_rule
from digitnet.optimizers import SGD, Adam, AdamW, Momentum, Optimizer

Array = NDArray[np.floating]

# Rows gathered per block: large enough to make the per-block work negligible, small enough that
# a block of 784-pixel rows (1.6 MB in float32) stays in this machine's 2 MB L2 cache.
BLOCK_ROWS = 512

# When the thread budget has a core that BLAS leaves idle (small products run on one thread), the
# next block of shuffled rows is gathered on it while the current block trains, from this batch
# size up: at batch 128 that hides the gather (a sixth of the 3b1b-sized network's epoch). At
# batch 10 the worker's GIL hand-offs to a step loop of ~30 NumPy calls cost about what they save
# (measured: ±5%), and where BLAS itself uses both cores the extra thread only competes.
PREFETCH_MIN_BATCH = 32

# The optimizers whose update rule this engine runs on a flat vector (a subclass may change the
# rule: it takes the reference engine).
SUPPORTED_OPTIMIZERS = (SGD, Momentum, Adam, AdamW)


class FusedPlan:
    """Flat parameters, views and buffers for training one network with one optimizer.

    Built once by a Trainer; run_epoch() trains one epoch. The network and optimizer remain the
    source of truth between epochs: load() copies them in, store() writes them back.
    """

    name = "fused"

    @staticmethod
    def supports(net, cost: Loss, optimizer: Optimizer, batch_size: int, dropout: float) -> bool:
        """Every network and loss; the built-in optimizers (exactly those classes)."""
        return type(optimizer) in SUPPORTED_OPTIMIZERS

    def __init__(self, net, cost: Loss, optimizer: Optimizer, batch_size: int, dropout: float) -> None:
        assert self.supports(net, cost, optimizer, batch_size, dropout)
        self.net, self.cost, self.optimizer = net, cost, optimizer
        self.sizes = list(net.sizes)
        self.dtype = net.dtype
        self.batch_size = batch_size
        self.dropout = float(dropout)
        self.layers = len(net.layers)
        self.activations = [layer.activation for layer in net.layers]
        hidden = self.activations[:-1]
        # (σ, σ') of each hidden layer, from activations.py: the steps call σ(Z, out=Z) and σ'(A, out=T).
        self.hidden = [(get_activation(name).function, get_activation(name).derivative) for name in hidden]
        self.output_activation = net.output_activation
        self.output_function = get_activation(net.output_activation).function
        # The output's σ(Z, Z, *output_axis): softmax over each column (one example per column here).
        self.output_axis = (0,) if net.output_activation == "softmax" else ()
        self.delta = None  # the output-delta rule, chosen per data set in run_epoch

        # θ: every W̃ = [W | b] (n_out, n_in + 1) one after another; g and the optimizer state alike.
        shapes = [(n_out, n_in + 1) for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:])]
        total = sum(rows * cols for rows, cols in shapes)
        self.theta = np.zeros(total, self.dtype)
        self.grad = np.zeros(total, self.dtype)
        self.work = (np.empty(total, self.dtype), np.empty(total, self.dtype))
        self.state = {name: np.zeros(total, self.dtype) for name in optimizer.state_names}
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
        self.workspaces: dict[tuple[int, int], Workspace] = {}
        # Plain SGD takes η in the output delta (its update is then θ ← θ − g); Adam takes 1 − β₁.
        self.fold_sgd = type(optimizer) is SGD
        self.adam = type(optimizer) in (Adam, AdamW)
        self.state_scale = optimizer.state_scales if self.adam else {}

    def fits(self, net, cost: Loss, optimizer: Optimizer, batch_size: int, dropout: float) -> bool:
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

    def _workspace(self, width: int, steps: int, copy: int = 0) -> Workspace:
        """The buffers for blocks of `steps` steps of width `width` (two copies when prefetching)."""
        key = (width, copy)
        if key not in self.workspaces or self.workspaces[key].steps < steps:
            self.workspaces[key] = Workspace(self, width, steps)
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
                name: [np.zeros_like(p) for p in self.net.parameters()] for name in optimizer.state_names
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
        # δ of the output, one example per column: A − Y in the common fused cases (a softmax
        # needs A ⊙ Σy − Y only for targets that do not sum to 1).
        self.delta = output_delta_rule(self.cost, self.output_activation, axis=0,
                                       targets_sum_to_one=self._rows_sum_to_one(Y))
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

        def gather(i: int) -> tuple[Workspace, int]:
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
        pool = gather_pool()
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
        optimizer = self.optimizer
        if self.adam:  # g already holds g′ = (1 − β₁)g (folded into the output delta)
            coupled, factor = optimizer.decay_terms(self.decay_mask, self.dtype)
            arguments = (self.theta, self.grad, self.state["m"], self.state["s"], self.work[0], coupled, factor)
            return lambda: optimizer.scaled_update(*arguments)
        buffers = [self.state[name] for name in optimizer.state_names]
        arguments = (self.theta, self.grad, buffers, self.decay, self.work)
        return lambda: optimizer.update(*arguments)

    def _gather(self, space: Workspace, x, Y, labels, index, steps: int, rng) -> None:
        """Copy a block's rows, targets and labels (mode="clip": the indices are a permutation, so
        in range, and NumPy can write straight into the buffer), and draw its dropout masks."""
        rows, width = len(index), space.width
        np.take(x, index, axis=0, out=space.X[:rows], mode="clip")
        np.take(Y, index, axis=0, out=space.Y[:rows], mode="clip")
        np.take(labels, index, out=space.labels[:rows], mode="clip")
        space.Yc[:steps] = space.Y[:rows].reshape(steps, width, -1).transpose(0, 2, 1)
        if self.dropout:  # one draw for the block, straight into the masks' (units, w) columns
            units = [mask.shape[1] - 1 for mask in space.M]
            out = [mask[:steps, :-1].transpose(0, 2, 1) for mask in space.M]  # (steps, w, units)
            draw_dropout_masks(rng, self.dropout, units, width, steps, self.dtype, out=out)

    def _account(self, space: Workspace, first: int, last: int) -> None:
        """Add steps first..last−1 of the block to the epoch's loss and accuracy."""
        if last <= first:
            return
        width = space.width
        outputs = space.O[first:last].transpose(0, 2, 1).reshape(-1, space.O.shape[1])  # (rows, n_L)
        targets = space.Y[first * width : last * width]
        self.total_loss += self.cost.function(outputs, targets) * len(outputs)
        predicted = space.O[first:last].argmax(axis=1).ravel()
        self.correct += int(np.count_nonzero(predicted == space.labels[first * width : last * width]))

    def _run_block(self, space: Workspace, steps: int) -> None:
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
        gradient_scale = optimizer.learning_rate if fold else optimizer.gradient_scale if self.adam else 1.0
        scale = np.array(gradient_scale / space.width, self.dtype)  # 0-d: quicker than a Python float
        update = self.update
        theta, grad = self.theta, self.grad
        W0, W0_T, b0, G0, g0 = self.W0, self.W0_T, self.b0, self.G0, self.g0
        first_as_rows = self.sizes[1] < 128
        W, G, W_back = self.W, self.G, self.W_back
        # activations.py's functions called directly (σ(Z) written over Z, σ'(Z) from A into T):
        # a wrapper per call would cost more here than the small ufuncs themselves.
        hidden_function = [function for function, _ in self.hidden]
        hidden_derivative = [derivative for _, derivative in self.hidden]
        output_function, output_axis = self.output_function, self.output_axis
        delta = self.delta
        rows, columns, Z0, outputs, targets = space.rows, space.columns, space.Z0, space.O, space.Yc
        A, H, AD, D, T = space.A, space.H, space.AD, space.D, space.T
        inputs, inputs_T, masks, mask_rows = space.inputs, space.inputs_T, space.masks, space.mask_rows
        ones, dropout = space.ones, bool(self.dropout)
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
                hidden_function[l](H[l], H[l])
                if dropout:
                    multiply(A[l], masks[l][j], out=AD[l])
                dot(W[l + 1], inputs[l], out=H[l + 1] if l + 1 < last else out)
            output_function(out, out, *output_axis)
            # ---- output delta: dZ = ∂C/∂Z for the batch mean, δ/w (× η for plain SGD)
            dZ = D[last]
            delta(out, targets[j], dZ, T[last])
            multiply(dZ, scale, out=dZ)
            # ---- backward: dW̃ = dZ ãᵀ;  dAᵀ = Wᵀ dZ;  dZ_prev = dA ⊙ σ'(Z_prev)
            for l in range(last, 0, -1):
                dot(D[l], inputs_T[l - 1], out=G[l])
                matmul(W_back[l], D[l], out=D[l - 1])
                if dropout:
                    multiply(D[l - 1], mask_rows[l - 1][j], out=D[l - 1])
                multiply(D[l - 1], hidden_derivative[l - 1](H[l - 1], T[l - 1]), out=D[l - 1])  # σ' at the undropped A
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
