"""The picture of one digit flowing through the network, as in the video.

Each layer L is a column of circles, neuron j shaded by its activation aⱼ = σ(zⱼ) for this input
(black 0, white 1; digitnet.inspection.activation_trace), and the lines into it are the
connections j ← i carrying the most, largest |wⱼᵢ aᵢ| (inspection.strongest_connections), blue
for wⱼᵢ > 0 and red for wⱼᵢ < 0. Layer 0's sources are the 28×28 input pixels themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from digitnet import inspection
from digitnet.inspection.plots.canvas import NEGATIVE, PIXEL_CMAP, POSITIVE, new_figure, output_names
from digitnet.network import Network

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["activations_figure"]


def _natural_range(activation: str, values: np.ndarray) -> tuple[float, float]:
    """The range an activation's output lives in, for shading: [0, 1] for sigmoid and softmax,
    [−1, 1] for tanh, [0, max] for ReLU-like and identity layers (max of the shown values)."""
    if activation in ("sigmoid", "softmax"):
        return 0.0, 1.0
    if activation == "tanh":
        return -1.0, 1.0
    low = min(0.0, float(values.min()))
    high = max(float(values.max()), low + 1e-6)
    return low, high


def _shown_neurons(values: np.ndarray, limit: int) -> np.ndarray:
    """Which neurons of a layer to draw: all of them, or the `limit` most active (in index order)."""
    if len(values) <= limit:
        return np.arange(len(values))
    return np.sort(np.argsort(-values, kind="stable")[:limit])


def activations_figure(
    net: Network,
    x: ArrayLike,
    class_names: Sequence[str] | None = None,
    *,
    label: int | None = None,
    title: str | None = None,
    connections: int = 36,
    max_neurons: int = 20,
) -> "Figure":
    """One digit flowing through the network, as in the video.

    Left, the 28×28 input as the network saw it; then each layer as a column of circles
    shaded by activation (black 0, white 1); the `connections` strongest connections into each
    layer for this input (largest |w·a|, inspection.strongest_connections) coloured by weight
    sign; the output neurons with their labels and activations. Layers wider than max_neurons
    show their most active neurons. label: the true class, if known, for the title.
    """
    trace = inspection.activation_trace(net, x)  # [x (784,), a₁, ..., a_L]
    side = inspection.image_side(net)
    names = output_names(net, class_names)
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Circle, Rectangle

    n_layers = len(net.layers)
    height, gap, image_size = 9.0, 2.6, 3.2
    # Figure size follows the drawing's extent (0.75 in per unit) so the equal-aspect axes fill it.
    extent_x, extent_y = image_size + gap * (n_layers - 0.2) + 1.7, height + 1.1
    figure = new_figure(figsize=(round(0.75 * extent_x, 2), round(0.75 * extent_y + 0.5, 2)))
    axes = figure.add_subplot()
    axes.set_axis_off()
    axes.set_aspect("equal")
    image_bottom = (height - image_size) / 2
    axes.imshow(
        trace[0].reshape(side, side), cmap=PIXEL_CMAP, vmin=0, vmax=1, interpolation="nearest",
        extent=(0, image_size, image_bottom, image_bottom + image_size),
    )
    axes.add_patch(Rectangle((0, image_bottom), image_size, image_size, fill=False, lw=0.8, ec="0.4"))
    axes.text(image_size / 2, image_bottom - 0.25, f"input: {side}×{side} = {side * side} pixels\n(what the network sees)",
              ha="center", va="top", fontsize=8)

    # Where each drawn neuron sits: {layer number: {neuron index: (x, y)}}; -1 is the input.
    pixel = image_size / side
    positions: list[dict[int, tuple[float, float]]] = []
    radius = 0.19
    for number in range(n_layers):
        values = trace[number + 1]
        shown = _shown_neurons(values, max_neurons)
        spacing = min(0.56, (height - 0.6) / max(len(shown) - 1, 1))
        radius = min(0.23, spacing * 0.42)
        x_column = image_size + gap * (number + 0.8)
        top = height / 2 + spacing * (len(shown) - 1) / 2
        positions.append({int(j): (x_column, top - k * spacing) for k, j in enumerate(shown)})

    # Connections first, so the circles cover their ends.
    for number in range(n_layers):
        targets = positions[number]
        if number == 0:
            sources = {i: ((i % side + 0.5) * pixel, image_bottom + image_size - (i // side + 0.5) * pixel)
                       for i in range(side * side)}
        else:
            sources = positions[number - 1]
        candidates = inspection.strongest_connections(net, trace[0], number, k=net.layers[number].weight.size)
        drawn = [c for c in candidates if c["target"] in targets and c["source"] in sources][:connections]
        if not drawn:
            continue
        largest = max(abs(c["contribution"]) for c in drawn) or 1.0
        segments, colours, widths = [], [], []
        for c in drawn:
            strength = abs(c["contribution"]) / largest
            segments.append([sources[c["source"]], targets[c["target"]]])
            rgb = POSITIVE if c["weight"] > 0 else NEGATIVE
            colours.append((*_rgb(rgb), 0.2 + 0.7 * strength))
            widths.append(0.4 + 2.2 * strength)
        axes.add_collection(LineCollection(segments, colors=colours, linewidths=widths, zorder=1))

    # Neurons.
    output = trace[-1]
    predicted = int(np.argmax(output))
    for number in range(n_layers):
        values = trace[number + 1]
        low, high = _natural_range(net.layers[number].activation, values)
        is_output = number == n_layers - 1
        for j, (cx, cy) in positions[number].items():
            level = float(np.clip((values[j] - low) / (high - low), 0.0, 1.0))
            axes.add_patch(Circle((cx, cy), radius, facecolor=str(level), edgecolor="0.35", lw=0.8, zorder=2))
            if radius >= 0.18:
                axes.text(cx, cy, _short(float(values[j])),
                          ha="center", va="center", fontsize=6.5, color="black" if level > 0.55 else "white", zorder=3)
            if not is_output:
                axes.text(cx - radius - 0.06, cy + radius * 0.6, str(j), ha="right", va="bottom",
                          fontsize=5.5, color="0.45", zorder=3)
            if is_output:
                strong = j == predicted
                axes.text(cx + radius + 0.15, cy, f"{names[j]}", ha="left", va="center", zorder=3,
                          fontsize=11 if strong else 9, fontweight="bold" if strong else "normal",
                          color=POSITIVE if strong else "black")
                axes.text(cx + radius + 0.75, cy, f"{values[j]:.2f}", ha="left", va="center", fontsize=8,
                          color=POSITIVE if strong else "0.35", zorder=3)
        count = net.layers[number].n_out
        heading = f"layer {number}" + (" (output)" if is_output else "") + f"\n{count} neurons"
        if len(positions[number]) < count:
            heading += f"\n({len(positions[number])} most active shown)"
        column_x = next(iter(positions[number].values()))[0]
        axes.text(column_x, height + 0.25, heading, ha="center", va="bottom", fontsize=8)

    last_x = positions[-1][next(iter(positions[-1]))][0]
    axes.set_xlim(-0.1, last_x + 1.6)
    axes.set_ylim(-0.2, height + 0.9)
    confidence_kind = "probability" if net.output_activation == "softmax" else "activation"
    if title is None:
        title = f"The network reads this as {names[predicted]} ({confidence_kind} {output[predicted]:.2f})"
        if label is not None:
            verdict = "right" if int(label) == predicted else "wrong"
            title += f"; the true label is {names[int(label)]} ({verdict})"
    figure.suptitle(
        f"{title}\nneurons shaded by their activation a = σ(W·a + b): black 0 → white 1\n"
        f"lines: the {connections} strongest connections into each layer (largest |w·a|), blue w > 0, red w < 0",
        fontsize=9,
    )
    return figure


def _short(value: float) -> str:
    """An activation in a small circle: .87, 1.00, -.31, 12.4."""
    text = f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
    return text.replace("0.", ".", 1) if text.startswith(("0.", "-0.")) else text


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    value = hex_colour.lstrip("#")
    return tuple(int(value[k:k + 2], 16) / 255 for k in (0, 2, 4))  # type: ignore[return-value]
