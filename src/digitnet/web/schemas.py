"""Request and response bodies of the JSON API (pydantic models; they make /openapi.json).

Numbering as everywhere in digitnet: layers from 0; layer L's neurons are the outputs of
net.layers[L], so `activations[L][J]` is neuron (L, J). The input is not a layer: it is the
28×28 `input` grid.

Request models are strict: a JSON string is not a number ("layer": "0"), nor is true
("bias": true); unknown keys are refused. The schema states every constraint the app checks;
constraints that depend on the served network (layer and index ranges, the number of classes)
are filled in by web.contract when the app is made.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, WrapValidator

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


Brightness = Annotated[float, Field(ge=0.0, le=1.0)]
Pixels = Annotated[
    # The schema the app really checks (the validator below never calls the default one).
    Annotated[list[Brightness], Field(min_length=784, max_length=784)]
    | Annotated[list[Annotated[list[Brightness], Field(min_length=28, max_length=28)]],
                Field(min_length=28, max_length=28)],
    WrapValidator(_check_pixels),
    Field(description="784 brightnesses in [0, 1] (0 background, 1 ink), flat or as 28 rows of 28"),
]
Grid = Annotated[list[list[float]], Field(description="28 rows of 28 values")]


class PixelsRequest(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid", strict=True)

    pixels: Pixels


def integral(value: Any) -> Any:
    """7.0 -> 7: JSON Schema counts a number with no fractional part as an integer; strings and
    booleans stay as they are, for strict validation to refuse."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = Annotated[int, BeforeValidator(integral)]


def _bias_or_scale(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [{"required": ["bias"]}, {"required": ["weight_scale"]}]


class Edit(BaseModel):
    """A change to one neuron: a new bias, and/or its incoming weights scaled.

    Edits apply in order; a later edit of the same neuron applies on top of the earlier one
    (its bias replaces, its weight_scale multiplies).
    """

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_bias_or_scale)

    layer: WholeNumber = Field(ge=0, description="the neuron's layer, from 0")
    index: WholeNumber = Field(ge=0, description="the neuron's index within its layer, from 0")
    # Not nullable: leave a key out to keep that parameter (null is refused).
    bias: float = Field(
        default=None, ge=-BIAS_RANGE, le=BIAS_RANGE, allow_inf_nan=False,
        description="the neuron's new bias (replaces it)",
    )
    weight_scale: float = Field(
        default=None, ge=-SCALE_RANGE, le=SCALE_RANGE, allow_inf_nan=False,
        description="multiplies every incoming weight of the neuron (1 = unchanged, -1 = flipped)",
    )


class EditedRequest(PixelsRequest):
    edits: list[Edit] = Field(default_factory=list, max_length=MAX_EDITS)


class ErrorDetail(BaseModel):
    loc: list[str] = Field(description="where: body, query or path, then the key names and list indices")
    msg: str
    type: str = Field(description="a machine-readable kind, e.g. missing, int_type, json_duplicate_key")


class ErrorBody(BaseModel):
    """Every error answer (4xx and 5xx) of the app."""

    detail: str = Field(description="one line saying what was expected and what was got")
    errors: list[ErrorDetail] | None = Field(
        default=None, description="for 422 from request validation: each problem found (at most 20)",
    )


class Prediction(BaseModel):
    digit: int | None = Field(ge=0, description="index of the most active output neuron; null when there is no "
                              "digit to read (no ink, a speck, a blot or noise: see note)")
    label: str | None = Field(description="its class name (null with no digit)")
    probabilities: list[Annotated[float, Field(ge=0.0, le=1.0)]] | None = Field(
        description="one per class, summing to 1 (Network.probabilities: a softmax output as it is, "
        "sigmoid outputs divided by their sum, any other output through softmax); null with no digit",
    )
    outputs: list[float] | None = Field(
        description="the output neurons' own activations; for the video's sigmoid network each in "
        "[0, 1] and not summing to 1; null with no digit",
    )
    activations: list[list[float]] | None = Field(
        description="activations[L] holds the outputs of layer L (from 0); the last is the output layer",
    )
    confidence: float | None = Field(None, description="the answer's calibrated probability (temperature-scaled "
                                     "on validation data at training time; digitnet.inspection.calibration)")
    unsure: bool = Field(False, description="confidence is below the model's unsure threshold (chosen on validation data)")
    note: str | None = Field(None, description="why there is no digit (\"no ink found\", \"too little ink to be a digit\", \"a line, not a digit\")")
    seen: Grid | None = Field(
        description="the 28×28 image the network read when the model's own preprocessing changed the input "
        "(deskewed when its model file records deskew); null when it is the input itself, or with no digit",
    )


class ImagePrediction(Prediction):
    input: Grid = Field(description="the 28×28 image the network received, after MNIST-style preprocessing")
    preprocessing: dict[str, Any] | None = Field(description="what preprocessing did (digitnet.data.preprocess.to_mnist "
                                                 "info); null when no digit was found")


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
    index: int = Field(ge=0, description="index in the test set")
    label: int = Field(ge=0, description="the true class")
    predicted: int = Field(ge=0, description="the class the model gives it")
    correct: bool
    confidence: float = Field(description="the predicted output neuron's activation")
    pixels: Grid


class Samples(BaseModel):
    available: bool
    dataset: str
    message: str | None = None
    samples: list[Sample] = Field(default_factory=list)
