"""The configurations the benchmark trains, and the FLOPs each one costs.

A-C are the issue's fixed configurations; D is the recipe used for "time to 98% test accuracy"
(chosen by the search described in BENCHMARKS.md); E is inference, on A's and C's networks.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Config:
    key: str
    title: str
    sizes: tuple[int, ...]
    activation: str  # hidden layers
    output: str  # output activation: "sigmoid" (A) or "softmax" (with cross-entropy)
    loss: str
    optimizer: str
    learning_rate: float
    batch_size: int
    init: str
    schedule: str = "constant"
    schedule_epochs: int = 0  # the run length a schedule is laid out over (0: the run itself)
    train_size: int = 50_000  # the book's split: 50,000 to train on (D trains on all 60,000)
    notes: dict[str, str] = field(default_factory=dict)  # per-peer departures from the recipe


CONFIGS = {
    "A": Config(
        "A", "3b1b: 784-16-16-10, sigmoid, quadratic, SGD, batch 10, lr 3.0",
        (784, 16, 16, 10), "sigmoid", "sigmoid", "quadratic", "sgd", 3.0, 10, "nielsen",
        notes={
            "sklearn": "MLPClassifier has no quadratic cost: softmax + log-loss output, lr 0.5 (the book's "
                       "cross-entropy rate), logistic hidden units, plain SGD, batch 10",
        },
    ),
    "B": Config(
        "B", "modern: 784-16-16-10, ReLU, softmax + cross-entropy, Adam 1e-3, batch 128",
        (784, 16, 16, 10), "relu", "softmax", "cross-entropy", "adam", 1e-3, 128, "he",
    ),
    "C": Config(
        "C", "wide: 784-800-800-10, ReLU, softmax + cross-entropy, Adam 1e-3, batch 128",
        (784, 800, 800, 10), "relu", "softmax", "cross-entropy", "adam", 1e-3, 128, "he",
    ),
    "D": Config(
        "D", "time to 98%: 784-256-10, ReLU, softmax + cross-entropy, Adam 4e-3, batch 128, cosine schedule over "
             "4 epochs, all 60,000 training images",
        (784, 256, 10), "relu", "softmax", "cross-entropy", "adam", 4e-3, 128, "he",
        schedule="cosine", schedule_epochs=4, train_size=60_000,
    ),
}

TARGET_ACCURACY = 0.98  # D: test accuracy to reach


def multiply_adds(sizes) -> int:
    """Σₗ n_in·n_out: the multiply-adds of one example's forward pass (biases aside)."""
    return sum(n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def flops_per_example(sizes) -> int:
    """Training FLOPs of one example (2 per multiply-add): forward Z = A Wᵀ, the weight gradient
    dZᵀ A, and the backward dZ W for every layer but the first (nothing needs ∂C/∂x)."""
    first = sizes[0] * sizes[1]
    return 2 * (3 * multiply_adds(sizes) - first)


def flops_per_epoch(config: Config) -> int:
    return flops_per_example(config.sizes) * config.train_size
