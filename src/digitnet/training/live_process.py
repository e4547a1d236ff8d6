"""One live training session as a process: settings in argv, commands on stdin, events on stdout.

    python -m digitnet.training.live_process '{"preset": "3b1b", "epochs": 2, "learning_rate": 3.0}'

Settings (JSON): preset (a name from training.presets), epochs, learning_rate (default: the
preset's), interval (seconds between progress events), nice (0: keep this process's CPU priority;
else lower it: SCHED_IDLE on Linux, else this nice value), max_seconds (the session stops itself then, paused or not), data_dir (where MNIST
is; default: the usual places, never downloading).

stdin: one command per line: pause, resume, step or stop. The end of stdin means stop: a session
never outlives whoever started it. stdout: one JSON object per line, the events of
digitnet.training.live (in that order, "done" last) with their arrays made JSON:
    weights   {"shape": [n₁, side, side], "scale": [s_j, ...], "data": base64 of int8 q}: layer 0's
              weights as pictures, W₀[j] ≈ q_j · s_j / 127 with s_j = max |W₀[j]| (12.5 kB for 16)
    probe     {"activations": [[...], ...], "digit": k}; probe_pixels (start): side × side
    parameters  not sent with the event: a line {"network": {...}} comes just before it, holding the
              whole network (float32, base64 little-endian, W (n_out, n_in) and b per layer)
The process lowers its own CPU priority to the lowest there is (SCHED_IDLE on Linux: it runs on CPU
time nobody else wants) and the caller gives it one BLAS thread, so a server running it keeps
answering quickly. Errors (no MNIST here, bad settings) end in a "done" event
with reason "error" and a message, and exit status 1.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
from typing import Any, BinaryIO, TextIO

import numpy as np

from digitnet import data
from digitnet.data.augment import epoch_augmentations
from digitnet.training.live import Controls, LiveTraining
from digitnet.training.presets import preset

COMMANDS = ("pause", "resume", "step", "stop")
NICE = 19  # the lowest CPU priority: on a busy machine the training slows down, not the server


def encode_pictures(weights: np.ndarray) -> dict[str, Any] | None:
    """Layer 0's weights (n, side·side) as int8 pictures with one scale per neuron; None if not finite."""
    if not np.isfinite(weights).all():
        return None
    n, n_in = weights.shape
    side = int(round(n_in ** 0.5))
    shape = [n, side, side] if side * side == n_in else [n, n_in]
    scale = np.abs(weights).max(axis=1).astype(np.float64)  # (n,)
    q = np.round(weights / np.where(scale > 0, scale, 1.0)[:, None] * 127).astype(np.int8)
    return {"shape": shape, "scale": [float(s) for s in scale], "data": base64.b64encode(q.tobytes()).decode()}


def decode_pictures(encoded: dict[str, Any]) -> np.ndarray:
    """The weights of encode_pictures back, (n, ...) float64, each within scale/254 of the original."""
    q = np.frombuffer(base64.b64decode(encoded["data"]), dtype=np.int8).reshape(encoded["shape"])
    scale = np.asarray(encoded["scale"], dtype=np.float64).reshape(-1, *([1] * (q.ndim - 1)))
    return q * scale / 127


def encode_network(live: LiveTraining, parameters: list[np.ndarray]) -> dict[str, Any]:
    """The whole network at an event, for whoever wants to run it (the web page's "use this network")."""
    net = live.net
    arrays = [
        {"shape": list(p.shape), "data": base64.b64encode(np.ascontiguousarray(p, dtype="<f4").tobytes()).decode()}
        for p in parameters
    ]
    return {
        "sizes": list(net.sizes),
        "activations": [layer.activation for layer in net.layers],
        "parameters": arrays,
        "training": live.config.to_dict(),
    }


def decode_network(encoded: dict[str, Any]) -> list[np.ndarray]:
    """[W₀, b₀, W₁, b₁, ...] float32 from encode_network's "parameters"."""
    return [
        np.frombuffer(base64.b64decode(p["data"]), dtype="<f4").reshape(p["shape"]).astype(np.float32)
        for p in encoded["parameters"]
    ]


def jsonable(event: dict[str, Any]) -> dict[str, Any]:
    """The event's arrays as JSON values (weights as pictures)."""
    out = dict(event)
    out.pop("parameters", None)
    out["weights"] = encode_pictures(event["weights"])
    probe = event["probe"]
    out["probe"] = {"activations": [[_number(v) for v in a] for a in probe["activations"]], "digit": probe["digit"]}
    if "probe_pixels" in event:
        pixels = np.asarray(event["probe_pixels"], dtype=np.float64)
        side = int(round(len(pixels) ** 0.5))
        out["probe_pixels"] = pixels.reshape(side, side).round(4).tolist()
    return {key: _number(value) if isinstance(value, float) else value for key, value in out.items()}


def _number(value: float) -> float | None:
    """A float for JSON: None where it is not finite (JSON has no NaN)."""
    value = float(value)
    return value if np.isfinite(value) else None


class Writer:
    """Writes events as JSON lines; a closed stdout (the parent went away) stops the session."""

    def __init__(self, stream: BinaryIO, controls: Controls) -> None:
        self.stream, self.controls = stream, controls
        self.live: LiveTraining | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        lines = []
        if "parameters" in event and self.live is not None:
            lines.append({"network": encode_network(self.live, event["parameters"])})
        lines.append(jsonable(event))
        self.write(lines)

    def write(self, lines: list[dict[str, Any]]) -> None:
        try:
            for line in lines:
                self.stream.write(json.dumps(line, allow_nan=False).encode() + b"\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError, OSError):
            self.controls.stop()


def lower_priority(nice: int) -> None:
    """Run only on CPU time nobody else wants: SCHED_IDLE where Linux offers it (a waking server
    thread preempts it at once), else nice. nice=0 leaves the priority alone."""
    if nice <= 0:
        return
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return
        except OSError:
            pass  # not permitted here: nice instead
    if hasattr(os, "nice"):
        os.nice(nice)


def read_commands(stream: TextIO, controls: Controls) -> None:
    """Obey commands from stream until it ends, then stop."""
    actions = {"pause": controls.pause, "resume": controls.resume, "step": controls.step, "stop": controls.stop}
    for line in stream:
        action = actions.get(line.strip())
        if action is not None:
            action()
    controls.stop()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    controls = Controls()
    writer = Writer(sys.stdout.buffer, controls)
    try:
        settings = json.loads(argv[0]) if argv else {}
        if not isinstance(settings, dict):
            raise ValueError(f"settings must be a JSON object; got {argv[0]!r}")
        lower_priority(int(settings.get("nice", NICE)))
        config = preset(settings.get("preset", "3b1b"))
        changes = {key: settings[key] for key in ("epochs", "learning_rate") if settings.get(key) is not None}
        # The fused engine: a session starts at once (the compiled one may first compile for seconds),
        # and at a report every step its per-call cost would not pay.
        # The page starts at once: no marker drawings (a minute or two of work before the first step).
        per_epoch = "+".join(epoch_augmentations(config.augment)) or None
        config = config.replace(**changes, engine="fused", augment=per_epoch)
        x, y = data.load_split(config.dataset, "train", settings.get("data_dir"), download=False)
        x_fit, y_fit, x_val, y_val = data.split_validation(x, y, size=config.validation_size)
        test = data.load_split(config.dataset, "test", settings.get("data_dir"), download=False)
        live = LiveTraining(config, x_fit, y_fit, (x_val, y_val), writer, test=test, controls=controls,
                            interval=float(settings.get("interval", 0.2)))
    except (ValueError, OSError, KeyError, TypeError) as error:  # DatasetError is a ValueError
        first = " ".join(str(error).splitlines()[0].split()) if str(error) else type(error).__name__
        writer.write([{"event": "done", "done": True, "reason": "error", "message": first,
                       "epoch": 0, "step": 0, "loss": None}])
        return 1
    writer.live = live
    threading.Thread(target=read_commands, args=(sys.stdin, controls), name="live-commands", daemon=True).start()
    if settings.get("max_seconds"):
        lifetime = threading.Timer(float(settings["max_seconds"]), controls.stop)
        lifetime.daemon = True
        lifetime.start()
    live.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
