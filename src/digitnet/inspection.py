"""Looking inside a network: the numbers behind every picture of weights, biases and activations.

The video's promise is that you can see what the network does. Each function here returns plain
NumPy arrays, lists and dicts, so the CLI pictures (digitnet.plots), notebooks and the web app
all show the same numbers. NumPy only; nothing here draws.

Numbering, the same everywhere in digitnet: layers are numbered from 0, and layer L is the
weight layer net.layers[L] (layer 0 maps the 784 pixels to the first hidden layer). "Neuron
(layer L, index J)" is the J-th neuron whose activations layer L outputs:

    net.activations(X)[L + 1][:, J]        # net.activations(X)[0] is the input X itself

so its incoming weights are row J of net.layers[L].weight, W_L (n_out, n_in), and its bias is
net.layers[L].bias[J]. For layer 0, that row reshaped to 28×28 is the picture of the pixel
pattern the neuron responds to: z = Σᵢ wᵢ xᵢ + b is large where the digit's ink lies on positive
weights and avoids negative ones.

Deeper neurons see pixels only through the layers before them. Two ways to picture them:
- "weighted": the row of W_L ⋯ W_1 W_0, (784,), the linear approximation of what the neuron
  looks for (ignoring every σ in between), the video's "weighted sum of the pictures before";
- "maximize": activation maximisation, gradient ascent on the input x to excite the neuron,
  with the gradient ∂a/∂x from backpropagation through the layers (dA_prev = dZ @ W).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from digitnet import metrics
from digitnet.network import Network

__all__ = [
    "activation_trace",
    "confident_mistakes",
    "confusion_matrix",
    "input_gradient",
    "layer_outputs",
    "layer_statistics",
    "maximize_activation",
    "neuron_picture",
    "parameter_counts",
    "strongest_connections",
    "top_activating",
    "weight_image",
]

Array = NDArray[np.floating]

PICTURE_METHODS = ("weighted", "maximize")
# Activations whose output grows with z, so raising z raises a (used by maximize_activation).
MONOTONE = {"sigmoid", "relu", "leaky_relu", "tanh", "identity"}
SATURATION = 0.99  # sigmoid beyond 0.99 or below 0.01, tanh beyond ±0.99: σ' is nearly 0
DEFAULT_NORM = 9.3  # the mean L2 norm of an MNIST test digit (pixels in [0, 1])
BATCH = 8192  # rows per forward pass over a large x, to bound memory


# --------------------------------------------------------------------------- argument checks


def check_layer(net: Network, layer: int) -> int:
    """layer as an int in 0..len(net.layers) − 1; ValueError otherwise."""
    count = len(net.layers)
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < count:
        raise ValueError(
            f"layer must be in 0..{count - 1} (this network has {count} weight layers, "
            f"numbered from 0); got {layer!r}"
        )
    return int(layer)


def check_neuron(net: Network, layer: int, index: int) -> tuple[int, int]:
    """(layer, index) of an existing neuron; ValueError naming the valid range otherwise."""
    layer = check_layer(net, layer)
    count = net.layers[layer].n_out
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < count:
        raise ValueError(
            f"index must be in 0..{count - 1} for layer {layer} ({count} neurons); got {index!r}"
        )
    return layer, int(index)


def image_side(net: Network) -> int:
    """The side of the square input image: 28 for 784 inputs; ValueError if not a square."""
    side = math.isqrt(net.num_inputs)
    if side * side != net.num_inputs:
        raise ValueError(
            f"the network takes {net.num_inputs} inputs, which is not a square image "
            f"(784 = 28×28 for MNIST); pictures of its weights need a square number of inputs"
        )
    return side


def _check_batch(net: Network, x: ArrayLike, name: str = "x") -> Array:
    """x as (n, n_in): also accepts one example (n_in,) or one square image (side, side)."""
    x = np.asarray(x)
    if x.ndim == 1 or (x.ndim == 2 and x.shape[0] == x.shape[1] and x.size == net.num_inputs):
        x = x.reshape(1, -1)
    return net.check_inputs(x, name)


def _check_labels(y: ArrayLike, n: int, n_classes: int) -> NDArray[np.int64]:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"y must be {n} labels, one per row of x; got shape {y.shape}")
    if y.dtype.kind not in "ui":
        raise ValueError(f"y must hold integer labels; got dtype {y.dtype}")
    if n and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"y labels must be in 0..{n_classes - 1}; got {y.min()}..{y.max()}")
    return y.astype(np.int64)


# --------------------------------------------------------------------------- pictures of neurons


def weight_image(net: Network, index: int) -> Array:
    """Row `index` of W₀ (layers[0].weight), the weights neuron (0, index) gives each pixel.

    Returns a (28, 28) array (side × side for any square number of inputs), a copy.
    Positive weights are pixels whose ink excites the neuron, negative ones inhibit it.
    """
    _, index = check_neuron(net, 0, index)
    side = image_side(net)
    return net.layers[0].weight[index].reshape(side, side).copy()


def weighted_picture(net: Network, layer: int, index: int) -> NDArray[np.float64]:
    """Row `index` of W_L ⋯ W₁ W₀: (n_in,), float64.

    The linear approximation of what neuron (layer, index) looks for: each earlier neuron's
    picture weighted by how strongly it feeds this one, ignoring the σ in between.
    """
    layer, index = check_neuron(net, layer, index)
    row = net.layers[layer].weight[index].astype(np.float64)  # (n_in of layer L,)
    for below in reversed(net.layers[:layer]):
        row = row @ below.weight.astype(np.float64)  # (n_in of the layer below,)
    return row


def neuron_picture(net: Network, layer: int, index: int, method: str = "weighted", **options: Any) -> Array:
    """What neuron (layer, index) looks for, as a (28, 28) picture.

    method "weighted": for layer 0 the weight image itself; deeper, the row of W_L ⋯ W₁ W₀
    (weighted_picture), in weight units: positive where ink excites the neuron.
    method "maximize": the input from maximize_activation (pixels in [0, 1]); options go to it
    (steps, step_size, norm, seed). Works for layer 0 too.
    """
    layer, index = check_neuron(net, layer, index)
    if method not in PICTURE_METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(PICTURE_METHODS)}")
    side = image_side(net)
    if method == "maximize":
        return maximize_activation(net, layer, index, **options).reshape(side, side)
    if options:
        raise ValueError(f"method 'weighted' takes no options; got {', '.join(options)}")
    if layer == 0:
        return weight_image(net, index)
    return weighted_picture(net, layer, index).reshape(side, side)


def input_gradient(net: Network, layer: int, index: int, x: ArrayLike, *, of: str = "activation") -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """∂a/∂x (or ∂z/∂x) of neuron (layer, index) at each input, by backpropagation to the input.

    Forward through layers 0..L, then backward from the neuron: dA_L = e_J (1 at the neuron),
    dZ = dA ⊙ σ'(Z) through each σ (skipped for the neuron itself when of="z"), dA_prev = dZ @ W.
    x: (n, n_in). Returns (value (n,), gradient (n, n_in)), float64; value is a or z.
    """
    layer, index = check_neuron(net, layer, index)
    if of not in ("activation", "z"):
        raise ValueError(f"of must be 'activation' or 'z'; got {of!r}")
    A = _check_batch(net, x).astype(np.float64)
    activations = [A]
    Z = None
    for dense in net.layers[: layer + 1]:
        Z = activations[-1] @ dense.weight.T.astype(np.float64) + dense.bias  # (n, n_out)
        activations.append(dense.activation_function.function(Z))
    top = net.layers[layer]
    dA = np.zeros_like(activations[-1])  # (n, n_out of layer L)
    dA[:, index] = 1.0
    if of == "z":
        value, dZ = Z[:, index].copy(), dA
    else:
        value, dZ = activations[-1][:, index].copy(), top.activation_function.backward(dA, activations[-1])
    for number in range(layer, -1, -1):
        dA = dZ @ net.layers[number].weight.astype(np.float64)  # (n, n_in of layer `number`)
        if number > 0:
            dZ = net.layers[number - 1].activation_function.backward(dA, activations[number])
    return value, dA


def maximize_activation(
    net: Network,
    layer: int,
    index: int,
    *,
    steps: int = 200,
    step_size: float = 0.5,
    norm: float = DEFAULT_NORM,
    seed: int | np.random.Generator | None = 0,
) -> NDArray[np.float64]:
    """An input that excites neuron (layer, index): projected gradient ascent on x. (n_in,).

    x ← P(x + step_size · g / ‖g‖), g = ∂z/∂x, for `steps` steps from faint random noise
    (drawn from `seed`). P keeps x a possible image: pixels clipped to [0, 1], then x scaled
    into the L2 ball ‖x‖ ≤ norm (default 9.3, the mean norm of an MNIST digit, so the result
    has about a digit's worth of ink). For sigmoid, tanh and ReLU neurons the ascent follows the
    weighted sum z, whose gradient does not vanish where σ saturates, and raising z raises
    a = σ(z) too; for a softmax output it follows the probability a itself. The step is
    normalised, so step_size is the L2 distance moved per step. Returns the best x seen, so
    the neuron's activation there is at least its activation at the start.
    """
    layer, index = check_neuron(net, layer, index)
    steps = _positive_int(steps, "steps")
    step_size = _positive_float(step_size, "step_size")
    norm = _positive_float(norm, "norm")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    of = "z" if net.layers[layer].activation in MONOTONE else "activation"

    def project(x: NDArray[np.float64]) -> NDArray[np.float64]:
        x = np.clip(x, 0.0, 1.0)
        length = float(np.linalg.norm(x))
        return x * (norm / length) if length > norm else x

    x = project(rng.uniform(0.0, 0.1, net.num_inputs))  # (n_in,)
    best_x, best_value = x, -math.inf
    for _ in range(steps + 1):
        value, gradient = input_gradient(net, layer, index, x[None, :], of=of)
        if value[0] > best_value:
            best_x, best_value = x, float(value[0])
        length = float(np.linalg.norm(gradient))
        if length == 0.0 or not math.isfinite(length):
            break  # flat here (a dead ReLU path): nothing to climb
        x = project(x + step_size * gradient[0] / length)
    return best_x


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def _positive_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a positive number; got {value!r}")
    return float(value)


# --------------------------------------------------------------------------- activations


def activation_trace(net: Network, x: ArrayLike) -> list[Array]:
    """One input's activations through every layer, input first: [x, a₁, ..., a_L].

    x: one example, (784,), (1, 784) or (28, 28). Returns 1-D arrays, one per layer, the
    single row of net.activations(x.reshape(1, -1)): shapes (784,), (16,), (16,), (10,) for
    the video's network.
    """
    x = np.asarray(x)
    if x.size != net.num_inputs or x.ndim > 2:
        raise ValueError(f"x must be one example of {net.num_inputs} values, (784,) or (1, 784); got shape {x.shape}")
    return [A[0] for A in net.activations(x.reshape(1, -1))]


def layer_outputs(net: Network, layer: int, x: ArrayLike) -> tuple[Array, Array]:
    """The weighted sums Z and activations A = σ(Z) of layers[layer] for each row of x.

    x: (n, 784). Returns (Z, A), each (n, n_out); computed in batches to bound memory.
    """
    layer = check_layer(net, layer)
    X = _check_batch(net, x)
    Z_parts, A_parts = [], []
    for start in range(0, len(X), BATCH):
        A = X[start:start + BATCH]
        for dense in net.layers[:layer]:
            A = dense.forward(A)
        dense = net.layers[layer]
        Z = A @ dense.weight.T + dense.bias  # (batch, n_out)
        Z_parts.append(Z)
        A_parts.append(dense.activation_function.function(Z))
    return np.concatenate(Z_parts), np.concatenate(A_parts)


def top_activating(net: Network, layer: int, index: int, x: ArrayLike, k: int = 16) -> NDArray[np.int64]:
    """Indices into x of the k examples that excite neuron (layer, index) most, strongest first.

    x: (n, 784). For sigmoid, tanh and ReLU neurons the examples are ranked by the weighted sum
    z, which orders them exactly as a = σ(z) does but still tells apart the many examples whose
    sigmoid has saturated at 1.0; a softmax output is ranked by its probability. Ties keep the
    earlier example first. Returns (min(k, n),) int64.
    """
    layer, index = check_neuron(net, layer, index)
    k = _positive_int(k, "k")
    Z, A = layer_outputs(net, layer, x)
    values = Z if net.layers[layer].activation in MONOTONE else A
    return np.argsort(-values[:, index], kind="stable")[:k].astype(np.int64)


def strongest_connections(net: Network, x: ArrayLike, layer: int, k: int = 40) -> list[dict[str, Any]]:
    """The k connections of layer `layer` that carry the most for one input: largest |wⱼᵢ aᵢ|.

    x: one example. Each connection: {"source": i (neuron of the layer before, or pixel),
    "target": j, "weight": wⱼᵢ, "contribution": wⱼᵢ aᵢ, its share of neuron j's weighted sum}.
    Sorted by |contribution|, largest first.
    """
    layer = check_layer(net, layer)
    k = _positive_int(k, "k")
    a_in = activation_trace(net, x)[layer].astype(np.float64)  # (n_in,)
    W = net.layers[layer].weight.astype(np.float64)  # (n_out, n_in)
    contribution = W * a_in  # (n_out, n_in)
    flat = np.argsort(-np.abs(contribution), axis=None, kind="stable")[:k]
    targets, sources = np.unravel_index(flat, W.shape)
    return [
        {"source": int(i), "target": int(j), "weight": float(W[j, i]), "contribution": float(contribution[j, i])}
        for j, i in zip(targets, sources)
    ]


# --------------------------------------------------------------------------- diagnostics


def parameter_counts(net: Network) -> list[dict[str, Any]]:
    """Per layer: {"layer", "shape" [n_out, n_in], "weights" n_out·n_in, "biases" n_out, "total"}.

    The "total" values add up to net.num_parameters: 13,002 for the video's 784-16-16-10.
    """
    return [
        {
            "layer": number,
            "shape": [dense.n_out, dense.n_in],
            "weights": int(dense.weight.size),
            "biases": int(dense.bias.size),
            "total": int(dense.weight.size + dense.bias.size),
        }
        for number, dense in enumerate(net.layers)
    ]


def _summary(values: Array, prefix: str) -> dict[str, float]:
    values = values.astype(np.float64)
    return {
        f"{prefix}_mean": float(values.mean()),
        f"{prefix}_std": float(values.std()),
        f"{prefix}_min": float(values.min()),
        f"{prefix}_max": float(values.max()),
    }


def layer_statistics(net: Network, x: ArrayLike | None = None) -> list[dict[str, Any]]:
    """Per layer: what its weights and biases look like and, given inputs x, how it behaves.

    Keys: layer, n_in, n_out, activation, weights, biases (counts); weight_mean/std/min/max,
    bias_mean/std/min/max; and with x (n, 784):
    - mean_abs_activation: mean |a| over examples and neurons;
    - dead_fraction, dead_neurons: for ReLU-like layers, the neurons never active (a > 0) on
      any row of x (they pass no gradient and learn nothing); None for other activations;
    - saturated_fraction: for sigmoid, the share of activations below 0.01 or above 0.99; for
      tanh, |a| > 0.99 (σ' ≈ 0 there, so learning through them is slow); None otherwise.
    Without x these three are None.
    """
    X = None if x is None else _check_batch(net, x)
    stats = []
    A = X
    for number, dense in enumerate(net.layers):
        entry: dict[str, Any] = {
            "layer": number,
            "n_in": dense.n_in,
            "n_out": dense.n_out,
            "activation": dense.activation,
            "weights": int(dense.weight.size),
            "biases": int(dense.bias.size),
            **_summary(dense.weight, "weight"),
            **_summary(dense.bias, "bias"),
            "mean_abs_activation": None,
            "dead_fraction": None,
            "dead_neurons": None,
            "saturated_fraction": None,
        }
        if A is not None:
            A = np.concatenate([dense.forward(A[s:s + BATCH]) for s in range(0, len(A), BATCH)])
            entry["mean_abs_activation"] = float(np.abs(A).mean(dtype=np.float64))
            if dense.activation in ("relu", "leaky_relu"):
                dead = ~(A > 0).any(axis=0)  # (n_out,)
                entry["dead_fraction"] = float(dead.mean())
                entry["dead_neurons"] = [int(j) for j in np.flatnonzero(dead)]
            if dense.activation == "sigmoid":
                entry["saturated_fraction"] = float(((A > SATURATION) | (A < 1 - SATURATION)).mean())
            elif dense.activation == "tanh":
                entry["saturated_fraction"] = float((np.abs(A) > SATURATION).mean())
        stats.append(entry)
    return stats


def confusion_matrix(net: Network, x: ArrayLike, y: ArrayLike) -> NDArray[np.int64]:
    """(n_classes, n_classes) counts of true class (row) predicted as class (column). x: (n, 784)."""
    X = _check_batch(net, x)
    labels = _check_labels(y, len(X), net.num_outputs)
    return metrics.confusion_matrix(labels, net.predict(X), net.num_outputs)


def confident_mistakes(net: Network, x: ArrayLike, y: ArrayLike, k: int = 25) -> list[tuple[int, int, int, float]]:
    """The k misclassified examples the network was surest of: (index, true, predicted, confidence).

    confidence is the predicted output neuron's activation: a probability for a softmax output,
    the sigmoid's value in [0, 1] for the video's network. Sorted by confidence, highest first
    (ties: lower index first). Fewer than k if there are fewer mistakes.
    """
    k = _positive_int(k, "k")
    X = _check_batch(net, x)
    labels = _check_labels(y, len(X), net.num_outputs)
    outputs = np.concatenate([net.forward(X[s:s + BATCH]) for s in range(0, len(X), BATCH)])  # (n, n_out)
    predicted = outputs.argmax(axis=1)
    confidence = outputs[np.arange(len(X)), predicted]
    wrong = np.flatnonzero(predicted != labels)
    order = wrong[np.argsort(-confidence[wrong], kind="stable")][:k]
    return [(int(i), int(labels[i]), int(predicted[i]), float(confidence[i])) for i in order]
