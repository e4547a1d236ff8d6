"""Pictures of the numbers in digitnet.inspection: weights, activations, neurons, mistakes.

    canvas       the Figure (no pyplot), colours, save_figure (PNG or SVG, written atomically)
    neurons      weights_figure (every neuron of a layer), neuron_figure (one neuron up close)
    activations  activations_figure (one digit flowing through the network)
    scores       mistakes_figure, confusion_figure, training_figure
    backprop     backprop_figure (backpropagation for one example, the video's lesson)
    calibration  reliability_figure (confidence against accuracy: digitnet evaluate --plot)

Every picture function returns a matplotlib Figure; save_figure(figure, "x.png") writes it.
matplotlib is the optional extra `pip install 'digitnet[plots]'`, imported only when drawing.
"""

from digitnet.inspection.plots.activations import activations_figure
from digitnet.inspection.plots.backprop import backprop_figure
from digitnet.inspection.plots.calibration import reliability_figure
from digitnet.inspection.plots.canvas import (
    FORMATS,
    INSTALL_HINT,
    NEGATIVE,
    PIXEL_CMAP,
    POSITIVE,
    WEIGHT_CMAP,
    require_matplotlib,
    save_figure,
)
from digitnet.inspection.plots.neurons import neuron_figure, weights_figure
from digitnet.inspection.plots.scores import confusion_figure, mistakes_figure, training_figure

__all__ = [
    "FORMATS",
    "INSTALL_HINT",
    "NEGATIVE",
    "PIXEL_CMAP",
    "POSITIVE",
    "WEIGHT_CMAP",
    "activations_figure",
    "backprop_figure",
    "confusion_figure",
    "mistakes_figure",
    "neuron_figure",
    "reliability_figure",
    "require_matplotlib",
    "save_figure",
    "training_figure",
    "weights_figure",
]
