"""What one neuron looks for: its weights as a picture, and the input that excites it most.

Neuron (layer L, index J) is numbered as in digitnet.inspection.numbering: its incoming weights
are row J of W_L = net.layers[L].weight, (n_out, n_in). For layer 0 that row reshaped to 28×28
is the picture of the pixel pattern the neuron responds to: z = Σᵢ wᵢ xᵢ + b is large where the
digit's ink lies on positive weights and avoids negative ones.

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

from digitnet.checks import check_positive, check_positive_int
from digitnet.inspection.numbering import check_batch, check_neuron, image_side
from digitnet.network import Network

__all__ = [
    "DEFAULT_NORM",
    "MONOTONE",
    "PICTURE_METHODS",
    "input_gradient",
    "maximize_activation",
    "neuron_picture",
    "weight_image",
    "weighted_picture",
]

Array = NDArray[np.floating]

PICTURE_METHODS = ("weighted", "maximize")
# Activations whose output grows with z, so raising z raises a (maximize_activation, top_activating).
MONOTONE = {"sigmoid", "relu", "leaky_relu", "tanh", "identity"}
DEFAULT_NORM = 9.3  # the mean L2 norm of an MNIST test digit (pixels in [0, 1])


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
    A = check_batch(net, x).astype(np.float64)
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
    steps = check_positive_int(steps, "steps")
    step_size = check_positive(step_size, "step_size")
    norm = check_positive(norm, "norm")
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
