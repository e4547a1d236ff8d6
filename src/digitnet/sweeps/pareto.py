"""DIR/pareto.png: validation accuracy against parameter count and against training time.

A trial is on the Pareto front when no other trial is at least as accurate with at most as many
parameters (or seconds) and better in one of the two: the front answers "the most accuracy for
this size (or time)". Every trial with a result is a grey dot; the front's trials are joined by
a line and labelled; the presets' parameter counts (3b1b, modern, best) are marked as dotted
lines for reference. The x axes are logarithmic: sizes and times in a sweep span decades.
"""

from __future__ import annotations

from pathlib import Path

from digitnet.inspection.plots.canvas import new_figure, save_figure
from digitnet.training.presets import PRESETS

FRONT = "#2166ac"


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points (cost, accuracy) that no other point beats: lower or equal cost and
    higher or equal accuracy, one strictly. Returned by increasing cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def preset_parameters() -> dict[str, int]:
    """Each preset's parameter count: Σ n_out·n_in + n_out over its layers."""
    return {name: sum(n_out * n_in + n_out for n_in, n_out in zip(c.sizes[:-1], c.sizes[1:]))
            for name, c in PRESETS.items()}


def pareto_figure(rows: list[dict[str, str]], title: str = "Sweep results"):
    """The two panels (parameters, seconds) from results rows (digitnet.sweeps.results)."""
    scored = [r for r in rows if r.get("val_accuracy") and r.get("parameters")]
    figure = new_figure(figsize=(11, 4.6))
    panels = figure.subplots(1, 2, sharey=True)
    for axes, column, label in ((panels[0], "parameters", "parameters (weights and biases)"),
                                (panels[1], "seconds", "training time (s)")):
        points = [(max(float(r[column]), 1e-3), float(r["val_accuracy"])) for r in scored]
        if points:
            xs, ys = zip(*points)
            axes.scatter(xs, ys, s=18, color="0.6", label="trial", zorder=2)
            front = pareto_front(points)
            axes.plot([points[i][0] for i in front], [points[i][1] for i in front], "-o", color=FRONT,
                      markersize=6, label="Pareto front", zorder=3)
            for i in front:
                axes.annotate(scored[i]["trial"], points[i], textcoords="offset points", xytext=(4, -10), fontsize=7)
        if column == "parameters":
            for name, count in preset_parameters().items():
                axes.axvline(count, color="0.3", linestyle=":", linewidth=1, zorder=1)
                axes.annotate(f"{name} ({count:,})", (count, 0.02), xycoords=("data", "axes fraction"),
                              rotation=90, fontsize=7, color="0.3", xytext=(2, 0), textcoords="offset points")
        axes.set_xscale("log")
        axes.set_xlabel(label)
        axes.grid(True, which="both", alpha=0.25)
    panels[0].set_ylabel("validation accuracy")
    panels[0].yaxis.set_major_formatter(_percent())
    panels[0].legend(loc="lower right", fontsize=8)
    figure.suptitle(f"{title}: {len(scored)} trials with a result", fontsize=11)
    return figure


def _percent():
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(xmax=1.0, decimals=1)


def save_pareto(rows: list[dict[str, str]], path: str | Path, title: str = "Sweep results") -> Path:
    return save_figure(pareto_figure(rows, title), path, dpi=110)
