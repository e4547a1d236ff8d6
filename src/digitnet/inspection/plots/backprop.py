"""The picture of 3Blue1Brown's backpropagation lesson for one example.

Every number drawn comes from digitnet.inspection.backprop (tested against net.gradients):
- the output layer: each neuron's activation a_k (grey bar) and its nudge −∂C/∂a_k as an arrow,
  blue up for the right digit, red down for the others, as long as it is wrong (quadratic cost:
  the arrows end at the target);
- the wishes of the output neurons for the last hidden layer, −∂C/∂z_k · w_kj (a heat map, one row
  per output neuron), and their sums −∂C/∂a_j: the nudges the hidden neurons receive, and the
  same sums for every hidden layer before it;
- the weight change −∂C/∂W₀[j] = −∂C/∂z_j · x (28×28) of the layer-0 neurons with the biggest
  nudges that reach their weights, |∂C/∂z_j| (a saturated sigmoid neuron may want to move a lot,
  −∂C/∂a, and still barely change, since σ' ≈ 0: the bars show both);
- the cost before and after one gradient step on this example alone (inspection.gradient_step).
Layers are numbered from 0 as everywhere in digitnet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from digitnet import inspection
from digitnet.checks import check_positive_int
from digitnet.inspection.plots.canvas import (
    NEGATIVE,
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
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["backprop_figure"]

MAX_COLUMNS = 32  # hidden neurons drawn per layer (the most nudged, for wider layers)
GREY = "0.72"


def backprop_figure(
    net: Network,
    x: ArrayLike,
    label: int,
    class_names: Sequence[str] | None = None,
    *,
    loss: str | None = None,
    neurons: int = 4,
    learning_rate: float | None = None,
) -> "Figure":
    """Backpropagation for one example x with its true label, as the video's lesson draws it.

    loss: the cost (default: the model's training loss, inspection.default_loss). neurons: how
    many of layer 0's most nudged neurons get their 28×28 weight-change picture. learning_rate:
    η of the one gradient step shown (default: inspection.gradient_step's).
    """
    side = inspection.image_side(net)
    if len(net.layers) < 2:
        raise ValueError("the backpropagation picture needs a hidden layer; this network has one weight layer")
    neurons = min(check_positive_int(neurons, "neurons"), net.layers[0].n_out)
    result = inspection.backprop(net, x, label, loss)
    step = inspection.gradient_step(net, x, label, learning_rate, result["loss"])
    names = output_names(net, class_names)
    image = np.asarray(x, dtype=np.float64).reshape(side, side)
    hidden = len(net.layers) - 1  # hidden layers 0 .. hidden − 1

    figure = new_figure(figsize=(15, 10))
    grid = figure.add_gridspec(3, neurons + 2, height_ratios=[1.2, 0.62, 0.62])
    top = grid[0, :].subgridspec(1, hidden + 2, width_ratios=[0.8] + [1.3] * (hidden - 1) + [1.8, 1.0])
    _input(figure.add_subplot(top[0, 0]), image, names[result["label"]])
    for layer in range(hidden - 1):  # the nudges summed onto each earlier hidden layer
        _nudges(figure.add_subplot(top[0, 1 + layer]), result, layer, neurons if layer == 0 else 0)
    _wishes(figure, top[0, hidden], net, result, hidden - 1, neurons if hidden == 1 else 0, names)
    _outputs(figure.add_subplot(top[0, hidden + 1]), result, names)

    for k, j in enumerate(inspection.most_nudged(result, 0, neurons, of="z")):
        _weights_and_change(figure.add_subplot(grid[1, k]), figure.add_subplot(grid[2, k]), net, result, int(j), side)
    _step(figure.add_subplot(grid[1:, neurons:]), result, step, names)

    A = result["activations"][-1]
    predicted = int(np.argmax(A))
    figure.suptitle(
        f"Backpropagation for one example: a {names[result['label']]}, which the network reads as "
        f"{names[predicted]}; cost C = {result['cost']:.4g} ({result['loss']})\n"
        "the output neurons' nudges −∂C/∂a, their wishes −∂C/∂z·w summed back onto the hidden neurons, "
        "and the weight changes −∂C/∂W they ask for (blue up, red down)",
        fontsize=10,
    )
    return figure


def _input(axes: "Axes", image: np.ndarray, name: str) -> None:
    tile(axes, image, PIXEL_CMAP, 0.0, 1.0)
    axes.set_title(f"input x, label {name}", fontsize=9)


def _columns(values: np.ndarray) -> tuple[np.ndarray, str]:
    """The neurons a hidden layer shows: all, or the MAX_COLUMNS most nudged (in index order)."""
    if len(values) <= MAX_COLUMNS:
        return np.arange(len(values)), ""
    return np.sort(np.argsort(-np.abs(values), kind="stable")[:MAX_COLUMNS]), f" ({MAX_COLUMNS} most nudged)"


def _bars(axes: "Axes", columns: np.ndarray, values: np.ndarray, highlight: set[int]) -> None:
    colours = [POSITIVE if v >= 0 else NEGATIVE for v in values]
    edges = ["black" if j in highlight else "none" for j in columns]
    axes.bar(np.arange(len(columns)), values, color=colours, edgecolor=edges, linewidth=1.2)
    axes.axhline(0, color="0.3", lw=0.6)
    axes.set_xticks(np.arange(len(columns)), [str(j) for j in columns], fontsize=6.5)
    axes.tick_params(axis="y", labelsize=7)
    axes.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    axes.yaxis.get_offset_text().set_fontsize(7)


def _nudges(axes: "Axes", result: dict[str, Any], layer: int, marked: int) -> None:
    """−∂C/∂a of a hidden layer's neurons (the wishes of the layer after it, summed) and, as dots,
    −∂C/∂z: what passes σ' and reaches the neuron's weights."""
    values = -result["layers"][layer]["activation_gradient"]
    columns, note = _columns(values)
    highlight = set(inspection.most_nudged(result, layer, marked, of="z").tolist()) if marked else set()
    _bars(axes, columns, values[columns], highlight)
    reaching = -result["layers"][layer]["bias_gradient"][columns]
    axes.plot(np.arange(len(columns)), reaching, "o", color="black", markersize=3.5, label="−∂C/∂z (after σ')")
    axes.legend(fontsize=7, loc="best")
    axes.set_title(f"layer {layer}: nudges −∂C/∂a{note}\n(the wishes of layer {layer + 1}, summed)", fontsize=9)
    axes.set_xlabel(f"layer {layer} neuron" + (" (outlined: pictured below)" if marked else ""), fontsize=8)


def _wishes(figure, cell, net: Network, result: dict[str, Any], layer: int, marked: int, names) -> None:
    """The output layer's wishes for the last hidden layer (heat map) and their sums (bars)."""
    output_layer = layer + 1
    wishes = inspection.wishes(net, result, output_layer)  # (n_out, n_hidden)
    sums = -result["layers"][layer]["activation_gradient"]
    columns, note = _columns(sums)
    parts = cell.subgridspec(2, 1, height_ratios=[1.4, 1.0], hspace=0.05)
    heat = figure.add_subplot(parts[0])
    limit = symmetric_limit(wishes[:, columns], 100)
    heat.imshow(wishes[:, columns], cmap=WEIGHT_CMAP, vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
    heat.set_yticks(np.arange(len(names)), names, fontsize=7)
    heat.set_xticks([])
    heat.set_ylabel("output neuron k", fontsize=8)
    heat.set_title(f"wishes of the outputs for layer {layer}: −∂C/∂z_k · w_kj{note}\n"
                   f"(blue up, red down; colour scale ±{limit:.2g})", fontsize=9)
    bars = figure.add_subplot(parts[1])
    highlight = set(inspection.most_nudged(result, layer, marked, of="z").tolist()) if marked else set()
    _bars(bars, columns, sums[columns], highlight)
    bars.set_xlabel(f"layer {layer} neuron j: summed, −∂C/∂a_j", fontsize=8)


def _outputs(axes: "Axes", result: dict[str, Any], names) -> None:
    """Each output's activation (grey) and its nudge as an arrow: −∂C/∂a_k."""
    A, nudges = result["activations"][-1], result["output_nudges"]
    label = result["label"]
    largest = float(np.abs(nudges).max()) or 1.0
    scale = min(1.0, 1.0 / largest)  # quadratic cost: |nudge| ≤ 1, the arrows end at the target
    rows = np.arange(len(A))
    axes.barh(rows, A, color=GREY, height=0.6)
    for k in rows:
        length = float(nudges[k]) * scale
        if abs(length) > 1e-4:
            colour = POSITIVE if length > 0 else NEGATIVE
            axes.annotate("", xy=(A[k] + length, k), xytext=(A[k], k),
                          arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.2 + 2.5 * abs(float(nudges[k])) / largest})
        axes.text(1.32, k, f"{nudges[k]:+.3g}", va="center", ha="right", fontsize=7,
                  color=POSITIVE if k == label else "0.3")
    axes.set_yticks(rows, names, fontsize=8)
    axes.get_yticklabels()[label].set_fontweight("bold")
    axes.invert_yaxis()
    axes.set_xlim(-0.05, 1.35)
    axes.tick_params(axis="x", labelsize=7)
    axes.set_title("output layer: activation a (grey)\nand nudge −∂C/∂a (arrow, value)"
                   + ("" if scale == 1.0 else f"; arrows ×{scale:.2g}"), fontsize=9)


def _weights_and_change(above: "Axes", below: "Axes", net: Network, result: dict[str, Any], j: int, side: int) -> None:
    """A layer-0 neuron's weights now (above) and the change −∂C/∂W₀[j] this example asks for (below)."""
    weights = net.layers[0].weight[j].reshape(side, side)
    limit = symmetric_limit(weights)
    tile(above, weights, WEIGHT_CMAP, -limit, limit)
    nudge = -float(result["layers"][0]["activation_gradient"][j])
    reaching = -float(result["layers"][0]["bias_gradient"][j])
    above.set_title(f"layer 0, neuron {j}\n−∂C/∂a {nudge:+.2g}, −∂C/∂z {reaching:+.2g}\nits weights now (±{limit:.2g})", fontsize=8)
    picture = inspection.weight_change_image(net, result, j)
    limit = symmetric_limit(picture, 100)
    tile(below, picture, WEIGHT_CMAP, -limit, limit)
    below.set_title(f"weight change −∂C/∂W₀[{j}]\n= −∂C/∂z · x (±{limit:.2g})", fontsize=8)


def _step(axes: "Axes", result: dict[str, Any], step: dict[str, Any], names) -> None:
    """The outputs before and after one gradient step on this example, and the costs."""
    before, after = step["output_before"], step["output_after"]
    rows = np.arange(len(before))
    axes.barh(rows - 0.18, before, height=0.34, color=GREY, label="before")
    axes.barh(rows + 0.18, after, height=0.34, color=POSITIVE, label="after one step")
    axes.set_yticks(rows, names, fontsize=8)
    axes.get_yticklabels()[result["label"]].set_fontweight("bold")
    axes.invert_yaxis()
    axes.set_xlim(0, max(1.0, float(max(before.max(), after.max())) * 1.05))
    axes.tick_params(axis="x", labelsize=7)
    axes.legend(fontsize=7, loc="lower right")
    axes.set_title(
        f"outputs after one gradient step on this example alone\nW ← W − η∂C/∂W, η = {step['learning_rate']:g}: "
        f"cost {step['cost_before']:.4g} → {step['cost_after']:.4g}", fontsize=9)
