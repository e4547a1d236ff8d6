"""A model's own preprocessing: what it was trained to see, applied to everything it reads.

Every MNIST-style model reads 28×28 digits made as MNIST's were (digitnet.data.preprocess for
image files). A model may also have been trained on digits changed further — deskewed
(digitnet.data.deskew) — and must then read every input changed the same way: test digits in
`evaluate`, image files in `predict`, drawings on the web page. Its model file says so, in the
metadata document's "preprocessing":

    {"input_shape": [28, 28], ..., "steps": [..., "deskew: ..."], "deskew": true}

prepare_for(net, X) applies the steps a model's file records (none for older files, which
have no "deskew" key); every place that hands pixels to a model calls it.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from digitnet.data.deskew import deskew
from digitnet.modelfile import MNIST_PREPROCESSING

# The steps a model can ask for, in the order they act: its "preprocessing" key -> the function.
MODEL_STEPS = {"deskew": deskew}
STEP_DESCRIPTIONS = {"deskew": "deskew: shear about the centre of mass so the main axis is vertical (digitnet.data.deskew)"}


def preprocessing_document(*, deskew: bool = False) -> dict[str, Any]:
    """The "preprocessing" entry of a model file for a model trained with these steps."""
    document = copy.deepcopy(MNIST_PREPROCESSING)
    if deskew:
        document["steps"].append(STEP_DESCRIPTIONS["deskew"])
        document["deskew"] = True
    return document


def model_steps(metadata: dict[str, Any] | None) -> list[str]:
    """The names of the steps a model's metadata asks for (MODEL_STEPS order); [] for none.

    ValueError when a step's entry is not true or false.
    """
    preprocessing = (metadata or {}).get("preprocessing")
    if not isinstance(preprocessing, dict):
        return []
    steps = []
    for name in MODEL_STEPS:
        value = preprocessing.get(name, False)
        if not isinstance(value, bool):
            raise ValueError(f"the model's preprocessing {name!r} must be true or false; got {value!r}")
        if value:
            steps.append(name)
    return steps


def prepare_for(net: Any, x: ArrayLike) -> NDArray:
    """x as net expects to read it: the steps its model file records, applied in order.

    net: a Network (its .metadata is read) or a metadata dict. x: one image ((784,) or (28, 28))
    or a batch (n, 784). Returns an array of x's shape: x itself when the model records no steps
    (nothing copied), else a new float32 array; x is never modified.
    """
    metadata = net if isinstance(net, dict) else getattr(net, "metadata", None)
    steps = model_steps(metadata)
    if not steps:
        return x
    out = np.asarray(x, dtype=np.float32)
    for name in steps:
        out = MODEL_STEPS[name](out)
    return out
