"""A sweep's results on disk, as they come in, and the tables and files made from them.

    DIR/trials.json      the sweep (every trial's settings) and each trial's status, last report and
                         checkpoint; rewritten after every report (atomically): what --resume and
                         the final files read
    DIR/results.csv      one row per trial: trial, every searched setting, parameters, val_accuracy,
                         test_accuracy, epochs_run, seconds, status; rewritten with trials.json
    DIR/best.safetensors the best trial's model (weights best on validation), its full TrainConfig
                         and its scores in the metadata
A trial's status: pending, running, done (all its epochs, or its own patience), stopped (by ASHA),
diverged, error. The live table and `digitnet sweep --report DIR` are both drawn from results.csv.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from digitnet.files import atomic_write_bytes

STATE_FILE, RESULTS_FILE, BEST_FILE, PARETO_FILE = "trials.json", "results.csv", "best.safetensors", "pareto.png"
FORMAT = "digitnet-sweep"
RESULT_COLUMNS = ("parameters", "val_accuracy", "test_accuracy", "epochs_run", "seconds", "status")
FINAL = ("done", "stopped", "diverged", "error")  # a trial in one of these is not run again


def column_name(setting: str) -> str:
    """The results column of a searched setting: its name, with sizes under its flag's name (layers)."""
    return "layers" if setting == "sizes" else setting


class Progress:
    """The state of a sweep's trials, kept in DIR/trials.json and DIR/results.csv."""

    def __init__(self, out: str | Path, document: dict[str, Any]) -> None:
        self.out = Path(out)
        self.document = document

    @classmethod
    def create(cls, out: str | Path, sweep_document: dict[str, Any], engine: str) -> "Progress":
        trials = {t["id"]: {"id": t["id"], "settings": t["settings"], "status": "pending", "metrics": {},
                            "checkpoint": None, "error": None} for t in sweep_document["trials"]}
        progress = cls(out, {"format": FORMAT, "engine": engine, "sweep": sweep_document, "trials": trials})
        progress.save()
        return progress

    @classmethod
    def load(cls, out: str | Path) -> "Progress":
        path = Path(out) / STATE_FILE
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            raise ValueError(f"{out} holds no sweep ({STATE_FILE} is missing)") from None
        except (OSError, ValueError) as error:
            raise ValueError(f"{path} cannot be read: {error}") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ValueError(f"{path} is not a digitnet sweep's state file")
        return cls(out, document)

    # ------------------------------------------------------------------ what the engines say
    @property
    def trials(self) -> dict[str, dict[str, Any]]:
        return self.document["trials"]

    @property
    def metric(self) -> str:
        return self.document["sweep"]["metric"]

    def unfinished(self) -> list[str]:
        return [i for i, t in self.trials.items() if t["status"] not in FINAL]

    def start(self, trial_id: str) -> None:
        self.trials[trial_id]["status"] = "running"
        self.save()

    def result(self, trial_id: str, metrics: dict[str, Any], checkpoint: str | None = None) -> None:
        record = self.trials[trial_id]
        record["metrics"] = {k: metrics[k] for k in ("val_accuracy", "val_loss", "test_accuracy", "epochs_run",
                                                     "best_epoch", "seconds", "parameters", "finished",
                                                     "diverged") if k in metrics}
        if checkpoint is not None:
            record["checkpoint"] = str(checkpoint)
        if record["status"] == "pending":
            record["status"] = "running"
        self.save()

    def finish(self, trial_id: str, *, error: str | None = None) -> None:
        """A trial ended: done, stopped or diverged by its last report; error if it raised."""
        record = self.trials[trial_id]
        metrics = record["metrics"]
        if error is not None:
            record["status"], record["error"] = "error", error
        elif metrics.get("diverged"):
            record["status"] = "diverged"
        elif metrics.get("finished"):
            record["status"] = "done"
        elif metrics:
            record["status"] = "stopped"
        else:
            record["status"], record["error"] = "error", "ended without reporting a result"
        self.save()

    # ------------------------------------------------------------------ files
    def save(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.out / STATE_FILE, json.dumps(self.document, indent=1).encode())
        atomic_write_bytes(self.out / RESULTS_FILE, self.csv_text().encode())

    def result_columns(self) -> list[str]:
        """RESULT_COLUMNS, and the metric before them when it is not among them (val_loss)."""
        return ([] if self.metric in RESULT_COLUMNS else [self.metric]) + list(RESULT_COLUMNS)

    def columns(self) -> list[str]:
        return ["trial", *(column_name(n) for n in self.document["sweep"]["space"]), *self.result_columns()]

    def rows(self) -> list[dict[str, str]]:
        """The results.csv rows: every value as text (sizes as 784-16-16-10, accuracies exact)."""
        rows = []
        for trial_id, record in self.trials.items():
            metrics = record["metrics"] if record["metrics"].get("epochs_run") else {}
            row = {"trial": trial_id}
            row.update({column_name(n): cell(v) for n, v in record["settings"].items()})
            row.update({k: cell(metrics.get(k)) for k in self.result_columns()[:-1]})
            if row["seconds"]:
                row["seconds"] = f"{float(row['seconds']):.3f}"
            row["status"] = record["status"]
            rows.append(row)
        return rows

    def csv_text(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns(), lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows())
        return buffer.getvalue()

    def best(self) -> dict[str, Any] | None:
        """The trial best by the sweep's metric among those with a result (ties: fewer parameters)."""
        sign = 1 if self.document["sweep"]["mode"] == "max" else -1
        scored = [t for t in self.trials.values()
                  if t["status"] in ("done", "stopped") and t["metrics"].get("epochs_run") and t["checkpoint"]]
        if not scored:
            return None
        return max(scored, key=lambda t: (sign * t["metrics"][self.metric], -t["metrics"]["parameters"]))


def cell(value: Any) -> str:
    """One results.csv value as text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "-".join(str(v) for v in value)
    if isinstance(value, float):
        return "inf" if math.isinf(value) else repr(value)
    return str(value)


def read_results(out: str | Path) -> list[dict[str, str]]:
    """The rows of DIR/results.csv."""
    path = Path(out) / RESULTS_FILE
    try:
        with open(path, newline="") as file:
            rows = list(csv.DictReader(file))
    except FileNotFoundError:
        raise ValueError(f"{out} holds no sweep results ({RESULTS_FILE} is missing)") from None
    if rows and not {"trial", *RESULT_COLUMNS} <= set(rows[0]):
        raise ValueError(f"{path} is not a digitnet sweep's results file")
    return rows


def sort_rows(rows: list[dict[str, str]], metric_column: str = "val_accuracy", descending: bool = True) -> list[dict[str, str]]:
    """Best first by the column; trials without a result last, in their order."""
    scored = [r for r in rows if r.get(metric_column)]
    rest = [r for r in rows if not r.get(metric_column)]
    return sorted(scored, key=lambda r: float(r[metric_column]), reverse=descending) + rest


def results_table(rows: list[dict[str, str]], title: str | None = None, limit: int | None = None):
    """A rich Table of results rows (accuracies in %, seconds rounded); the first `limit` rows."""
    from rich.table import Table

    columns = list(rows[0]) if rows else ["trial", *RESULT_COLUMNS]
    table = Table(title=title, title_justify="left")
    for column in columns:
        header = HEADERS.get(column, _flag(column))
        table.add_column(header, no_wrap=True, min_width=len(header),
                         justify="left" if column in ("trial", "status", "layers") else "right")
    for row in rows[:limit]:
        table.add_row(*(display(column, row.get(column, "")) for column in columns))
    if limit is not None and len(rows) > limit:
        table.caption = f"… and {len(rows) - limit} more"
    return table


HEADERS = {"parameters": "params", "val_accuracy": "val acc", "test_accuracy": "test acc", "val_loss": "val loss",
           "epochs_run": "epochs", "seconds": "s"}


def _flag(setting: str) -> str:
    """A searched setting's column header: its command-line name (lr, batch-size, layers)."""
    from digitnet.training.config import settings
    from digitnet.training.config_file import flag_name

    return next((flag_name(s) for s in settings() if s.name == setting), setting)


def display(column: str, text: str) -> str:
    if not text:
        return "·"
    if column in ("val_accuracy", "test_accuracy"):
        return f"{float(text):.2%}"
    if column == "seconds":
        return f"{float(text):.1f}" if float(text) >= 10 else f"{float(text):.2f}"
    if column == "parameters":
        return f"{int(text):,}"
    return text


def summary(rows: list[dict[str, str]]) -> str:
    """'12 trials: 7 done, 3 stopped, 2 running'."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    order = ("done", "stopped", "diverged", "error", "running", "pending")
    parts = [f"{counts[s]} {s}" for s in order if s in counts]
    return f"{len(rows)} trials: " + ", ".join(parts)


def save_best(progress: Progress) -> tuple[Path, dict[str, Any]] | None:
    """Write DIR/best.safetensors from the best trial's checkpoint; returns (path, its record)."""
    from digitnet import modelfile
    from digitnet.data.datasets import dataset_spec
    from digitnet.sweeps.trial import kept_model

    record = progress.best()
    if record is None:
        return None
    net, config, state = kept_model(record["checkpoint"])
    metrics = {k: record["metrics"][k] for k in ("val_accuracy", "val_loss", "test_accuracy", "epochs_run",
                                                 "best_epoch", "seconds", "parameters")}
    sweep = progress.document["sweep"]
    path = progress.out / BEST_FILE
    modelfile.save(
        net, path,
        training=config.to_dict(),
        metrics=metrics,
        dataset=config.dataset,
        class_names=list(dataset_spec(config.dataset).class_names),
        history=state["history"],
        sweep={"trial": record["id"], "settings": record["settings"], "metric": sweep["metric"],
               "file": sweep["file"], "data": sweep["data"]},
    )
    return path, record
