"""Looking inside a network: the numbers behind every picture of weights, biases and activations.

The video's promise is that you can see what the network does. Each function here returns plain
NumPy arrays, lists and dicts, so the CLI pictures (digitnet.inspection.plots), notebooks and the
web app all show the same numbers. NumPy only; nothing in these modules draws.

    numbering    how layers and neurons are numbered; check_layer, check_neuron, image_side
    neurons      what one neuron looks for: weight_image, neuron_picture, maximize_activation
    activations  a network's activations on inputs: activation_trace, layer_outputs, top_activating
    diagnostics  parameter_counts, layer_statistics (dead and saturated neurons)
    mistakes     confusion_matrix(net, x, y), confident_mistakes
    backprop     backpropagation for one example: backprop (cost, output nudges, every gradient),
                 wishes, most_nudged, weight_change_image, gradient_step
    metrics      scores from labels and predictions: accuracy, precision, recall (digitnet evaluate)
    calibration  expected calibration error, temperature scaling, the "unsure" threshold
    plots/       pictures of all of the above (matplotlib, optional: pip install 'digitnet[plots]')

Numbering, the same everywhere in digitnet: layer L is the weight layer net.layers[L], and
neuron (layer L, index J) is the J-th neuron it outputs, net.activations(X)[L + 1][:, J], with
incoming weights W_L[J] (row J of net.layers[L].weight, (n_out, n_in)) and bias b_L[J].
"""

from digitnet.inspection import metrics
from digitnet.inspection.activations import (
    BATCH,
    activation_trace,
    layer_outputs,
    strongest_connections,
    top_activating,
)
from digitnet.inspection.backprop import (
    backprop,
    default_loss,
    gradient_step,
    most_nudged,
    weight_change_image,
    wishes,
)
from digitnet.inspection.diagnostics import SATURATION, layer_statistics, parameter_counts
from digitnet.inspection.mistakes import confident_mistakes, confusion_matrix
from digitnet.inspection.neurons import (
    DEFAULT_NORM,
    MONOTONE,
    PICTURE_METHODS,
    input_gradient,
    maximize_activation,
    neuron_picture,
    weight_image,
    weighted_picture,
)
from digitnet.inspection.numbering import check_layer, check_neuron, image_side

__all__ = [
    "BATCH",
    "DEFAULT_NORM",
    "MONOTONE",
    "PICTURE_METHODS",
    "SATURATION",
    "activation_trace",
    "backprop",
    "check_layer",
    "check_neuron",
    "confident_mistakes",
    "confusion_matrix",
    "default_loss",
    "gradient_step",
    "image_side",
    "input_gradient",
    "layer_outputs",
    "layer_statistics",
    "maximize_activation",
    "most_nudged",
    "neuron_picture",
    "parameter_counts",
    "strongest_connections",
    "top_activating",
    "weight_change_image",
    "weight_image",
    "weighted_picture",
    "wishes",
]
