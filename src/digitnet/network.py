"""A feed-forward network of dense layers: the video's a⁽ˡ⁺¹⁾ = σ(W⁽ˡ⁾ a⁽ˡ⁾ + b⁽ˡ⁾).

Forward (batched, one example per row):  A₀ = X;  Aₗ₊₁ = σ(Aₗ @ Wₗᵀ + bₗ)
Backward (backpropagation, for a cost C averaged over the batch):
    dZ_last = ∂C/∂A ⊙ σ'(Z_last)      (or (A − Y)/n when the cost is fused with the output)
    dWₗ = dZₗᵀ @ Aₗ    dbₗ = Σ_rows dZₗ    dZₗ₋₁ = (dZₗ @ Wₗ) ⊙ σ'(Zₗ₋₁)
Shapes: X (n, sizes[0]); Wₗ (sizes[l+1], sizes[l]); bₗ (sizes[l+1],); Aₗ (n, sizes[l]).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from digitnet.activations import get_activation
from digitnet.checks import check_dtype, check_inputs, check_network_size, check_sizes, check_targets, make_rng
from digitnet.engines.inference import forward as fast_forward
from digitnet.layers import DEFAULT_INIT, Dense, check_init
from digitnet.backprop import backward, output_delta
from digitnet.losses import get_loss

Array = NDArray[np.floating]


class Network:
    """The network of weights and biases.

    Network([784, 16, 16, 10]) is the video's network: 13,002 parameters, sigmoid everywhere.

    sizes: neurons per layer, input first. activation: for the hidden layers (and the output
    too unless output_activation is given). init: weight initialisation name (default by
    activation: nielsen for sigmoid, he for ReLU, xavier for tanh). seed: int or
    np.random.Generator for the initial weights. dtype: "float32" (default) or "float64".
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "sigmoid",
        output_activation: str | None = None,
        init: str | None = None,
        seed: int | np.random.Generator | None = None,
        dtype: str = "float32",
    ) -> None:
        sizes = check_sizes(sizes)
        get_activation(activation, hidden=True)
        output_activation = activation if output_activation is None else output_activation
        get_activation(output_activation)
        dtype = np.dtype(check_dtype(dtype))
        init = check_init(init if init is not None else DEFAULT_INIT[activation])
        rng = make_rng(seed)
        check_network_size(sizes, dtype)
        layers = []
        try:
            for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
                is_output = index == len(sizes) - 2
                layer_activation = output_activation if is_output else activation
                layers.append(Dense.initialised(n_in, n_out, layer_activation, init, rng, dtype))
        except MemoryError:
            raise ValueError(f"sizes {sizes} need more memory than is free now") from None
        self._set_layers(layers, activation, init)

    @classmethod
    def from_layers(
        cls, layers: Sequence[Dense], *, activation: str | None = None, init: str = "nielsen", metadata: dict | None = None
    ) -> "Network":
        """A network made of existing layers (their arrays are used, not copied).

        layers: Dense layers whose sizes chain (layer l's n_out is layer l+1's n_in), all of one
        dtype. activation: the hidden layers' activation (default: layer 0's; with a single
        layer, its own). The output activation is the last layer's.
        """
        layers = list(layers)
        if not layers or not all(isinstance(layer, Dense) for layer in layers):
            raise ValueError(f"layers must be a non-empty list of Dense layers; got {layers!r}")
        for index, (layer, following) in enumerate(zip(layers[:-1], layers[1:])):
            if layer.n_out != following.n_in:
                raise ValueError(
                    f"layer {index + 1} takes {following.n_in} inputs; layer {index} gives {layer.n_out}"
                )
        dtypes = {layer.weight.dtype for layer in layers} | {layer.bias.dtype for layer in layers}
        if len(dtypes) != 1:
            raise ValueError(f"every weight and bias must have one dtype; got {sorted(map(str, dtypes))}")
        check_dtype(dtypes.pop())
        hidden = [layer.activation for layer in layers[:-1]]
        # (A one-layer network has no hidden layer; its "activation" is then a formality.)
        activation = activation or (hidden[0] if hidden else "sigmoid")
        if any(name != activation for name in hidden):
            raise ValueError(f"every hidden layer must use one activation; got {hidden}")
        get_activation(activation, hidden=True)
        net = cls.__new__(cls)
        net._set_layers(layers, activation, check_init(init))
        net.metadata = dict(metadata or {})
        return net

    def _set_layers(self, layers: list[Dense], activation: str, init: str) -> None:
        self.layers: list[Dense] = layers
        self.sizes = [layers[0].n_in] + [layer.n_out for layer in layers]
        self.activation = activation
        self.output_activation = layers[-1].activation
        self.dtype = layers[0].weight.dtype
        self.init = init
        self.metadata: dict = {}  # training config, metrics, ... carried in the model file

    # ----------------------------------------------------------------- description
    @property
    def num_parameters(self) -> int:
        """Every weight and bias: 784·16 + 16·16 + 16·10 + 16 + 16 + 10 = 13,002 for the video's."""
        return sum(layer.num_parameters for layer in self.layers)

    @property
    def num_inputs(self) -> int:
        return self.sizes[0]

    @property
    def num_outputs(self) -> int:
        return self.sizes[-1]

    def __repr__(self) -> str:
        return (
            f"Network(sizes={self.sizes}, activation={self.activation!r}, "
            f"output_activation={self.output_activation!r}, dtype={self.dtype.name!r})"
        )

    def copy(self) -> "Network":
        """A deep copy: same architecture and metadata, its own weight and bias arrays."""
        layers = [Dense(layer.weight.copy(), layer.bias.copy(), layer.activation) for layer in self.layers]
        return Network.from_layers(layers, activation=self.activation, init=self.init, metadata=self.metadata)

    def parameters(self) -> list[Array]:
        """[W₀, b₀, W₁, b₁, ...]: the arrays themselves (updating them updates the network)."""
        return [array for layer in self.layers for array in (layer.weight, layer.bias)]

    # ----------------------------------------------------------------- forward
    def forward(self, X: ArrayLike) -> Array:
        """The output activations for each example. X: (n, sizes[0]) -> (n, sizes[-1]).

        The same numbers as applying each layer's forward in turn (see activations()); the
        arithmetic is arranged per shape for speed in digitnet.engines.inference.
        """
        return fast_forward(self.layers, check_inputs(X, self.sizes[0], self.dtype))

    def activations(self, X: ArrayLike) -> list[Array]:
        """Every layer's activations, input first: [X, A₁, ..., A_L]; Aₗ is (n, sizes[l])."""
        activations = [self.check_inputs(X)]
        for layer in self.layers:
            activations.append(layer.forward(activations[-1]))
        return activations

    def predict(self, X: ArrayLike) -> NDArray[np.int64]:
        """The index of the most active output neuron for each example: (n,)."""
        return self.forward(X).argmax(axis=1)

    def probabilities(self, X: ArrayLike) -> Array:
        """Each output as a share of 1, for display: (n, sizes[-1]), rows sum to 1.

        A softmax output already is a distribution; sigmoid outputs (the video's network)
        are divided by their sum; any other output goes through softmax.
        """
        return self.shares(self.forward(X))

    def shares(self, A: ArrayLike) -> Array:
        """probabilities() from output activations already computed: (n, sizes[-1]) -> the same
        shape, rows summing to 1 (a caller holding the activations need not run forward again)."""
        A = np.asarray(A)
        if self.output_activation == "softmax":
            return A
        if self.output_activation == "sigmoid":
            total = A.sum(axis=1, keepdims=True)
            return A / np.maximum(total, np.finfo(A.dtype).tiny)
        return get_activation("softmax").function(A)

    def loss(self, X: ArrayLike, Y: ArrayLike, loss: str = "quadratic") -> float:
        """The mean cost over the batch. Y: labels (n,) or targets (n, sizes[-1])."""
        cost = get_loss(loss, self.output_activation)
        X = self.check_inputs(X)
        return cost.function(self.activations(X)[-1], self.check_targets(Y, len(X)))

    def gradients(self, X: ArrayLike, Y: ArrayLike, loss: str = "quadratic") -> list[tuple[Array, Array]]:
        """Backpropagation: [(∂C/∂W₀, ∂C/∂b₀), ...] for the batch-mean cost C.

        Exact and vectorised over the batch. Each dWₗ has Wₗ's shape, each dbₗ bₗ's.
        """
        cost = get_loss(loss, self.output_activation)
        activations = self.activations(X)
        A = activations[-1]
        Y = self.check_targets(Y, len(A))
        dZ = output_delta(cost, self.output_activation, A, Y)
        return backward(self.layers, activations, dZ)

    # ----------------------------------------------------------------- input checks
    def check_inputs(self, X: ArrayLike, name: str = "X") -> Array:
        """X as a (n, sizes[0]) array of this network's dtype; ValueError if it cannot be."""
        return check_inputs(X, self.num_inputs, self.dtype, name)

    def check_targets(self, Y: ArrayLike, n: int, name: str = "Y") -> Array:
        """Labels (n,) or targets (n, sizes[-1]) as a one-hot/target matrix of this dtype."""
        return check_targets(Y, n, self.num_outputs, self.dtype, name)

    # ----------------------------------------------------------------- PyTorch (digitnet.interop.torch)
    def to_torch(self):
        """This network as a torch.nn.Sequential (Linear, activation, ...); needs torch."""
        from digitnet.interop.torch import to_torch

        return to_torch(self)

    @classmethod
    def from_torch(cls, module) -> "Network":
        """A Network computing what a torch.nn.Sequential of Linear layers and supported
        activations computes; ValueError naming the first unsupported module."""
        from digitnet.interop.torch import layers_from_torch

        layers, activation, metadata = layers_from_torch(module)
        return cls.from_layers(layers, activation=activation, metadata=metadata)
