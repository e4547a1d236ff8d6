"""The textbook baseline: the book's first network, trained as the book trains it.

Michael Nielsen's "Neural Networks and Deep Learning", chapter 1, trains the video's network with
a loop over the examples of each mini-batch: every example is a (784, 1) column vector in float64,
backpropagation runs once per example, and the mini-batch's gradients are summed in Python lists
before the step w ← w − (η/m) Σ ∇w. This module is our own code for that algorithm (sigmoid
neurons, quadratic cost, plain SGD), written the same way on purpose: it is the per-example
baseline that digitnet's vectorised, float32, batched path is measured against.

    net = TextbookNetwork([784, 16, 16, 10], rng=np.random.default_rng(0))
    net.train_epoch(examples, batch_size=10, learning_rate=3.0, rng=rng)   # examples: [(x, y)]
    net.evaluate(test_examples)                                           # correct count

Weights are drawn as in the book's network.py (every weight and bias N(0, 1)), or copied from a
digitnet Network so that both start from the same point (weights(), from_digitnet()).
"""

from __future__ import annotations

import numpy as np


def sigmoid(z):
    """σ(z) = 1 / (1 + e⁻ᶻ), the book's form (e⁻ᶻ may overflow to inf for z ≪ 0: σ is then 0)."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    """σ'(z) = σ(z)(1 − σ(z))."""
    s = sigmoid(z)
    return s * (1.0 - s)


class TextbookNetwork:
    """sizes [784, 16, 16, 10]: weights[l] is (sizes[l+1], sizes[l]), biases[l] (sizes[l+1], 1)."""

    def __init__(self, sizes, rng: np.random.Generator) -> None:
        self.sizes = list(sizes)
        self.biases = [rng.standard_normal((n_out, 1)) for n_out in sizes[1:]]
        self.weights = [rng.standard_normal((n_out, n_in)) for n_in, n_out in zip(sizes[:-1], sizes[1:])]

    @classmethod
    def from_digitnet(cls, net) -> "TextbookNetwork":
        """The same weights and biases as a digitnet Network, as float64 columns."""
        self = cls.__new__(cls)
        self.sizes = list(net.sizes)
        self.weights = [layer.weight.astype(np.float64) for layer in net.layers]
        self.biases = [layer.bias.astype(np.float64).reshape(-1, 1) for layer in net.layers]
        return self

    def feedforward(self, a):
        """a' = σ(W a + b), layer by layer; a is a (784, 1) column."""
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def train_epoch(self, examples, batch_size: int, learning_rate: float, rng: np.random.Generator) -> None:
        """One epoch of mini-batch SGD over a list of (x (784, 1), y (10, 1)) pairs."""
        order = rng.permutation(len(examples))
        shuffled = [examples[i] for i in order]
        for start in range(0, len(shuffled), batch_size):
            self.update_mini_batch(shuffled[start : start + batch_size], learning_rate)

    def update_mini_batch(self, mini_batch, learning_rate: float) -> None:
        """Sum backprop's gradients over the examples, then w ← w − (η/m) Σ ∇w."""
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_b, delta_w = self.backprop(x, y)
            nabla_b = [nb + db for nb, db in zip(nabla_b, delta_b)]
            nabla_w = [nw + dw for nw, dw in zip(nabla_w, delta_w)]
        step = learning_rate / len(mini_batch)
        self.weights = [w - step * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - step * nb for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x, y):
        """(∇b, ∇w) of the quadratic cost ½‖a − y‖² for one example."""
        activation, activations, zs = x, [x], []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = (activations[-1] - y) * sigmoid_prime(zs[-1])  # output error δᴸ
        nabla_b = [None] * len(self.biases)
        nabla_w = [None] * len(self.weights)
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for l in range(2, len(self.sizes)):  # δˡ = (Wˡ⁺¹)ᵀ δˡ⁺¹ ⊙ σ'(zˡ), from the back
            delta = np.dot(self.weights[-l + 1].transpose(), delta) * sigmoid_prime(zs[-l])
            nabla_b[-l] = delta
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
        return nabla_b, nabla_w

    def evaluate(self, examples) -> int:
        """How many (x, label) pairs the network gets right."""
        return sum(int(np.argmax(self.feedforward(x)) == label) for x, label in examples)


def as_examples(x, labels, n_classes: int = 10, one_hot: bool = True):
    """Rows of x as the book's (784, 1) float64 columns, with (10, 1) one-hot targets or labels."""
    columns = [row.astype(np.float64).reshape(-1, 1) for row in x]
    if not one_hot:
        return list(zip(columns, [int(label) for label in labels]))
    targets = []
    for label in labels:
        y = np.zeros((n_classes, 1))
        y[int(label)] = 1.0
        targets.append(y)
    return list(zip(columns, targets))
