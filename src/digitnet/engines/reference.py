"""The reference engine: mini-batch gradient descent written plainly, one step at a time.

For each mini-batch (the rows order[k·b:(k+1)·b] of x): the forward pass with dropout on the
hidden layers, the output error δ (losses.output_delta_rule), backpropagation
(digitnet.backprop.backward) and the optimizer's step. It supports every activation, loss and
optimizer (custom Optimizer subclasses too), and is what the faster engines are tested against.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from digitnet.backprop import backward, output_delta
from digitnet.engines.dropout import draw_dropout_masks

Array = NDArray[np.floating]


class ReferencePlan:
    """Trains one network with one optimizer, an epoch at a time (see digitnet.engines)."""

    name = "reference"

    @staticmethod
    def supports(net, cost, optimizer, batch_size: int, dropout: float) -> bool:
        return True

    def __init__(self, net, cost, optimizer, batch_size: int, dropout: float) -> None:
        self.net, self.cost, self.optimizer = net, cost, optimizer
        self.batch_size, self.dropout = batch_size, float(dropout)

    def fits(self, net, cost, optimizer, batch_size: int, dropout: float) -> bool:
        return (self.net, self.cost, self.optimizer, self.batch_size, self.dropout) == (
            net, cost, optimizer, batch_size, float(dropout))

    def run_epoch(self, x: Array, Y: Array, labels, order, rng, on_batch=None, report_every: int = 1):
        """The steps of one epoch over x (n, n₀) in `order`; returns (summed loss, correct count)."""
        net, batch_size = self.net, self.batch_size
        n = len(order)
        params = net.parameters()
        total_loss, correct = 0.0, 0
        for step, start in enumerate(range(0, n, batch_size)):
            batch = order[start : start + batch_size]
            X_batch, Y_batch = x[batch], Y[batch]  # (b, n₀), (b, n_L)
            activations, masks = self.forward(X_batch, rng)
            A_out = activations[-1]
            total_loss += self.cost.function(A_out, Y_batch) * len(batch)
            correct += int(np.count_nonzero(A_out.argmax(axis=1) == labels[batch]))
            dZ = output_delta(self.cost, net.output_activation, A_out, Y_batch)
            grads = backward(net.layers, activations, dZ, masks)
            self.optimizer.step(params, [g for pair in grads for g in pair])
            if on_batch is not None and (step + 1) % report_every == 0:
                done = min(start + batch_size, n)
                on_batch(done, n, total_loss / done)
        return total_loss, correct

    def forward(self, X: Array, rng) -> tuple[list[Array], list[Array | None]]:
        """Forward pass with inverted dropout on the hidden layers: [X, A₁, …, A_L] (undropped:
        σ' is taken there; the next layer sees A·mask) and each hidden layer's mask."""
        layers = self.net.layers
        masks: list[Array | None] = [None] * len(layers)
        if self.dropout:
            units = [layer.n_out for layer in layers[:-1]]
            drawn = draw_dropout_masks(rng, self.dropout, units, len(X), 1, self.net.dtype)
            masks[: len(drawn)] = [mask[0] for mask in drawn]
        activations, inputs = [X], X
        for layer, mask in zip(layers, masks):
            A = layer.forward(inputs)
            activations.append(A)
            inputs = A if mask is None else A * mask
        return activations, masks
