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

from digitnet.activations import ACTIVATIONS, Activation, get_activation
from digitnet.checks import check_choice

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


def check_init(name: str) -> str:
    return check_choice(name, INITS, "init")


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
        activation = ACTIVATIONS.get(self.activation)  # (a dict look-up: this runs for every layer call)
        return activation if activation is not None else get_activation(self.activation)

    @property
    def num_parameters(self) -> int:
        return self.weight.size + self.bias.size

    def forward(self, A: NDArray[np.floating]) -> NDArray[np.floating]:
        """a' = σ(W a + b), batched: σ(A @ Wᵀ + b). A: (n, n_in) -> (n, n_out)."""
        return self.activation_function.function(A @ self.weight.T + self.bias)

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
