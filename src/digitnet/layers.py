"""A dense (fully connected) layer: a' = σ(W·a + b).

Shape convention, decided once for the whole project (and the same as PyTorch's nn.Linear):
- weight W is (n_out, n_in): row j holds neuron j's incoming weights, one per neuron of
  the previous layer. For the first layer of an MNIST network, row j reshaped to 28×28 is
  the picture of what neuron j looks for.
- bias b is (n_out,): one per neuron.
- data is batch-first: A is (n, n_in), one example per row, so the batched form of
  z = W a + b is Z = A @ Wᵀ + b, (n, n_out).

Layers are numbered from 0: layer 0 maps the 784 inputs to the first hidden layer. The same
numbering is used in the library, the model file (layers.0.weight), the CLI and the web app.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from digitnet.activations import Activation, get_activation

# Weight initialisations: name -> standard deviation of the weights as a function of
# (n_in, n_out), and whether the biases are drawn from N(0, 1) (as in Nielsen's book) or zero.
INITS: dict[str, tuple] = {
    # The book's improved init (chapter 3): N(0, 1/n_in) weights, N(0, 1) biases.
    "nielsen": (lambda n_in, n_out: 1.0 / np.sqrt(n_in), True),
    # The book's first network (network.py): every weight and bias N(0, 1).
    "standard-normal": (lambda n_in, n_out: 1.0, True),
    # Glorot & Bengio (2010), normal form: Var = 2 / (n_in + n_out).
    "xavier": (lambda n_in, n_out: np.sqrt(2.0 / (n_in + n_out)), False),
    # He et al. (2015) for ReLU: Var = 2 / n_in.
    "he": (lambda n_in, n_out: np.sqrt(2.0 / n_in), False),
}

DEFAULT_INIT = {
    "sigmoid": "nielsen",
    "tanh": "xavier",
    "identity": "xavier",
    "relu": "he",
    "leaky_relu": "he",
}


# Activations applied in place, Z ← σ(Z): the same operations as digitnet.activations performs
# (so the same values), without allocating. Used by Dense.forward and the training fast path.
# Their constants are 0-d arrays of Z's dtype: NumPy takes such an operand about twice as fast as
# a Python float (no scalar conversion), which matters when Z is one example's 16 numbers.
_CONSTANTS: dict[tuple[float, np.dtype], NDArray[np.floating]] = {}


def constant(value: float, dtype) -> NDArray[np.floating]:
    """value as a read-only 0-d array of dtype, made once."""
    key = (value, np.dtype(dtype))
    array = _CONSTANTS.get(key)
    if array is None:
        array = np.array(value, dtype=key[1])
        array.flags.writeable = False
        _CONSTANTS[key] = array
    return array


_HALF = {np.dtype(t): constant(0.5, t) for t in (np.float32, np.float64)}
_ONE = {np.dtype(t): constant(1.0, t) for t in (np.float32, np.float64)}
_ZERO = {np.dtype(t): constant(0.0, t) for t in (np.float32, np.float64)}
_HALF_ONE = {dtype: (_HALF[dtype], _ONE[dtype]) for dtype in _HALF}


def sigmoid_in_place(Z: NDArray[np.floating]) -> None:
    half, one = _HALF_ONE.get(Z.dtype, (0.5, 1.0))
    # (out given by position: NumPy parses it a little faster than out=Z)
    np.multiply(Z, half, Z)  # σ(z) = ½(1 + tanh(z/2)): never overflows
    np.tanh(Z, Z)
    np.add(Z, one, Z)
    np.multiply(Z, half, Z)


def relu_in_place(Z: NDArray[np.floating]) -> None:
    np.maximum(Z, _ZERO.get(Z.dtype, 0.0), out=Z)


def tanh_in_place(Z: NDArray[np.floating]) -> None:
    np.tanh(Z, Z)


def identity_in_place(Z: NDArray[np.floating]) -> None:
    pass


FORWARD_IN_PLACE = {
    "sigmoid": sigmoid_in_place,
    "relu": relu_in_place,
    "tanh": tanh_in_place,
    "identity": identity_in_place,
}


def check_init(name: str) -> str:
    if not isinstance(name, str) or name not in INITS:
        raise ValueError(f"unknown init {name!r}; expected one of {', '.join(INITS)}")
    return name


@dataclass
class Dense:
    """One layer of weights and biases followed by an activation.

    weight: (n_out, n_in); bias: (n_out,); activation: name in digitnet.activations.ACTIVATIONS.
    """

    weight: NDArray[np.floating]
    bias: NDArray[np.floating]
    activation: str

    @property
    def n_in(self) -> int:
        return self.weight.shape[1]

    @property
    def n_out(self) -> int:
        return self.weight.shape[0]

    @property
    def activation_function(self) -> Activation:
        return get_activation(self.activation)

    @property
    def num_parameters(self) -> int:
        return self.weight.size + self.bias.size

    def forward(self, A: NDArray[np.floating]) -> NDArray[np.floating]:
        """a' = σ(W a + b), batched: σ(A @ Wᵀ + b). A: (n, n_in) -> (n, n_out)."""
        if len(A) == 1:
            return self.forward_one(A[0])[None]
        Z = A @ self.weight.T  # (n, n_out)
        Z += self.bias
        in_place = FORWARD_IN_PLACE.get(self.activation)
        if in_place is None:
            return self.activation_function.function(Z)
        in_place(Z)  # Z is this call's own array: no second (n, n_out) allocation
        return Z

    def forward_one(self, a: NDArray[np.floating]) -> NDArray[np.floating]:
        """The video's a' = σ(W a + b) for one example. a: (n_in,) -> (n_out,).

        The computation of one row of forward() (equal up to rounding: BLAS may sum a
        matrix–vector product in another order), on vectors, which NumPy adds and squashes about
        twice as fast as a (1, n) row (no broadcasting): what one image's latency is made of.
        """
        z = np.dot(self.weight, a)  # (n_out,)
        np.add(z, self.bias, z)
        in_place = FORWARD_IN_PLACE.get(self.activation)
        if in_place is None:
            return self.activation_function.function(z[None])[0]
        in_place(z)
        return z

    @classmethod
    def initialised(
        cls,
        n_in: int,
        n_out: int,
        activation: str,
        init: str,
        rng: np.random.Generator,
        dtype: np.dtype,
    ) -> "Dense":
        """A layer with weights drawn by the named init scheme from rng."""
        std_of, random_bias = INITS[check_init(init)]
        weight = rng.standard_normal((n_out, n_in)) * std_of(n_in, n_out)  # (n_out, n_in)
        bias = rng.standard_normal(n_out) if random_bias else np.zeros(n_out)  # (n_out,)
        return cls(weight.astype(dtype), bias.astype(dtype), activation)
