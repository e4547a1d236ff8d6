"""Small image datasets made in code, for tests that need a run to learn (or not) in a second.

learnable_dataset(n_train, n_test): 28×28 "images" of faint noise with a bright band of 78
pixels whose position is the label (0-9): any network learns it in an epoch or two, so a
run on it that ends at chance level really did fail. Shaped like digitnet.data.Dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SyntheticDataset:
    name: str
    x_train: np.ndarray  # (n, 784) float32 in [0, 1]
    y_train: np.ndarray  # (n,) int64
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]


def band_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    x = rng.random((n, 784), dtype=np.float32) * 0.3
    for row, label in enumerate(labels):
        x[row, 78 * label: 78 * (label + 1)] = 1.0
    return x, labels


def learnable_dataset(n_train: int = 600, n_test: int = 200, seed: int = 0) -> SyntheticDataset:
    return SyntheticDataset("mnist", *band_images(n_train, seed), *band_images(n_test, seed + 1),
                            tuple(str(d) for d in range(10)))
