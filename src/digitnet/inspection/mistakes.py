"""Where a trained network goes wrong: its confusion matrix and the mistakes it was surest of.

For inputs X (n, 784) with labels y (n,), the prediction is ŷ = argmax_j a_j of the output layer,
(n,), and its confidence the output a_ŷ: a probability for a softmax output, the sigmoid's
value in [0, 1] for the video's network. confusion[i, j] counts the examples of true class i
read as class j (digitnet.inspection.metrics.confusion_matrix), so mistakes are off the diagonal.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from digitnet.checks import check_positive_int
from digitnet.inspection import metrics
from digitnet.inspection.activations import BATCH
from digitnet.inspection.numbering import check_batch, check_labels
from digitnet.network import Network

__all__ = ["confident_mistakes", "confusion_matrix"]


def confusion_matrix(net: Network, x: ArrayLike, y: ArrayLike) -> NDArray[np.int64]:
    """(n_classes, n_classes) counts of true class (row) predicted as class (column). x: (n, 784)."""
    X = check_batch(net, x)
    labels = check_labels(y, len(X), net.num_outputs)
    return metrics.confusion_matrix(labels, net.predict(X), net.num_outputs)


def confident_mistakes(net: Network, x: ArrayLike, y: ArrayLike, k: int = 25) -> list[tuple[int, int, int, float]]:
    """The k misclassified examples the network was surest of: (index, true, predicted, confidence).

    confidence is the predicted output neuron's activation: a probability for a softmax output,
    the sigmoid's value in [0, 1] for the video's network. Sorted by confidence, highest first
    (ties: lower index first). Fewer than k if there are fewer mistakes.
    """
    k = check_positive_int(k, "k")
    X = check_batch(net, x)
    labels = check_labels(y, len(X), net.num_outputs)
    outputs = np.concatenate([net.forward(X[s:s + BATCH]) for s in range(0, len(X), BATCH)])  # (n, n_out)
    predicted = outputs.argmax(axis=1)
    confidence = outputs[np.arange(len(X)), predicted]
    wrong = np.flatnonzero(predicted != labels)
    order = wrong[np.argsort(-confidence[wrong], kind="stable")][:k]
    return [(int(i), int(labels[i]), int(predicted[i]), float(confidence[i])) for i in order]
