"""Request and response bodies of the JSON API (pydantic models; they make /openapi.json).

Numbering as everywhere in digitnet: layers from 0; layer L's neurons are the outputs of
net.layers[L], so `activations[L][J]` is neuron (L, J). The input is not a layer: it is the
28×28 `input` grid.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, WrapValidator

from digitnet.data.preprocess import PreprocessError, from_pixels

MAX_EDITS = 256  # more edited neurons than any page shows at once
BIAS_RANGE = 1000.0  # |bias| above this only saturates every neuron; refused to keep numbers sane
SCALE_RANGE = 100.0  # weight_scale in [-100, 100]


NAMES = {str: "strings", bool: "booleans", list: "nested arrays", dict: "objects", type(None): "null"}


def _check_pixels(value: Any, handler: Any, info: ValidationInfo) -> np.ndarray:
    """784 numbers in [0, 1], flat or 28×28 -> a (28, 28) float32 array (data.preprocess.from_pixels)."""
    if not isinstance(value, list):
        raise ValueError(f"pixels must be a JSON array of 784 numbers in [0, 1]; got {type(value).__name__}")
    # JSON numbers only: from_pixels would read true/false as 1/0. set(map(type, ...)) is C-fast.
    types = set(map(type, value))
    if types == {list}:
        types = set().union(*(map(type, row) for row in value))
    if not types <= {float, int}:
        names = ", ".join(sorted(NAMES.get(t, t.__name__) for t in types - {float, int}))
        raise ValueError(f"pixels must be numbers in [0, 1], flat or as 28 rows of 28; got {names}")
    try:
        return from_pixels(value)
    except PreprocessError as error:
        raise ValueError(str(error)) from None


Pixels = Annotated[
    list[float] | list[list[float]],
    WrapValidator(_check_pixels),
    Field(description="784 brightnesses in [0, 1] (0 background, 1 ink), flat or as 28 rows of 28"),
]
Grid = Annotated[list[list[float]], Field(description="28 rows of 28 values")]


class PixelsRequest(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    pixels: Pixels


class Edit(BaseModel):
    """A change to one neuron: a new bias, and/or its incoming weights scaled."""

    model_config = ConfigDict(extra="forbid")

    layer: int = Field(ge=0, description="the neuron's layer, from 0")
    index: int = Field(ge=0, description="the neuron's index within its layer, from 0")
    bias: float | None = Field(
        default=None, ge=-BIAS_RANGE, le=BIAS_RANGE, allow_inf_nan=False,
        description="the neuron's new bias (replaces it)",
    )
    weight_scale: float | None = Field(
        default=None, ge=-SCALE_RANGE, le=SCALE_RANGE, allow_inf_nan=False,
        description="multiplies every incoming weight of the neuron (1 = unchanged, -1 = flipped)",
    )


class EditedRequest(PixelsRequest):
    edits: list[Edit] = Field(default_factory=list, max_length=MAX_EDITS)


class Prediction(BaseModel):
    digit: int = Field(description="index of the most active output neuron")
    label: str = Field(description="its class name")
    probabilities: list[float] = Field(
        description="the output layer's activations, one per class: probabilities summing to 1 for "
        "a softmax output; for a sigmoid output (the video's network) each output neuron's own "
        "activation in [0, 1]",
    )
    activations: list[list[float]] = Field(
        description="activations[L] holds the outputs of layer L (from 0); the last is the output layer",
    )
    seen: Grid = Field(
        description="the 28×28 image the network read: the input after the model's own preprocessing "
        "(deskewed when its model file records deskew; otherwise the input itself)",
    )


class ImagePrediction(Prediction):
    input: Grid = Field(description="the 28×28 image the network received, after MNIST-style preprocessing")
    preprocessing: dict[str, Any] = Field(description="what preprocessing did (digitnet.data.preprocess.to_mnist info)")


class LayerInfo(BaseModel):
    layer: int
    shape: list[int] = Field(description="[n_out, n_in] of its weight matrix")
    weights: int
    biases: int
    total: int
    activation: str


class ModelInfo(BaseModel):
    sizes: list[int] = Field(description="neurons per layer, input first, e.g. [784, 16, 16, 10]")
    activation: str
    output_activation: str
    layers: list[LayerInfo]
    num_parameters: int
    metrics: dict[str, Any]
    class_names: list[str]
    dataset: str | None
    source: str = Field(description="where the served model came from")
    training: dict[str, Any] | None


class Connection(BaseModel):
    neuron: int = Field(description="index of the neuron at the other end (a pixel, for layer 0's inputs)")
    weight: float


class NeuronInfo(BaseModel):
    layer: int
    index: int
    activation: str = Field(description="the activation function σ of this neuron")
    bias: float
    picture: Grid = Field(description="what the neuron looks for, 28×28 (digitnet.inspection.neuron_picture)")
    picture_method: str
    picture_description: str
    incoming: list[Connection] = Field(description="its strongest incoming weights, largest |weight| first")
    outgoing: list[Connection] = Field(description="its strongest weights to the next layer, largest |weight| first")
    weight_range: list[float] = Field(description="[min, max] of all its incoming weights")


class Sample(BaseModel):
    index: int = Field(description="index in the test set")
    label: int
    predicted: int
    correct: bool
    confidence: float = Field(description="the predicted output neuron's activation")
    pixels: Grid


class Samples(BaseModel):
    available: bool
    dataset: str
    message: str | None = None
    samples: list[Sample] = Field(default_factory=list)
