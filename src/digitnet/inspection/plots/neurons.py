"""Pictures of neurons: every neuron of a layer as a weight tile, and one neuron up close.

A layer-0 neuron j is row j of W₀ (n_out, 784) shown as 28×28: its weighted sum
z = Σᵢ wᵢ·pixelᵢ + b is large where ink lies on its blue (positive) weights. A deeper neuron is
pictured by its row of W_L ⋯ W₁ W₀ (inspection.neuron_picture, ignoring σ between layers) and by
the input that excites it most (inspection.maximize_activation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from digitnet import inspection
from digitnet.inspection.plots.canvas import (
    PIXEL_CMAP,
    POSITIVE,
    WEIGHT_CMAP,
    new_figure,
    output_names,
    symmetric_limit,
    tile,
)
from digitnet.network import Network

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["neuron_figure", "weights_figure"]


def _threshold_note(activation: str, bias: float) -> str:
    """What the bias does: the neuron lights up once its weighted input Σ w·a passes −b."""
    where = {"sigmoid": "σ(z) > 0.5", "tanh": "tanh(z) > 0", "softmax": "its share grows"}.get(activation, "it is active")
    return f"bias b = {bias:+.2f} sets its threshold:\nit lights up ({where}) once Σ w·a > {-bias:.2f}"


def weights_figure(net: Network, layer: int = 0, class_names: Sequence[str] | None = None) -> "Figure":
    """Every neuron of `layer` as a 28×28 tile, its bias under it.

    Layer 0: each tile is the neuron's row of W₀ (inspection.weight_image). Deeper layers: the
    "weighted" neuron pictures, rows of W_L ⋯ W₀ (inspection.neuron_picture), with a note that
    they ignore the σ between layers. One colour scale for all tiles, symmetric about zero.
    """
    layer = inspection.check_layer(net, layer)
    inspection.image_side(net)
    dense = net.layers[layer]
    n = dense.n_out
    pictures = np.stack([inspection.neuron_picture(net, layer, j) for j in range(n)])  # (n, 28, 28)
    columns = min(n, max(4, math.ceil(math.sqrt(n))))
    rows = math.ceil(n / columns)
    cell = 1.55 if n <= 36 else 1.0  # inches per tile
    figure = new_figure(figsize=(columns * cell + 1.4, rows * (cell + 0.25) + 1.3))
    grid = figure.subplots(rows, columns, squeeze=False)
    m = symmetric_limit(pictures)
    names = output_names(net, class_names)
    is_output = layer == len(net.layers) - 1
    small = 8 if n <= 36 else 6
    shown = None
    for j, axes in enumerate(grid.flat):
        if j >= n:
            axes.set_axis_off()
            continue
        shown = tile(axes, pictures[j], WEIGHT_CMAP, -m, m)
        label = f"output {names[j]}" if is_output else f"neuron {j}"
        axes.set_title(label, fontsize=small + 1, pad=2)
        axes.set_xlabel(f"bias {dense.bias[j]:+.2f}", fontsize=small, labelpad=2)
    colorbar = figure.colorbar(shown, ax=grid, shrink=0.8, extend="both", aspect=30)
    quantity = "weight" if layer == 0 else "value of the product"
    colorbar.set_label(f"{quantity}: blue +, ink here raises z;  red −, ink here lowers z", fontsize=9)
    if layer == 0:
        title = f"Layer 0: the {dense.n_in} weights of each of the {n} neurons, as a picture"
        note = "z = Σ wᵢ·pixelᵢ + b, a = σ(z): a neuron lights up for ink on its blue pixels, off its red ones"
    else:
        title = f"Layer {layer}: what each of its {n} neurons looks for (weighted pictures)"
        note = (f"each tile is a row of W{layer}" + "".join(f"·W{l}" for l in range(layer - 1, -1, -1))
                + ": a linear approximation that ignores σ between layers")
    figure.suptitle(f"{title}\n{note}", fontsize=10)
    return figure


def neuron_figure(
    net: Network,
    layer: int,
    index: int,
    x_test: ArrayLike,
    x_train: ArrayLike | None = None,
    class_names: Sequence[str] | None = None,
    *,
    top: int = 16,
    seed: int = 0,
) -> "Figure":
    """Neuron (layer, index) up close.

    Its picture (weights for layer 0, the weighted picture deeper), the input that excites it
    most (inspection.maximize_activation), its bias and what that means for its threshold, the
    histogram of its activation over x_test, and the `top` digits of x_train (or x_test) that
    excite it most (inspection.top_activating).
    """
    layer, index = inspection.check_neuron(net, layer, index)
    side = inspection.image_side(net)
    X_test = np.asarray(x_test)
    X_pool = X_test if x_train is None else np.asarray(x_train)
    dense = net.layers[layer]
    bias = float(dense.bias[index])
    picture = inspection.neuron_picture(net, layer, index)
    excites = inspection.maximize_activation(net, layer, index, seed=seed).reshape(side, side)
    values = inspection.layer_outputs(net, layer, X_test)[1][:, index]  # (n_test,)
    best = inspection.top_activating(net, layer, index, X_pool, k=top)
    best_z, best_a = (array[:, index] for array in inspection.layer_outputs(net, layer, X_pool[best]))

    figure = new_figure(figsize=(11.5, 7.2))
    upper, lower = figure.subfigures(2, 1, height_ratios=[1.25, 1])
    panels = upper.subplots(1, 3, width_ratios=[1, 1, 1.3])
    m = symmetric_limit(picture, 99)
    shown = tile(panels[0], picture, WEIGHT_CMAP, -m, m)
    bar = upper.colorbar(shown, ax=panels[0], shrink=0.85, aspect=25, extend="both")
    bar.set_label("blue +: ink here raises z · red −: lowers it", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    if layer == 0:
        panels[0].set_title("its 784 weights (row of W0)", fontsize=10)
    else:
        chain = f"W{layer}" + "".join(f"·W{l}" for l in range(layer - 1, -1, -1))
        panels[0].set_title(f"what it looks for: row of {chain}\n(linear approximation)", fontsize=10)
    panels[0].set_xlabel(_threshold_note(dense.activation, bias), fontsize=8.5)

    tile(panels[1], excites, PIXEL_CMAP, 0, 1)
    a_max = inspection.layer_outputs(net, layer, excites.reshape(1, -1))[1][0, index]
    panels[1].set_title(f"the input that excites it most\n(gradient ascent; activation {a_max:.2f})", fontsize=10)
    panels[1].set_xlabel(f"pixels in [0, 1], ‖x‖ ≤ {inspection.DEFAULT_NORM:g} like a digit", fontsize=8)

    histogram = panels[2]
    histogram.hist(values, bins=40, color=POSITIVE, alpha=0.85)
    histogram.set_title(f"its activation on {len(values):,} test images", fontsize=10)
    histogram.set_xlabel(f"activation a ({dense.activation})", fontsize=9)
    histogram.set_ylabel("images", fontsize=9)
    histogram.tick_params(labelsize=8)

    columns = min(top, 8)
    rows = math.ceil(len(best) / columns)
    cells = lower.subplots(rows, columns, squeeze=False)
    for k, axes in enumerate(cells.flat):
        if k >= len(best):
            axes.set_axis_off()
            continue
        tile(axes, X_pool[best[k]].reshape(side, side), PIXEL_CMAP, 0, 1)
        axes.set_title(f"a = {best_a[k]:.2f}, z = {best_z[k]:.1f}", fontsize=8, pad=2)
    pool_name = "training" if x_train is not None else "test"
    lower.suptitle(f"the {len(best)} {pool_name} digits that excite it most (largest weighted sum z)", fontsize=10)
    names = output_names(net, class_names)
    what = f"output neuron for {names[index]}" if layer == len(net.layers) - 1 else "hidden neuron"
    figure.suptitle(f"Neuron (layer {layer}, index {index}): {what}, {dense.n_in} incoming weights", fontsize=12)
    return figure
