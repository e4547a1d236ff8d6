"""Compatibility name: `digitnet.plots` is digitnet.inspection.plots under its old name.

The README's code layout names `plots`, and scripts written against it keep working:

    from digitnet import plots
    plots.save_figure(plots.weights_figure(net), "weights.png")

New code imports digitnet.inspection.plots (the pictures live beside the numbers they draw).
The names here are the same objects, not copies.
"""

from digitnet.inspection.plots import *  # noqa: F403
from digitnet.inspection.plots import __all__  # noqa: F401
