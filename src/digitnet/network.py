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
from digitnet.layers import DEFAULT_INIT, Dense, check_init
from digitnet.losses import get_loss

Array = NDArray[np.floating]

DTYPES = ("float32", "float64")


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
        self.sizes = check_sizes(sizes)
        get_activation(activation, hidden=True)
        output_activation = activation if output_activation is None else output_activation
        get_activation(output_activation)
        self.activation = activation
        self.output_activation = output_activation
        self.dtype = np.dtype(check_dtype(dtype))
        self.init = check_init(init if init is not None else DEFAULT_INIT[activation])
        rng = make_rng(seed)
        self.metadata: dict = {}  # training config, metrics, ... carried in the model file
        self.layers: list[Dense] = []
        for index, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            is_output = index == len(self.sizes) - 2
            layer_activation = output_activation if is_output else activation
            self.layers.append(Dense.initialised(n_in, n_out, layer_activation, self.init, rng, self.dtype))

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
        """A deep copy: same architecture, its own weight and bias arrays."""
        clone = object.__new__(Network)
        clone.__dict__.update(self.__dict__)
        clone.layers = [Dense(l.weight.copy(), l.bias.copy(), l.activation) for l in self.layers]
        return clone

    def parameters(self) -> list[Array]:
        """[W₀, b₀, W₁, b₁, ...]: the arrays themselves (updating them updates the network)."""
        return [array for layer in self.layers for array in (layer.weight, layer.bias)]

    # ----------------------------------------------------------------- forward
    def forward(self, X: ArrayLike) -> Array:
        """The output activations for each example. X: (n, sizes[0]) -> (n, sizes[-1])."""
        A = check_inputs(X, self.sizes[0], self.dtype)
        if len(A) == 1:  # one example: carried as a vector from layer to layer (see Dense.forward_one)
            a = A[0]
            for layer in self.layers:
                a = layer.forward_one(a)
            return a[None]
        for layer in self.layers:
            A = layer.forward(A)
        return A

    def activations(self, X: ArrayLike) -> list[Array]:
        """Every layer's activations, input first: [X, A₁, ..., A_L]; Aₗ is (n, sizes[l])."""
        return self._activations(self.check_inputs(X))

    def predict(self, X: ArrayLike) -> NDArray[np.int64]:
        """The index of the most active output neuron for each example: (n,)."""
        return self.forward(X).argmax(axis=1)

    def probabilities(self, X: ArrayLike) -> Array:
        """Each output as a share of 1, for display: (n, sizes[-1]), rows sum to 1.

        A softmax output already is a distribution; sigmoid outputs (the video's network)
        are divided by their sum; any other output goes through softmax.
        """
        A = self.forward(X)
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
        return cost.function(self._activations(X)[-1], self.check_targets(Y, len(X)))

    def gradients(self, X: ArrayLike, Y: ArrayLike, loss: str = "quadratic") -> list[tuple[Array, Array]]:
        """Backpropagation: [(∂C/∂W₀, ∂C/∂b₀), ...] for the batch-mean cost C.

        Exact and vectorised over the batch. Each dWₗ has Wₗ's shape, each dbₗ bₗ's.
        """
        cost = get_loss(loss, self.output_activation)
        X = self.check_inputs(X)
        activations = self._activations(X)
        return self._backward(activations, self._output_delta(activations[-1], self.check_targets(Y, len(X)), cost))

    # ----------------------------------------------------------------- internals (no checks)
    def _activations(self, X: Array) -> list[Array]:
        activations = [X]
        for layer in self.layers:
            activations.append(layer.forward(activations[-1]))
        return activations

    def _output_delta(self, A: Array, Y: Array, cost) -> Array:
        """∂C/∂Z of the output layer, (n, sizes[-1])."""
        if cost.fused_with == self.output_activation:
            if cost.fused_with == "softmax":
                # Softmax + cross-entropy: ∂C/∂Z = (P ⊙ Σₖyₖ − Y)/n. That is the familiar
                # (P − Y)/n whenever a target row sums to 1 (one-hot labels, distributions);
                # written out so that other targets (e.g. a zero row) get the true gradient.
                return (A * Y.sum(axis=1, keepdims=True) - Y) / len(A)
            return (A - Y) / len(A)
        return self.layers[-1].activation_function.backward(cost.gradient(A, Y), A)

    def _backward(
        self, activations: list[Array], dZ: Array, masks: list[Array | None] | None = None
    ) -> list[tuple[Array, Array]]:
        """From the output delta dZ back to every layer's (dW, db).

        masks: optional dropout masks of the hidden layers (already scaled by 1/keep); a
        dropped layer feeds A·mask forward, so its gradient is masked the same way, while
        σ' is taken at the undropped A.
        """
        grads: list[tuple[Array, Array]] = [None] * len(self.layers)  # type: ignore[list-item]
        for index in reversed(range(len(self.layers))):
            A_prev = activations[index]
            mask = masks[index - 1] if masks is not None and index > 0 else None
            A_in = A_prev if mask is None else A_prev * mask
            grads[index] = (dZ.T @ A_in, dZ.sum(axis=0))  # (n_out, n_in), (n_out,)
            if index > 0:
                dA = dZ @ self.layers[index].weight  # (n, n_in)
                if mask is not None:
                    dA *= mask
                dZ = self.layers[index - 1].activation_function.backward(dA, A_prev)
        return grads

    # ----------------------------------------------------------------- input checks
    def check_inputs(self, X: ArrayLike, name: str = "X") -> Array:
        """X as a (n, sizes[0]) array of this network's dtype; ValueError if it cannot be."""
        return check_inputs(X, self.num_inputs, self.dtype, name)

    def check_targets(self, Y: ArrayLike, n: int, name: str = "Y") -> Array:
        """Labels (n,) or targets (n, sizes[-1]) as a one-hot/target matrix of this dtype."""
        return check_targets(Y, n, self.num_outputs, self.dtype, name)

    # ----------------------------------------------------------------- files
    def save(self, path, **metadata) -> None:
        """Write a .safetensors model file (see digitnet.modelfile)."""
        from digitnet.modelfile import save

        save(self, path, **metadata)

    # ----------------------------------------------------------------- PyTorch (digitnet.interop.torch)
    def to_torch(self):
        """This network as a torch.nn.Sequential (Linear, activation, ...); needs torch."""
        from digitnet.interop.torch import to_torch

        return to_torch(self)

    @classmethod
    def from_torch(cls, module) -> "Network":
        """A Network from a torch.nn.Sequential of Linear layers and supported activations."""
        from digitnet.interop.torch import from_torch

        return from_torch(module)


def make_rng(seed: int | np.random.Generator | None, name: str = "seed") -> np.random.Generator:
    """A Generator from a seed (a non-negative integer), a Generator itself, or None (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"{name} must be a non-negative integer or None; got {seed!r}")
    return np.random.default_rng(seed)


def check_sizes(sizes: Sequence[int]) -> list[int]:
    try:
        values = list(sizes)
    except TypeError:
        raise ValueError(f"sizes must be a list of layer sizes like [784, 16, 16, 10]; got {sizes!r}") from None
    if len(values) < 2:
        raise ValueError(f"sizes needs at least an input and an output size, like [784, 10]; got {values}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"sizes must be positive integers; got {values}")
    return [int(v) for v in values]


def check_dtype(dtype) -> str:
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}")
    return name


def check_inputs(X: ArrayLike, n_in: int, dtype: np.dtype, name: str = "X") -> Array:
    """Validate a batch of inputs: 2-D (n, n_in), floating point, finite."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != n_in:
        hint = " (one example per row; use X.reshape(1, -1) for a single example)" if X.ndim == 1 else ""
        raise ValueError(f"{name} must have shape (n, {n_in}); got {X.shape}{hint}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one example; got shape {X.shape}")
    if X.dtype.kind != "f":
        hint = " (divide 0..255 pixels by 255)" if X.dtype.kind in "ui" else ""
        raise ValueError(f"{name} must be floating point (values in [0, 1]); got dtype {X.dtype}{hint}")
    if not all_finite(X):
        raise ValueError(f"{name} must be finite; got NaN or inf")
    if X.dtype != dtype:
        # A float64 value beyond float32's range would silently become inf in the cast.
        with np.errstate(over="ignore"):
            X = np.ascontiguousarray(X, dtype=dtype)
        if not all_finite(X):
            raise ValueError(f"{name} must fit in {np.dtype(dtype).name}; got values beyond ±{np.finfo(dtype).max:.3g}")
    return np.ascontiguousarray(X)


def all_finite(X: Array) -> bool:
    """Whether every value of X is finite (no NaN, no ±inf). Exact.

    A large array is first summarised by one dot product: x·x is finite only if every xᵢ is
    (a NaN or an inf makes it NaN or inf, and its terms xᵢ² ≥ 0 cannot cancel), and the BLAS
    computes it about twice as fast as NumPy's elementwise test. Only when x·x is not finite,
    which finite values beyond ~1e19 can also cause, does the elementwise test decide.
    """
    if X.size < 4096:
        return np.count_nonzero(np.isfinite(X)) == X.size  # (count_nonzero: the quickest reduction)
    flat = X.reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        squares = np.dot(flat, flat)
    return bool(np.isfinite(squares)) or bool(np.isfinite(X).all())


def check_targets(Y: ArrayLike, n: int, n_out: int, dtype: np.dtype, name: str = "Y") -> Array:
    """Labels (n,) in [0, n_out) become one-hot (n, n_out); targets (n, n_out) pass through."""
    Y = np.asarray(Y)
    if Y.ndim == 1:
        if Y.shape[0] != n:
            raise ValueError(f"{name} must have {n} labels, one per example; got {Y.shape[0]}")
        if Y.dtype.kind not in "ui":
            raise ValueError(f"{name} labels must be integers; got dtype {Y.dtype}")
        if n and (Y.min() < 0 or Y.max() >= n_out):
            raise ValueError(f"{name} labels must be in 0..{n_out - 1}; got {Y.min()}..{Y.max()}")
        return one_hot(Y, n_out, dtype)
    if Y.ndim == 2 and Y.shape == (n, n_out):
        if Y.dtype.kind not in "fiub" or not np.isfinite(Y).all():
            raise ValueError(f"{name} targets must be finite numbers; got dtype {Y.dtype} or NaN/inf")
        return np.ascontiguousarray(Y, dtype=dtype)
    raise ValueError(f"{name} must be labels of shape ({n},) or targets of shape ({n}, {n_out}); got {Y.shape}")


def one_hot(labels: NDArray[np.integer], n_classes: int, dtype=np.float32) -> Array:
    """(n,) integer labels -> (n, n_classes) rows with a single 1."""
    Y = np.zeros((len(labels), n_classes), dtype=dtype)
    Y[np.arange(len(labels)), labels] = 1
    return Y
