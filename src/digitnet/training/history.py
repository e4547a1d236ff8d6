"""History: what each epoch of training measured.

One record per epoch (epoch numbers from 1): loss and accuracy on the training data, seconds,
learning_rate, and val_loss / val_accuracy / test_accuracy when those sets were given. Written
next to a model as JSON and CSV (digitnet.training.run).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class History:
    """Per-epoch records: epoch (1-based), loss, accuracy, seconds, learning_rate, and
    val_loss / val_accuracy / test_accuracy when those sets were given."""

    records: list[dict[str, float]] = field(default_factory=list)

    def _column(self, key: str) -> list[float]:
        return [record.get(key, math.nan) for record in self.records]

    @property
    def loss(self) -> list[float]:
        return self._column("loss")

    @property
    def accuracy(self) -> list[float]:
        return self._column("accuracy")

    @property
    def val_accuracy(self) -> list[float]:
        return self._column("val_accuracy")

    @property
    def test_accuracy(self) -> list[float]:
        return self._column("test_accuracy")

    @property
    def seconds(self) -> list[float]:
        return self._column("seconds")

    def __len__(self) -> int:
        return len(self.records)

    def to_dict(self) -> dict[str, Any]:
        return {"records": [dict(record) for record in self.records]}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "History":
        return cls([dict(record) for record in values.get("records", [])])

    def to_csv(self) -> str:
        keys: list[str] = []
        for record in self.records:
            keys += [key for key in record if key not in keys]
        lines = [",".join(keys)]
        for record in self.records:
            lines.append(",".join(_csv_value(record.get(key)) for key in keys))
        return "\n".join(lines) + "\n"


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)
