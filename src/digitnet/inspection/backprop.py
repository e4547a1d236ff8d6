"""Backpropagation for one example, named the way 3Blue1Brown's backpropagation lesson tells it.

For one digit x with label y (target vector e_y) the cost is C = loss(a_L, e_y), and the lesson
reads the gradient from the output backwards. Layers are numbered from 0 (layer l is
net.layers[l], W_l (n_out, n_in), b_l (n_out,), its outputs a_l = σ(z_l), z_l = W_l a_{l−1} + b_l,
a_{−1} = x):

    output nudges       −∂C/∂a_L           how much each output neuron "wants" to move
                                           (quadratic cost: e_y − a_L: up for the right digit,
                                           down for the others, by how wrong each is)
    bias gradient       ∂C/∂b_l = ∂C/∂z_l  (n_out,)
    weight gradient     ∂C/∂W_l = ∂C/∂z_l a_{l−1}ᵀ    (n_out, n_in): bright inputs change most
    wishes              −∂C/∂z_l[j] · W_l[j, i]       neuron j's wish for input i of layer l; summed
                                                      over j they are −∂C/∂a_{l−1}[i], the
                                                      activation gradient of the layer before
    activation gradient ∂C/∂a_l (n_out,)   for l < L: W_{l+1}ᵀ ∂C/∂z_{l+1}; for the output: ∂C/∂a_L

The gradients themselves come from digitnet.backprop (the one backpropagation, the same code every
training engine is tested against); this module names the pieces for one example, and
gradient_step takes the lesson's last scene: one step downhill, W ← W − η ∂C/∂W, on a copy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from digitnet.backprop import backward, output_delta
from digitnet.checks import check_positive, check_positive_int
from digitnet.inspection.numbering import check_layer, image_side
from digitnet.losses import Loss, get_loss
from digitnet.network import Network
from digitnet.optimizers import SGD

__all__ = ["DEFAULT_STEP", "MAX_STEPS", "backprop", "default_loss", "gradient_step", "most_nudged",
           "weight_change_image", "wishes"]

Array = NDArray[np.floating]

DEFAULT_STEP = 3.0  # the video's (and the book's) learning rate η, for a model that names none
MAX_STEPS = 1000  # gradient steps on one example in one call


def default_loss(net: Network) -> str:
    """The cost the model was trained with (metadata["training"]["loss"]), else the natural one for
    its output: cross-entropy for softmax, quadratic (the video's) for sigmoid and anything else."""
    training = net.metadata.get("training") if isinstance(net.metadata, dict) else None
    if isinstance(training, dict) and isinstance(training.get("loss"), str):
        return training["loss"]
    return "cross-entropy" if net.output_activation == "softmax" else "quadratic"


def _check_example(net: Network, x: ArrayLike, label: Any) -> tuple[Array, Array, int]:
    """x as a (1, n_in) batch, its one-hot target (1, n_out) and the label as an int."""
    x = np.asarray(x)
    if x.size != net.num_inputs or x.ndim > 2:
        raise ValueError(f"x must be one example of {net.num_inputs} values, (784,) or (28, 28); got shape {x.shape}")
    X = net.check_inputs(x.reshape(1, -1), "x")  # (1, n₀)
    count = net.num_outputs
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < count:
        raise ValueError(f"label must be an integer in 0..{count - 1} (one per output neuron); got {label!r}")
    Y = np.zeros((1, count), dtype=net.dtype)
    Y[0, int(label)] = 1
    return X, Y, int(label)


def _cost(net: Network, loss: str | None) -> Loss:
    return get_loss(default_loss(net) if loss is None else loss, net.output_activation)


def _gradients(net: Network, X: Array, Y: Array, cost: Loss) -> tuple[list[Array], list[tuple[Array, Array]]]:
    """[X, a₀, …, a_L] (each (1, n)) and [(∂C/∂W_l, ∂C/∂b_l), ...] by digitnet.backprop."""
    activations = net.activations(X)
    dZ = output_delta(cost, net.output_activation, activations[-1], Y)  # (1, n_L) = ∂C/∂z_L
    return activations, backward(net.layers, activations, dZ)


def backprop(net: Network, x: ArrayLike, label: int, loss: str | None = None) -> dict[str, Any]:
    """The cost of one example and every gradient backpropagation gives for it.

    x: one example, (784,) or (28, 28); label: its class, 0..n_out − 1. loss: a name from
    digitnet.LOSSES, default default_loss(net). Returns a plain dict (NumPy arrays of the net's
    dtype; JSON-ready once they are listed):
        "cost"            C for this example (float)
        "output_nudges"   −∂C/∂a_L (n_L,)
        "layers"          per weight layer from layer 0: "weight_gradient" ∂C/∂W_l (n_out, n_in),
                          "bias_gradient" ∂C/∂b_l (n_out,), "activation_gradient" ∂C/∂a_l (n_out,)
        "activations"     a_l of each layer for x, from layer 0 (the last is the output)
        "label", "loss"   what was asked
    The gradients are those of net.gradients(x[None], [label], loss).
    """
    X, Y, label = _check_example(net, x, label)
    cost = _cost(net, loss)
    activations, grads = _gradients(net, X, Y, cost)
    A = activations[-1]  # (1, n_L)
    dA_out = cost.gradient(A, Y)[0]  # ∂C/∂a_L (n_L,); n = 1, so no batch mean to undo
    layers = []
    for index, (dW, db) in enumerate(grads):
        if index + 1 < len(grads):
            # ∂C/∂a_l = W_{l+1}ᵀ ∂C/∂z_{l+1}: the next layer's wishes summed (its ∂C/∂z is its ∂C/∂b).
            dA = grads[index + 1][1] @ net.layers[index + 1].weight  # (n_out,)
        else:
            dA = dA_out
        layers.append({"weight_gradient": dW, "bias_gradient": db, "activation_gradient": dA})
    return {
        "label": label,
        "loss": cost.name,
        "cost": cost.function(A, Y),
        "output_nudges": -dA_out,
        "layers": layers,
        "activations": [a[0] for a in activations[1:]],
    }


def wishes(net: Network, result: dict[str, Any], layer: int) -> Array:
    """Each neuron's wish for each of its inputs: −∂C/∂z_l[j] · W_l[j, i], (n_out, n_in).

    result: backprop()'s answer for net. Summed over the neurons (axis 0) the wishes are
    −∂C/∂a of the layer before (for layer 0: −∂C/∂x, the wish for the pixels).
    """
    layer = check_layer(net, layer)
    dZ = result["layers"][layer]["bias_gradient"]  # (n_out,)
    return -dZ[:, None] * net.layers[layer].weight  # (n_out, n_in)


def most_nudged(result: dict[str, Any], layer: int, count: int, of: str = "activation") -> NDArray[np.int64]:
    """The `count` neurons of `layer` the cost most wants to move: largest |∂C/∂a| (of="activation"),
    or largest |∂C/∂z| (of="z": the nudge that passes σ' and reaches the neuron's weights and bias;
    a saturated sigmoid neuron may want to move a lot and still barely change)."""
    if of not in ("activation", "z"):
        raise ValueError(f"of must be 'activation' or 'z'; got {of!r}")
    key = "activation_gradient" if of == "activation" else "bias_gradient"
    nudges = np.abs(result["layers"][layer][key])
    count = min(check_positive_int(count, "count"), len(nudges))
    return np.argsort(-nudges, kind="stable")[:count].astype(np.int64)


def weight_change_image(net: Network, result: dict[str, Any], index: int) -> Array:
    """The change −∂C/∂W₀[index] of a layer-0 neuron's weights as an image (side, side).

    One example's gradient for neuron j is ∂C/∂z_j · x: the digit itself, scaled by how much the
    neuron should move (negative: weights on the ink go down).
    """
    side = image_side(net)
    rows = result["layers"][0]["weight_gradient"]
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(rows):
        raise ValueError(f"index must be in 0..{len(rows) - 1} for layer 0 ({len(rows)} neurons); got {index!r}")
    return -rows[int(index)].reshape(side, side)


def gradient_step(
    net: Network, x: ArrayLike, label: int, learning_rate: float | None = None, loss: str | None = None, steps: int = 1
) -> dict[str, Any]:
    """Plain gradient descent on this one example, on a copy: W ← W − η ∂C/∂W, `steps` times.

    learning_rate: η; default the model's own when it was trained with plain SGD, else
    DEFAULT_STEP (3.0, the video's). Returns "learning_rate", "steps", "cost_before",
    "cost_after", "output_before", "output_after" (n_L,) and "network" (the stepped copy).
    The network passed in is never changed.
    """
    X, Y, label = _check_example(net, x, label)
    cost = _cost(net, loss)
    if learning_rate is None:
        training = net.metadata.get("training") if isinstance(net.metadata, dict) else None
        learning_rate = DEFAULT_STEP
        if isinstance(training, dict) and training.get("optimizer") == "sgd" and training.get("learning_rate"):
            learning_rate = training["learning_rate"]
    learning_rate = check_positive(learning_rate, "learning_rate")
    steps = check_positive_int(steps, "steps")
    if steps > MAX_STEPS:
        raise ValueError(f"steps must be at most {MAX_STEPS}; got {steps}")
    stepped = net.copy()
    optimizer = SGD(learning_rate)
    output_before = stepped.forward(X)[0]
    params = stepped.parameters()
    for _ in range(steps):
        _, grads = _gradients(stepped, X, Y, cost)
        optimizer.step(params, [g for pair in grads for g in pair])
    output_after = stepped.forward(X)[0]
    return {
        "learning_rate": learning_rate,
        "steps": steps,
        "cost_before": cost.function(output_before[None], Y),
        "cost_after": cost.function(output_after[None], Y),
        "output_before": output_before,
        "output_after": output_after,
        "network": stepped,
    }
