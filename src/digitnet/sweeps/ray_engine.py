"""The sweep's trials on Ray Tune: a local Ray by default, an existing cluster with --address.

    digitnet sweep S.toml --out DIR                      starts a local Ray (this machine's cores)
    digitnet sweep S.toml --out DIR --address auto       joins the cluster this machine is part of
    digitnet sweep S.toml --out DIR --address ray://head:10001   a cluster through Ray Client

Each trial is one Ray Tune trial (a Ray worker running digitnet.sweeps.trial.run_trial) with
cpus_per_trial CPUs; Tune runs as many at once as the cluster has CPUs for. The trials are the
Sweep's own list (tune.grid_search over it: no sampling by Ray), so both engines run the same
trials. ASHA is Ray's ASHAScheduler with the sweep's settings and the epoch as its clock.

Storage: digitnet keeps its own records and resumes from them alone. Each trial's worker writes
its latest checkpoint (digitnet's safetensors training checkpoint) to DIR/checkpoints/<trial>/
checkpoint.safetensors (a temporary file renamed over it) and reports its metrics with that path;
the driver keeps DIR/trials.json and DIR/results.csv from those reports. --resume reads
trials.json (and the sweep file, which draws the same trials): finished trials are kept, and a
fresh Tuner runs only the others, each continuing from its checkpoint file if it has one — a
trial killed after its last epoch's checkpoint reports that result again without training.

Ray Tune writes its own experiment folder, DIR/ray (storage_path DIR, name "ray"): tuner.pkl
(pickle), basic-variant-state-<time>.json (pickle, despite its name: the search state),
experiment_state-<time>.json (JSON holding pickled blobs: the trials, the scheduler), a
.validate_storage_marker and an empty folder per trial. digitnet never reads anything there
and does not need it: --resume works with DIR/ray deleted. ASHA's records at each rung are Ray's
state too, so a resumed sweep's ASHA starts afresh: trials finished before the kill do not count at
its rungs, and it may stop fewer of the remaining trials than an unbroken sweep would.
On a cluster of several machines DIR must be on storage every node sees at the same path (NFS):
workers write their checkpoints there.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Any

import ray
from ray import tune

from digitnet.sweeps.results import Progress
from digitnet.sweeps.spec import Sweep
from digitnet.sweeps.trial import CHECKPOINT_FILE, keep_checkpoint, run_trial

EXPERIMENT = "ray"  # Ray's experiment folder in DIR (digitnet writes nothing there, reads nothing)
CHECKPOINTS = "checkpoints"  # DIR/checkpoints/<trial>/checkpoint.safetensors: digitnet's own


def checkpoint_path(out: Path, trial_id: str) -> Path:
    """Where a trial's latest checkpoint lives: digitnet's file, outside Ray's folder."""
    return out.resolve() / CHECKPOINTS / trial_id / CHECKPOINT_FILE


def ray_trial(config: dict[str, Any]) -> None:
    """The Ray Tune trainable: one trial, continuing from its checkpoint file if there is one, writing
    that file after each epoch and reporting the epoch's metrics (with the file's path) to Tune."""
    plan = config["trial"]
    target = Path(plan["checkpoint"])

    def report(metrics: dict[str, Any], folder: Path | None) -> None:
        if folder is not None:
            keep_checkpoint(folder, target)
        tune.report({**metrics, "checkpoint": str(target)} if target.exists() else metrics)

    run_trial(plan, report, restore=target if target.exists() else None)


class SweepCallback(tune.Callback):
    """Keeps DIR/trials.json and DIR/results.csv up to date from Tune's events (in the driver)."""

    def __init__(self, out: str) -> None:
        self.out = out
        self.progress: Progress | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"out": self.out, "progress": None}  # the state is read again from DIR at setup

    def setup(self, **info) -> None:
        self.progress = Progress.load(self.out)

    @staticmethod
    def trial_id(trial) -> str:
        return trial.config["trial"]["id"]

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.progress.start(self.trial_id(trial))

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self.progress.result(self.trial_id(trial), result, result.get("checkpoint"))

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.progress.finish(self.trial_id(trial))

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.progress.finish(self.trial_id(trial), error=_error_line(trial))


def _error_line(trial) -> str:
    """The last line of the trial's error file (the exception), or a generic line."""
    try:
        lines = [line for line in Path(trial.error_file).read_text().splitlines() if line.strip()]
        return lines[-1].strip()
    except (OSError, TypeError, IndexError):
        return "the trial raised an error (see Ray's logs)"


def run_ray(sweep: Sweep, progress: Progress, *, address: str | None = None) -> None:
    """Run progress's unfinished trials (all of a new sweep's; on --resume, those trials.json does not
    list as finished) in a fresh Ray Tune experiment; each continues from its checkpoint file."""
    # Tune's own progress output and its warnings about saving the state often: the table is ours.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Ray's per-trial loggers (result.json, params.pkl, TensorBoard events): trials.json has it all.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # its experiment banner even at verbose=0
    if not ray.is_initialized():
        start_ray(address)
    trainable = tune.with_resources(ray_trial, {"cpu": sweep.cpus_per_trial})
    unfinished = set(progress.unfinished())
    plans = [sweep.plan(t) | {"checkpoint": str(checkpoint_path(progress.out, t.id))}
             for t in sweep.trials if t.id in unfinished]
    if not plans:
        return  # a resumed sweep with every trial finished: nothing for Ray to do
    tuner = tune.Tuner(
        trainable,
        param_space={"trial": tune.grid_search(plans)},
        tune_config=tune.TuneConfig(metric=sweep.metric, mode=sweep.mode, scheduler=_scheduler(sweep),
                                    num_samples=1, trial_dirname_creator=SweepCallback.trial_id),
        run_config=tune.RunConfig(
            name=EXPERIMENT, storage_path=str(progress.out.resolve()), verbose=0,
            callbacks=[SweepCallback(str(progress.out.resolve()))],
        ),
    )
    tuner.fit()


START_ATTEMPTS = 3


def start_ray(address: str | None) -> None:
    """ray.init: a new local Ray, or a connection to the cluster at address. A local Ray gives its
    processes a fixed 30 s to start, which a busy machine can miss: it is tried START_ATTEMPTS times."""
    options: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False, "configure_logging": True}
    attempts = 1 if address else START_ATTEMPTS
    for attempt in range(1, attempts + 1):
        before = _descendants()
        try:
            if address and address.startswith("ray://"):
                ray.init(address=address)  # Ray Client passes other options on to the cluster's ray.init
            elif address:
                ray.init(address=address, **options)
            else:
                ray.init(include_dashboard=False, **options)
            return
        except Exception as error:  # Ray raises a bare Exception when its processes do not start in time
            ray.shutdown()
            _end(_descendants() - before)  # what this attempt started and Ray does not know of: GCS, monitors
            if attempt == attempts:
                where = f"the Ray cluster at {address}" if address else "a local Ray"
                raise OSError(f"could not start or reach {where}: {error} "
                              "(--engine local runs the trials without Ray)") from None


def _descendants() -> set[int]:
    """The ids of every process below this one (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, queue = set(), [os.getpid()]
    while queue:
        for child in children.get(queue.pop(), []):
            if child not in found:
                found.add(child)
                queue.append(child)
    return found


def _end(pids: set[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _scheduler(sweep: Sweep):
    if sweep.scheduler is None:
        return None
    from ray.tune.schedulers import ASHAScheduler

    s = sweep.scheduler
    return ASHAScheduler(time_attr="epochs_run", max_t=s.max_epochs, grace_period=s.grace_period,
                         reduction_factor=s.reduction_factor)
