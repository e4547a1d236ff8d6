"""Kill `digitnet train` for real and resume it: the run must end bit-identical to one that was
never interrupted, and the checkpoint on disk must load cleanly after every kill.

Each test runs `python -m digitnet train` (a small but real run on MNIST from the user cache)
as a subprocess and interrupts it with SIGKILL at seeded random moments mid-epoch, with SIGKILL
while a checkpoint is half-written (a helper wraps safetensors' writer to stall there), or with
SIGINT (Ctrl-C), then runs the same command with --resume.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from digitnet import data
from digitnet.training import checkpoints as checkpoint_files
from digitnet.training import run as workflow

pytestmark = pytest.mark.slow

EPOCHS = 8
TRAIN_ARGS = ["train", "--layers", "784,16,10", "--epochs", str(EPOCHS), "--batch-size", "10",
              "--validation-size", "1000", "--seed", "7"]
TIMEOUT = 120  # seconds for any one subprocess; a hang fails the test instead of the suite

# Runs the real CLI with safetensors' writer wrapped: the STALL_AT-th checkpoint write leaves
# its temporary file half-written, reports it in MARKER, and waits there to be killed.
STALLING_TRAIN = r"""
import os, sys, time
from pathlib import Path
import safetensors.numpy

real_save_file = safetensors.numpy.save_file
checkpoints = 0

def save_file(tensors, filename, metadata=None):
    global checkpoints
    real_save_file(tensors, filename, metadata=metadata)
    if ".checkpoint.safetensors." in Path(filename).name:
        checkpoints += 1
        if checkpoints == int(os.environ["STALL_AT"]):
            data = Path(filename).read_bytes()
            Path(filename).write_bytes(data[: len(data) // 2])
            Path(os.environ["MARKER"]).write_text(str(filename))
            time.sleep(600)

safetensors.numpy.save_file = save_file
from digitnet.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def environment(tmp_path_factory) -> dict[str, str]:
    data.load("mnist")  # cached before any subprocess needs it (fetched here if not)
    env = dict(os.environ)
    env["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    env["COLUMNS"] = "200"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def default_sigint() -> None:
    """In the child before it starts: Ctrl-C back to its default. A suite started in the background
    (`make test &`, nohup) inherits an ignored SIGINT, which Python, rightly, keeps ignoring, so
    the Ctrl-C test would see the run finish instead of stop."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Run:
    """One `digitnet train` subprocess with its output in files (no pipe to fill up)."""

    def __init__(self, out: Path, env: dict, *, resume: bool = False, script: str | None = None,
                 extra_env: dict | None = None) -> None:
        self.log = out.parent / f"log-{time.monotonic_ns()}"
        self.stdout_path, self.stderr_path = self.log.with_suffix(".out"), self.log.with_suffix(".err")
        argv = [*TRAIN_ARGS, "--out", str(out)] + (["--resume"] if resume else [])
        command = [sys.executable, "-c", script, *argv] if script else [sys.executable, "-m", "digitnet", *argv]
        with open(self.stdout_path, "wb") as stdout, open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(command, stdout=stdout, stderr=stderr, env={**env, **(extra_env or {})},
                                            cwd=out.parent, preexec_fn=default_sigint)

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait(self, timeout: float = TIMEOUT) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self, sig=signal.SIGKILL) -> int:
        self.process.send_signal(sig)
        return self.wait()


def wait_for(condition, run: Run, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if not run.running():
            pytest.fail(f"digitnet train ended (exit {run.process.returncode}) before {what}:\n{run.stdout}\n{run.stderr}")
        if time.monotonic() > deadline:
            run.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def checkpoint_epoch(path: Path) -> int:
    """The epoch recorded in the checkpoint (0 if there is none yet): metadata only, cheap."""
    try:
        with safe_open(str(path), framework="np") as handle:
            return json.loads(handle.metadata()["digitnet"])["checkpoint"]["epoch"]
    except FileNotFoundError:
        return 0


def assert_checkpoint_is_whole(out: Path) -> int:
    """After a kill: the checkpoint loads with every check, and so do the history files."""
    net, tensors, document = workflow.load_checkpoint(workflow.checkpoint_path(out))
    assert all(np.isfinite(p).all() for p in net.parameters())
    epoch = document["checkpoint"]["epoch"]
    json_path, csv_path = checkpoint_files.history_paths(out)
    records = json.loads(json_path.read_text())["records"]
    assert [r["epoch"] for r in records] == list(range(1, len(records) + 1))
    rows = csv_path.read_text().splitlines()[1:]
    assert [int(row.split(",")[0]) for row in rows] == list(range(1, len(rows) + 1))
    # The two history files are written just after the checkpoint, one after the other: a kill
    # in between leaves either of them one epoch behind it, never half-written.
    assert len(records) in (epoch - 1, epoch)
    assert len(rows) in (epoch - 1, epoch)
    assert records == document["checkpoint"]["history"]["records"][: len(records)]
    return epoch


def tensors(path: Path) -> dict[str, np.ndarray]:
    with safe_open(str(path), framework="np") as handle:
        return {name: handle.get_tensor(name) for name in handle.keys()}


def assert_bit_identical(a: Path, b: Path) -> None:
    ta, tb = tensors(a), tensors(b)
    assert ta.keys() == tb.keys()
    for name in ta:
        assert ta[name].dtype == tb[name].dtype and np.array_equal(ta[name], tb[name]), f"{name} differs"


def history_without_seconds(out: Path) -> list[dict]:
    records = json.loads(checkpoint_files.history_paths(out)[0].read_text())["records"]
    return [{k: v for k, v in record.items() if k != "seconds"} for record in records]


@pytest.fixture(scope="module")
def reference_run(environment, tmp_path_factory) -> tuple[Path, float]:
    """The same command, never interrupted; and how long one epoch takes on this machine now
    (wall clock, checkpoint included), so the kills below land mid-epoch however fast it is."""
    out = tmp_path_factory.mktemp("reference") / "m.safetensors"
    run = Run(out, environment)
    wait_for(lambda: checkpoint_epoch(workflow.checkpoint_path(out)) >= 1, run, "the first checkpoint")
    first = time.monotonic()
    assert run.wait() == 0, run.stderr
    epoch_seconds = (time.monotonic() - first) / (EPOCHS - 1)
    assert checkpoint_epoch(workflow.checkpoint_path(out)) == EPOCHS
    return out, epoch_seconds


@pytest.fixture
def reference(reference_run) -> Path:
    return reference_run[0]


@pytest.fixture
def epoch_seconds(reference_run) -> float:
    return reference_run[1]


def test_sigkill_at_random_moments_then_resume_is_bit_identical(environment, reference, epoch_seconds, tmp_path):
    rng = np.random.default_rng(2718)
    out = tmp_path / "m.safetensors"
    checkpoint = workflow.checkpoint_path(out)

    # First kill: mid-epoch, once the checkpoint shows epoch 2.
    run = Run(out, environment)
    wait_for(lambda: checkpoint_epoch(checkpoint) >= 2, run, "the checkpoint of epoch 2")
    time.sleep(rng.uniform(0.1, 0.9) * epoch_seconds)
    assert run.kill() == -signal.SIGKILL
    epochs = [assert_checkpoint_is_whole(out)]
    assert epochs[0] >= 2
    assert not out.exists()

    # Then resume and kill again at random moments, a few times, checking the checkpoint each time.
    for _ in range(4):
        run = Run(out, environment, resume=True)
        wait_for(lambda: "Resuming from" in run.stdout, run, "the resume message")
        time.sleep(rng.uniform(0.2, 1.8) * epoch_seconds)
        if run.kill() == 0:
            break  # it finished before the kill landed
        epochs.append(assert_checkpoint_is_whole(out))
    assert epochs == sorted(epochs)  # never back: every kill left the last complete checkpoint

    last = checkpoint_epoch(checkpoint)
    run = Run(out, environment, resume=True)
    assert run.wait() == 0, run.stderr
    assert f"Resuming from {checkpoint} after epoch {last} of {EPOCHS}." in run.stdout
    assert_bit_identical(out, reference)
    assert_bit_identical(checkpoint, workflow.checkpoint_path(reference))
    assert history_without_seconds(out) == history_without_seconds(reference)
    print(f"\nkilled with SIGKILL after checkpoints of epochs {epochs} (an epoch takes {epoch_seconds:.2f} s); "
          "resumed run bit-identical")


def test_sigkill_while_a_checkpoint_is_half_written(environment, reference, tmp_path):
    out = tmp_path / "m.safetensors"
    marker = tmp_path / "stalled"
    run = Run(out, environment, script=STALLING_TRAIN, extra_env={"STALL_AT": "3", "MARKER": str(marker)})
    wait_for(marker.exists, run, "the third checkpoint write")
    half_written = Path(marker.read_text())
    assert half_written.exists() and half_written.parent == tmp_path  # the temporary file, beside --out
    assert run.kill() == -signal.SIGKILL

    assert assert_checkpoint_is_whole(out) == 2  # the complete checkpoint of epoch 2, not the half one
    with pytest.raises(Exception):
        workflow.load_checkpoint(half_written)  # (the half-written temporary really is broken)

    resumed = Run(out, environment, resume=True)
    assert resumed.wait() == 0, resumed.stderr
    assert "Resuming from" in resumed.stdout and f"after epoch 2 of {EPOCHS}" in resumed.stdout
    assert_bit_identical(out, reference)


def test_ctrl_c_stops_cleanly_and_resume_completes_identically(environment, reference, epoch_seconds, tmp_path):
    rng = np.random.default_rng(31415)
    out = tmp_path / "m.safetensors"
    checkpoint = workflow.checkpoint_path(out)
    run = Run(out, environment)
    wait_for(lambda: checkpoint_epoch(checkpoint) >= 1, run, "the first checkpoint")
    time.sleep(rng.uniform(0.1, 0.9) * epoch_seconds)
    code = run.kill(signal.SIGINT)

    assert code == 130, run.stderr
    saved = assert_checkpoint_is_whole(out)
    assert f"Interrupted: the checkpoint after epoch {saved} is in {checkpoint}; " \
           "run the same command with --resume to continue." in " ".join(run.stdout.split())
    assert run.stderr.splitlines()[-1] == "digitnet: interrupted"
    assert "Traceback" not in run.stderr
    assert not out.exists()

    resumed = Run(out, environment, resume=True)
    assert resumed.wait() == 0, resumed.stderr
    assert f"after epoch {saved} of {EPOCHS}" in resumed.stdout
    assert_bit_identical(out, reference)
