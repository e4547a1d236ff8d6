"""`--engine local`: the sweep's trials one after another in this process, without Ray.

The same trials (Sweep.trials), the same trial function (digitnet.sweeps.trial) and the same
files as the Ray engine; ASHA is the same rule as Ray Tune's (asynchronous successive halving,
one bracket):

    rungs at r_k = grace_period · reduction_factorᵏ epochs, for r_k < max_epochs;
    a trial reaching rung r_k is stopped if its metric is worse than the
    (1 − 1/reduction_factor) quantile of the metrics recorded at r_k so far, then recorded there.

Run one after another, the first trials are never stopped (nothing is recorded yet) and later
ones are held to the best earlier ones — the asynchronous rule in its sequential form.

Storage: DIR/local/<trial>/checkpoint.safetensors, the trial's latest checkpoint, and
DIR/local/asha.json, the metrics recorded at each rung. A sweep killed at any moment continues
with --resume: finished trials are kept, the interrupted one continues from its last epoch.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from digitnet.files import atomic_write_bytes
from digitnet.sweeps.results import Progress
from digitnet.sweeps.spec import Scheduler, Sweep
from digitnet.sweeps.trial import CHECKPOINT_FILE, StopTrial, keep_checkpoint, run_trial

FOLDER = "local"


class Asha:
    """Ray Tune's ASHA stopping rule (one bracket), its records kept in a JSON file."""

    def __init__(self, scheduler: Scheduler, mode: str, path: Path | None = None) -> None:
        self.grace, self.factor, self.max_epochs = scheduler.grace_period, scheduler.reduction_factor, scheduler.max_epochs
        self.sign = 1.0 if mode == "max" else -1.0
        count = int(math.log(self.max_epochs / self.grace) / math.log(self.factor) + 1)
        self.rungs = [self.grace * self.factor**k for k in range(count)]  # epochs, ascending
        self.path = path
        self.recorded: dict[str, dict[str, float]] = {str(r): {} for r in self.rungs}
        if path is not None and path.exists():
            self.recorded.update(json.loads(path.read_text()))

    def should_stop(self, trial_id: str, epoch: int, value: float) -> bool:
        """Record the trial's metric at the highest rung it has just reached; stop it if it lags there."""
        if epoch >= self.max_epochs:
            return False  # its last epoch: nothing left to stop
        for rung in reversed(self.rungs):
            recorded = self.recorded[str(rung)]
            if epoch < rung or trial_id in recorded:
                continue
            reward = self.sign * value
            stop = bool(recorded) and reward < np.nanpercentile(list(recorded.values()), (1 - 1 / self.factor) * 100)
            recorded[trial_id] = reward
            if self.path is not None:
                atomic_write_bytes(self.path, json.dumps(self.recorded).encode())
            return stop
        return False


def run_local(sweep: Sweep, progress: Progress, say=print) -> None:
    """Run every unfinished trial of progress, in order, in this process."""
    folder = progress.out / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    asha = Asha(sweep.scheduler, sweep.mode, folder / "asha.json") if sweep.scheduler else None
    for trial in sweep.trials:
        record = progress.trials[trial.id]
        if record["status"] in ("done", "stopped", "diverged", "error"):
            continue
        checkpoint = folder / trial.id / CHECKPOINT_FILE
        restore = checkpoint if checkpoint.exists() else None
        progress.start(trial.id)

        def report(metrics: dict[str, Any], checkpoint_folder: Path | None, trial_id=trial.id, target=checkpoint) -> None:
            if checkpoint_folder is not None:
                keep_checkpoint(checkpoint_folder, target)
            progress.result(trial_id, metrics, str(target) if target.exists() else None)
            if asha and not metrics["finished"] and not metrics["diverged"] and \
                    asha.should_stop(trial_id, metrics["epochs_run"], metrics[sweep.metric]):
                raise StopTrial

        try:
            run_trial(sweep.plan(trial), report, restore=restore)
        except StopTrial:
            pass
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as error:  # one trial's failure is its row's status, not the sweep's end
            progress.finish(trial.id, error=" ".join(f"{type(error).__name__}: {error}".split()))
            say(f"trial {trial.id} failed: {error}")
            continue
        progress.finish(trial.id)
