"""Scores of a classifier: accuracy, confusion matrix, per-class precision and recall.

confusion[i, j] counts the examples of true class i predicted as class j, so the diagonal
holds the correct answers, row sums are the class sizes and column sums the predictions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


def confusion_matrix(labels: NDArray[np.integer], predictions: NDArray[np.integer], n_classes: int) -> NDArray[np.int64]:
    """(n_classes, n_classes) counts; rows are true classes, columns predictions."""
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    if labels.shape != predictions.shape or labels.ndim != 1:
        raise ValueError(f"labels and predictions must be 1-D and the same length; got {labels.shape} and {predictions.shape}")
    counts = np.bincount(labels.astype(np.int64) * n_classes + predictions, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes)


@dataclass
class Report:
    accuracy: float
    confusion: NDArray[np.int64]
    precision: NDArray[np.float64]  # (n_classes,): correct / predicted as the class
    recall: NDArray[np.float64]  # (n_classes,): correct / examples of the class
    class_names: list[str]

    def most_confused(self, count: int = 5) -> list[tuple[str, str, int]]:
        """The largest off-diagonal cells: (true class, predicted class, count), largest first."""
        off = self.confusion.copy()
        np.fill_diagonal(off, 0)
        order = np.argsort(off, axis=None)[::-1][:count]
        pairs = []
        for flat in order:
            i, j = divmod(int(flat), off.shape[1])
            if off[i, j] > 0:
                pairs.append((self.class_names[i], self.class_names[j], int(off[i, j])))
        return pairs

    def to_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "per_class": [
                {"class": name, "precision": float(p), "recall": float(r), "support": int(s)}
                for name, p, r, s in zip(self.class_names, self.precision, self.recall, self.confusion.sum(axis=1))
            ],
            "confusion_matrix": self.confusion.tolist(),
            "most_confused": [{"true": t, "predicted": p, "count": c} for t, p, c in self.most_confused()],
        }


def classification_report(labels, predictions, class_names: list[str]) -> Report:
    n_classes = len(class_names)
    confusion = confusion_matrix(labels, predictions, n_classes)
    correct = np.diag(confusion).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(confusion.sum(axis=0) > 0, correct / np.maximum(confusion.sum(axis=0), 1), 0.0)
        recall = np.where(confusion.sum(axis=1) > 0, correct / np.maximum(confusion.sum(axis=1), 1), 0.0)
    accuracy = float(correct.sum() / max(confusion.sum(), 1))
    return Report(accuracy, confusion, precision, recall, list(class_names))
