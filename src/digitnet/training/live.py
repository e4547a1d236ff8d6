"""Live training: a Trainer watched while it learns, that can be paused, single-stepped and stopped.

LiveTraining runs a Trainer (training/trainer.py) epoch by epoch with on_batch called after every
mini-batch (report_every=1), and between any two steps it
- obeys its Controls, which any thread may use: pause (wait), step (one mini-batch, then wait),
  resume, stop;
- reports: every `interval` seconds, at each pause and single step, at the end of each epoch and
  at the end, it emits an event (a dict) describing the network as it is at that moment.

Events, in order: "start" (before the first step), then any of "progress", "paused", "step",
"resumed", "epoch", and last "done". Every event has
    event, epoch  the epoch in progress, from 1 (0 in "start"; in "epoch", the one just finished)
    step          mini-batch steps taken so far
    loss          the mean cost of the mini-batches trained since the previous event (in "start":
                  the untrained network's cost on the validation sample; in "epoch": the epoch's)
    accuracy      on a fixed validation sample (its first `sample_size` images)
    weights       layer 0's weights W₀ (n₁, n₀) now (a NumPy array)
    probe         {"activations": [a₀, a₁, ...] for one fixed validation digit, "digit": its reading}
"epoch" and "done" add val_accuracy (the whole validation set); "done" adds "done": True, its
"reason" (finished, stopped, diverged) and test_accuracy when a test set was given. "paused",
"step" and "done" add "parameters": [W₀, b₀, W₁, b₁, ...], copies of the whole network then.
Losses are None where they are not finite (a diverged run). digitnet.training.live_process runs
one session as a process speaking JSON lines (what the web app's Learn view talks to).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from digitnet.checks import check_non_negative, check_positive_int
from digitnet.network import Network
from digitnet.training.config import TrainConfig
from digitnet.training.trainer import Trainer, TrainingDiverged

__all__ = ["Controls", "LiveTraining", "Stop"]

SAMPLE_SIZE = 1000  # validation images scored at every event (~1 ms for the video's network)
INTERVAL = 0.2  # seconds between progress events: five pictures a second


class Stop(Exception):
    """Raised between two steps when the session was told to stop."""


class Controls:
    """Pause, resume, step and stop from any thread; the training thread asks between its steps."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self.paused = False
        self.stopped = False
        self._steps = 0  # single steps granted while paused

    def pause(self) -> None:
        with self._condition:
            self.paused = True
            self._condition.notify_all()

    def resume(self) -> None:
        with self._condition:
            self.paused, self._steps = False, 0
            self._condition.notify_all()

    def step(self) -> None:
        """One more mini-batch, then wait (pauses a running session after its next step)."""
        with self._condition:
            self.paused = True
            self._steps += 1
            self._condition.notify_all()

    def stop(self) -> None:
        with self._condition:
            self.stopped = True
            self._condition.notify_all()

    def next_step(self, block: bool) -> str:
        """"run" or "step" (the next step may go, as a single step or not); "paused" if it may not
        and block is False; waits while paused if block is True. Raises Stop once stopped."""
        with self._condition:
            while True:
                if self.stopped:
                    raise Stop
                if not self.paused:
                    return "run"
                if self._steps:
                    self._steps -= 1
                    return "step"
                if not block:
                    return "paused"
                self._condition.wait()


class LiveTraining:
    """One training run that reports as it goes (see the module docstring for its events).

    config: the TrainConfig (a preset with its epochs and learning rate set). x, y: the training
    examples; validation: (x, labels), required (the accuracy the events report); test: optional
    (x, labels), scored once at the end. emit: called with each event, on the training thread.
    controls: shared with whoever pauses and stops it. probe_index: the validation digit lighting
    the network in every event. seed: the config's (the same weights every session).
    """

    def __init__(
        self,
        config: TrainConfig,
        x: ArrayLike,
        y: ArrayLike,
        validation: tuple[ArrayLike, ArrayLike],
        emit: Callable[[dict[str, Any]], None],
        *,
        test: tuple[ArrayLike, ArrayLike] | None = None,
        controls: Controls | None = None,
        interval: float = INTERVAL,
        sample_size: int = SAMPLE_SIZE,
        probe_index: int = 0,
    ) -> None:
        self.config = config
        self.net: Network = config.make_network()
        self.trainer = Trainer(self.net, config, x, y, validation=validation)
        x_val, labels_val, targets_val = self.trainer.validation
        sample_size = min(check_positive_int(sample_size, "sample_size"), len(x_val))
        self.sample = (x_val[:sample_size], labels_val[:sample_size], targets_val[:sample_size])
        if not 0 <= probe_index < len(x_val):
            raise ValueError(f"probe_index must be in 0..{len(x_val) - 1}; got {probe_index!r}")
        self.probe = x_val[probe_index : probe_index + 1]  # (1, n₀)
        self.probe_label = int(labels_val[probe_index])
        self.test = None if test is None else (self.net.check_inputs(test[0], "test x"), np.asarray(test[1]))
        self.emit = emit
        self.controls = controls or Controls()
        self.interval = check_non_negative(interval, "interval")  # 0: an event after every step
        self.step = 0
        self.steps_per_epoch = math.ceil(len(self.trainer.x) / config.batch_size)
        self._single = False  # the step running now was granted as a single step
        self._announced = False  # the pause we are in has been reported
        self._last_emit = 0.0
        self._recent = [0.0, 0]  # summed cost and examples since the last event
        self._epoch_seen = [0.0, 0]  # the running epoch's summed cost and examples so far
        self._last_loss: float | None = None

    # ----------------------------------------------------------------- the run
    def run(self) -> None:
        """Train until the epochs are done, the run diverges or it is stopped; the last event is "done"."""
        self._emit("start", loss=self._sample_cost(), probe_pixels=self.probe[0], probe_label=self.probe_label,
                   steps_per_epoch=self.steps_per_epoch, epochs=self.config.epochs,
                   examples=len(self.trainer.x), validation=len(self.trainer.validation[0]),
                   sample=len(self.sample[0]))
        reason, message = "finished", None
        try:
            self._between_steps()
            while not self.trainer.finished:
                self._epoch_seen = [0.0, 0]
                record = self.trainer.run_epoch(self._on_batch, report_every=1)
                self._emit("epoch", epoch=record["epoch"], loss=record["loss"], val_accuracy=record["val_accuracy"],
                           val_loss=record["val_loss"], train_accuracy=record["accuracy"], seconds=record["seconds"])
        except Stop:
            reason = "stopped"
        except TrainingDiverged as error:
            reason, message = "diverged", str(error)
        x_val, labels_val, _ = self.trainer.validation
        final: dict[str, Any] = {"done": True, "reason": reason, "epoch": self.trainer.epoch,
                                 "val_accuracy": _accuracy(self.net, x_val, labels_val)}
        if message:
            final["message"] = message
        if self.test is not None:
            final["test_accuracy"] = _accuracy(self.net, *self.test)
        self._emit("done", full=True, **final)

    def _on_batch(self, done: int, total: int, mean_loss: float) -> None:
        """After each mini-batch: account its cost, report when due, then obey the controls."""
        self.step += 1
        epoch_total = mean_loss * done  # the epoch's summed cost so far
        self._recent[0] += epoch_total - self._epoch_seen[0]
        self._recent[1] += done - self._epoch_seen[1]
        self._epoch_seen = [epoch_total, done]
        if self._single:
            self._emit("step", full=True, progress=done / total)
            self._announced = True
        elif time.monotonic() - self._last_emit >= self.interval:
            self._emit("progress", progress=done / total)
        self._between_steps()

    def _between_steps(self) -> None:
        mode = self.controls.next_step(block=False)
        if mode == "paused":
            if not self._announced:
                self._emit("paused", full=True)
                self._announced = True
            mode = self.controls.next_step(block=True)
            if mode == "run":
                self._emit("resumed")
        if mode == "run":
            self._announced = False
        self._single = mode == "step"

    # ----------------------------------------------------------------- events
    def _emit(self, kind: str, *, full: bool = False, **fields: Any) -> None:
        net = self.net
        x, labels, targets = self.sample
        # A diverging run reaches inf and NaN here before the epoch's end reports it (TrainingDiverged).
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            output = net.forward(x)  # (sample, n_L)
            trace = net.activations(self.probe)  # [x, a₀, …] each (1, n)
            sample_loss = _finite(self.trainer.cost.function(output, targets))
        if "loss" not in fields:
            summed, count = self._recent
            fields["loss"] = summed / count if count else self._last_loss
        fields["loss"] = _finite(fields["loss"])
        self._last_loss = fields["loss"]
        self._recent = [0.0, 0]
        event: dict[str, Any] = {
            "event": kind,
            "epoch": self.trainer.epoch + (0 if kind in ("start", "done") else 1),
            "step": self.step,
            **fields,
            "accuracy": float(np.mean(output.argmax(axis=1) == labels)),
            "sample_loss": sample_loss,
            "weights": net.layers[0].weight.copy(),
            "probe": {"activations": [a[0].copy() for a in trace[1:]], "digit": int(trace[-1][0].argmax())},
        }
        if full:
            event["parameters"] = [p.copy() for p in net.parameters()]
        self._last_emit = time.monotonic()
        self.emit(event)

    def _sample_cost(self) -> float | None:
        x, _, targets = self.sample
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return _finite(self.trainer.cost.function(self.net.forward(x), targets))


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _accuracy(net: Network, x, labels) -> float:
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.mean(net.predict(x) == labels))

