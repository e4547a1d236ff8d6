"""Test-set digits for the page: some the model gets right, some it gets confidently wrong.

The test set comes from the data room, digitnet.data.load_split(..., download=False): only files
already on this machine (the data folder, the cache, system folders), so the server never starts
a download. When the test set is not there, the page says so and keeps working without samples.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from digitnet import data, inspection
from digitnet.data.prepare import prepare_for
from digitnet.network import Network

MAX_MISTAKES = 100  # the most confident mistakes kept to choose from


@dataclass
class TestSet:
    x: np.ndarray  # (n, 784) float32 in [0, 1], as stored
    seen: np.ndarray  # (n, 784): x as the model reads it (its own preprocessing applied)
    y: np.ndarray  # (n,) int64
    mistakes: list[tuple[int, int, int, float]]  # inspection.confident_mistakes


class SampleSource:
    """The served model's test set, loaded once, on first use (thread-safe)."""

    def __init__(self, net: Network, dataset: str) -> None:
        self.net = net
        self.dataset = dataset
        self._lock = threading.Lock()
        self._loaded: TestSet | None = None
        self._problem: str | None = None

    def load(self) -> TestSet | None:
        """The test set, or None (see .problem for why)."""
        with self._lock:
            if self._loaded is None and self._problem is None:
                try:
                    self._loaded = self._read()
                except (ValueError, OSError) as error:  # DatasetError is a ValueError
                    self._problem = f"the {self.dataset} test set could not be read: {' '.join(str(error).split())}"
            return self._loaded

    @property
    def problem(self) -> str | None:
        return self._problem

    def _read(self) -> TestSet:
        try:
            x, y = data.load_split(self.dataset, "test", download=False)  # (n, 784), (n,)
        except data.DatasetError as error:  # not here, damaged, or a dataset name we do not know
            # Its first line says what is missing or wrong; the rest lists where it looked.
            raise ValueError(str(error).splitlines()[0]) from None
        if x.shape[1] != self.net.num_inputs or int(y.max()) >= self.net.num_outputs:
            raise ValueError(
                f"its images have {x.shape[1]} pixels and {int(y.max()) + 1} classes; the model takes "
                f"{self.net.num_inputs} inputs and has {self.net.num_outputs} outputs"
            )
        seen = prepare_for(self.net, x)
        mistakes = inspection.confident_mistakes(self.net, seen, y, k=MAX_MISTAKES)
        return TestSet(x, seen, y, mistakes)

    def pick(self, count: int, mistakes: int, seed: int) -> list[dict]:
        """`count` test digits: up to `mistakes` of the model's confident mistakes, the rest at random.

        Each: index, label, predicted, correct, confidence, pixels (28×28). Deterministic in seed.
        """
        test = self.load()
        if test is None:
            return []
        rng = np.random.default_rng(seed)
        chosen: list[int] = []
        if test.mistakes and mistakes:
            take = min(mistakes, len(test.mistakes), count)
            picks = rng.choice(len(test.mistakes), size=take, replace=False)
            chosen += [test.mistakes[i][0] for i in picks]
        rest = count - len(chosen)
        if rest > 0:
            candidates = rng.choice(len(test.x), size=rest + len(chosen), replace=False)
            chosen += [int(i) for i in candidates if int(i) not in chosen][:rest]
        order = rng.permutation(len(chosen))
        indices = np.array([chosen[i] for i in order], dtype=np.int64)
        outputs = self.net.forward(test.seen[indices])  # (count, n_out)
        predicted = outputs.argmax(axis=1)
        side = inspection.image_side(self.net)
        return [
            {
                "index": int(i),
                "label": int(test.y[i]),
                "predicted": int(p),
                "correct": bool(p == test.y[i]),
                "confidence": float(row[p]),
                "pixels": test.x[i].reshape(side, side).tolist(),
            }
            for i, p, row in zip(indices, predicted, outputs)
        ]
