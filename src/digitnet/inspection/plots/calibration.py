"""The reliability diagram: confidence against accuracy, per confidence bin.

Each bar is one bin B_m of answers by their confidence (top probability): its height is the
fraction right, acc(B_m); the diagonal is perfect calibration, acc = conf. Bars under the diagonal
mean overconfidence. The gap, weighted by how many answers each bin holds, is the expected
calibration error (digitnet.inspection.calibration). Two panels: the network's own probabilities
and the temperature-scaled ones that `digitnet predict` prints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from digitnet.inspection import calibration
from digitnet.inspection.plots.canvas import POSITIVE, new_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["reliability_figure"]


def reliability_figure(panels: dict[str, tuple[ArrayLike, ArrayLike]], title: str = "Reliability") -> "Figure":
    """One reliability diagram per panel: {caption: (P (n, k), y (n,))}, side by side."""
    figure = new_figure(figsize=(4.6 * len(panels), 4.6))
    axes_list = np.atleast_1d(figure.subplots(1, len(panels)))
    for axes, (caption, (P, y)) in zip(axes_list, panels.items()):
        table = calibration.reliability(P, y)
        ece = calibration.expected_calibration_error(P, y)
        edges = table["edges"]
        width = edges[1] - edges[0]
        used = table["count"] > 0
        axes.bar(edges[:-1][used], table["accuracy"][used], width=width, align="edge", color=POSITIVE,
                 edgecolor="white", label="accuracy in the bin")
        gap_low = np.minimum(table["accuracy"][used], table["confidence"][used])
        axes.bar(edges[:-1][used], np.abs(table["accuracy"][used] - table["confidence"][used]), width=width,
                 bottom=gap_low, align="edge", color="#e08214", alpha=0.45, label="gap to its confidence")
        axes.plot([0, 1], [0, 1], color="0.3", ls="--", lw=1, label="calibrated")
        for left, count in zip(edges[:-1][used], table["count"][used]):
            axes.text(left + width / 2, 0.02, f"{count}", rotation=90, ha="center", va="bottom", fontsize=6, color="white")
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1)
        axes.set_xlabel("confidence (top probability)")
        axes.set_ylabel("fraction right")
        axes.set_title(f"{caption}\nexpected calibration error {ece:.2%}", fontsize=10)
        axes.legend(fontsize=7, loc="upper left")
        axes.grid(alpha=0.3)
    figure.suptitle(title + " — numbers in the bars: answers per bin", fontsize=10)
    return figure
