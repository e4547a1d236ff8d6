"""digitnet sweep: sweep files, the trial list, ASHA, both engines, results and resuming.

The slow tests run real sweeps on MNIST subsets (a few thousand images, 1–3 epochs): one on a
local Ray Tune through the command line, one killed with SIGKILL mid-sweep and resumed, and the
local engine; the others check sweep files and the pieces without training.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import digitnet as dn
from digitnet.cli import main
from digitnet.sweeps import Choice, Range, parse_sweep, read_sweep
from digitnet.sweeps.local_engine import Asha
from digitnet.sweeps.pareto import pareto_front, preset_parameters
from digitnet.sweeps.spec import Scheduler
from digitnet.training.presets import preset

SRC = Path(__file__).resolve().parents[1] / "src"
TIMEOUT = 420  # seconds for one sweep subprocess on a loaded 2-core machine; a hang fails the test

TINY = """
preset = "modern"
epochs = {epochs}
train_images = 3000
validation_size = 1000
test_images = 2000
cpus_per_trial = {cpus}
[space]
learning_rate = [0.003, 0.01]
layers = ["784,16,10", "784,24,10"]
"""


def write(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run_cli(*args: str, env_path: str | None = None, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [env_path, str(SRC)])))
    return subprocess.run([sys.executable, "-m", "digitnet", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "results.csv", newline="") as file:
        return {row["trial"]: row for row in csv.DictReader(file)}


# --------------------------------------------------------------------- sweep files
def test_a_grid_of_lists_runs_every_combination_in_order():
    sweep = parse_sweep({"preset": "modern", "epochs": 2, "space": {"lr": [0.01, 0.003], "batch-size": [16, 32, 64]}})
    assert len(sweep.trials) == 6
    assert [t.settings for t in sweep.trials[:2]] == [{"learning_rate": 0.01, "batch_size": 16},
                                                      {"learning_rate": 0.01, "batch_size": 32}]
    # preset ← fixed ← searched
    config = sweep.trials[5].config
    assert (config.learning_rate, config.batch_size, config.epochs) == (0.003, 64, 2)
    assert config.optimizer == preset("modern").optimizer
    assert sweep.scheduler is None  # 2 epochs: no ASHA by default
    assert [t.id for t in sweep.trials] == [f"t{i:03d}" for i in range(6)]


def test_ranges_draw_integers_for_integer_settings_and_reals_in_bounds():
    space = {"batch_size": {"low": 8, "high": 256, "log": True}, "learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
             "dropout": {"low": 0.0, "high": 0.5}}
    sweep = parse_sweep({"epochs": 10, "space": space})
    assert len(sweep.trials) == 16  # the default with a range
    assert isinstance(sweep.space["batch_size"], Range) and sweep.space["batch_size"].integer
    batch_sizes = [t.settings["batch_size"] for t in sweep.trials]
    assert all(type(b) is int and 8 <= b <= 256 for b in batch_sizes)
    assert all(1e-4 <= t.settings["learning_rate"] <= 1e-2 for t in sweep.trials)
    assert all(type(t.settings["dropout"]) is float and 0 <= t.settings["dropout"] <= 0.5 for t in sweep.trials)
    assert len(set(batch_sizes)) > 4  # drawn, not one value repeated
    assert sweep.scheduler == Scheduler(grace_period=1, reduction_factor=4, max_epochs=10)  # ASHA when epochs > 3


def test_the_draw_is_seeded_and_trials_overrides_the_file():
    raw = {"trials": 5, "space": {"lr": {"low": 0.001, "high": 0.1, "log": True}, "batch_size": [10, 20]}}
    assert [t.settings for t in parse_sweep(raw).trials] == [t.settings for t in parse_sweep(raw).trials]
    assert len(parse_sweep(raw, trials=3).trials) == 3
    other = parse_sweep(raw | {"search_seed": 1})
    assert [t.settings for t in other.trials] != [t.settings for t in parse_sweep(raw).trials]
    subset = parse_sweep({"trials": 3, "space": {"batch_size": [10, 20, 30, 40]}})
    assert isinstance(subset.space["batch_size"], Choice) and len({t.settings["batch_size"] for t in subset.trials}) == 3


def test_data_names_the_dataset_and_sweep_keys_are_kept_apart():
    sweep = parse_sweep({"data": "fashion-mnist", "train_images": 5000, "validation_size": 1000, "cpus_per_trial": 2,
                         "metric": "val_loss", "space": {"epochs": [1, 2]}})
    assert sweep.base.dataset == "fashion-mnist" and sweep.mode == "min"
    assert sweep.plan(sweep.trials[0])["data"] == {"dataset": "fashion-mnist", "data_dir": None,
                                                   "train_images": 5000, "test_images": None}
    assert sweep.plan(sweep.trials[1])["cpus"] == 2


BAD_SWEEPS = [
    ("colour = 3\n[space]\nlr = [0.1]", r"unknown key 'colour'"),
    ("[space]\nspeed = [1, 2]", r"unknown key 'speed'"),
    ("[space]\nlr = {low = 0.1, high = 0.01}", r"low \(0.1\) must be below high \(0.01\)"),
    ("[space]\nlr = {low = 0.0, high = 0.1, log = true}", r"a log range needs low > 0"),
    ("[space]\nbatch_size = {low = 8.5, high = 64}", r"batch_size must be an integer"),
    ("[space]\ndropout = {low = 0.0, high = 1.5}", r"range 0.0..1.5 is impossible"),
    ("[space]\nactivation = {low = 1, high = 2}", r"activation takes a list of values, not a range"),
    ("[space]\nlr = []", r"lr is an empty list"),
    ("[space]\nlr = [0.1, -1.0]", r"trial t001 \(learning_rate=-1.0\) is impossible"),
    ("trials = 5\n[space]\nlr = [0.1, 0.2]", r"trials = 5, but \[space\] has only 2 combinations"),
    ("metric = \"accuracy\"\n[space]\nlr = [0.1]", r"metric must be one of val_accuracy, val_loss"),
    ("epochs = 3", r"a \[space\] table with at least one searched setting is required"),
    ("lr = 0.1\n[space]\nlr = [0.1, 0.2]", r"lr is both fixed"),
    ("train_images = 3000\n[space]\nlr = [0.1]", r"validation_size \(10000\) must be smaller than train_images \(3000\)"),
    ("[space]\nlr = [0.1]\n[scheduler]\ngrace = 2", r"\[scheduler\] has unknown key\(s\) grace"),
    ("epochs = 4\n[space]\nlr = [0.1]\n[scheduler]\ngrace_period = 9", r"grace_period must be an integer from 1"),
    ("[space]\nlayers = [[784, 16, 7]]", r"layers must end with 10 outputs"),
    ("[space\nlr = [0.1]", r"is not valid TOML"),
]


@pytest.mark.parametrize(("text", "message"), BAD_SWEEPS, ids=[m.split("\\")[0][:30] for _, m in BAD_SWEEPS])
def test_a_bad_sweep_file_gets_one_clear_line_and_exit_1(tmp_path, capsys, text, message):
    path = write(tmp_path, text)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--engine", "local"]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("digitnet: error: "), captured.err
    assert __import__("re").search(message, lines[0]), lines[0]
    assert not (tmp_path / "out").exists()  # nothing written for a sweep that cannot run


def test_the_ready_sweep_files_are_valid():
    folder = Path(__file__).resolve().parents[1] / "sweeps"
    video = read_sweep(str(folder / "video-net.toml"))
    assert {t.config.sizes == [784, 16, 16, 10] for t in video.trials} == {True}
    assert {sum(n_in * n_out + n_out for n_in, n_out in zip(t.config.sizes, t.config.sizes[1:])) for t in video.trials} == {13_002}
    smallest = read_sweep(str(folder / "smallest-98.toml"))
    assert smallest.scheduler is None and len({tuple(t.config.sizes) for t in smallest.trials}) == len(smallest.trials)


# --------------------------------------------------------------------- pieces
def test_local_asha_decides_as_ray_tunes_asha():
    """The same results fed to Ray Tune's ASHA scheduler and to ours give the same stop decisions."""
    pytest.importorskip("ray.tune")
    from ray.tune.schedulers import ASHAScheduler, TrialScheduler

    rng = np.random.default_rng(3)
    ours = Asha(Scheduler(grace_period=1, reduction_factor=3, max_epochs=12), "max")
    theirs = ASHAScheduler(time_attr="epochs_run", metric="val_accuracy", mode="max", max_t=12, grace_period=1,
                           reduction_factor=3)

    class FakeTrial:
        def __init__(self, trial_id):
            self.trial_id = trial_id

    stops = 0
    for trial_number in range(30):
        trial = FakeTrial(f"t{trial_number}")
        theirs.on_trial_add(None, trial)
        for epoch in range(1, 12):
            value = float(rng.uniform(0.8, 0.99))
            result = {"epochs_run": epoch, "val_accuracy": value}
            stop_theirs = theirs.on_trial_result(None, trial, result) == TrialScheduler.STOP
            assert ours.should_stop(trial.trial_id, epoch, value) == stop_theirs, (trial_number, epoch)
            if stop_theirs:
                stops += 1
                break
    assert stops > 10  # the rule was exercised


def test_pareto_front_keeps_what_nothing_beats():
    points = [(100, 0.90), (200, 0.95), (150, 0.89), (300, 0.95), (50, 0.80), (400, 0.97), (50, 0.79)]
    assert pareto_front(points) == [4, 0, 1, 5]
    assert preset_parameters()["3b1b"] == 13_002


# --------------------------------------------------------------------- the command line
def test_report_on_a_folder_without_a_sweep_is_one_line(tmp_path, capsys):
    assert main(["sweep", "--report", str(tmp_path)]) == 1
    assert "holds no sweep results" in capsys.readouterr().err


def test_without_ray_it_says_how_to_install_it_and_offers_the_local_engine(tmp_path):
    fake = tmp_path / "hide"
    (fake / "ray").mkdir(parents=True)
    (fake / "ray" / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    sweep = write(tmp_path, TINY.format(epochs=1, cpus=1))
    result = run_cli("sweep", str(sweep), "--out", str(tmp_path / "out"), env_path=str(fake), timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "pip install 'digitnet[sweep]'" in lines[0] and "--engine local runs the 4 trials here" in lines[0]


@pytest.mark.slow
def test_the_local_engine_runs_the_sweep_and_resumes_only_what_is_left(tmp_path, capsys):
    sweep = write(tmp_path, TINY.format(epochs=2, cpus=1))
    out = tmp_path / "out"
    assert main(["sweep", str(sweep), "--out", str(out), "--engine", "local"]) == 0
    results = rows(out)
    assert sorted(results) == ["t000", "t001", "t002", "t003"]
    assert {r["status"] for r in results.values()} == {"done"}
    assert list(next(iter(results.values()))) == ["trial", "learning_rate", "layers", "parameters", "val_accuracy",
                                                  "test_accuracy", "epochs_run", "seconds", "status"]
    assert results["t001"]["layers"] == "784-24-10" and results["t001"]["parameters"] == str(784 * 24 + 24 + 24 * 10 + 10)
    check_best_model(out, results)
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Again in the same folder: refused without --resume; with it, nothing is trained again.
    capsys.readouterr()
    assert main(["sweep", str(sweep), "--out", str(out), "--engine", "local"]) == 1
    assert "already holds a sweep; add --resume" in capsys.readouterr().err
    before = (out / "trials.json").read_text()
    assert main(["sweep", str(sweep), "--out", str(out), "--engine", "local", "--resume"]) == 0
    assert json.loads((out / "trials.json").read_text()) == json.loads(before)
    # A different sweep in the same folder is refused.
    assert main(["sweep", str(sweep), "--out", str(out), "--engine", "local", "--resume", "--trials", "2"]) == 1
    assert "holds a different sweep" in capsys.readouterr().err
    assert main(["sweep", "--report", str(out)]) == 0
    report = capsys.readouterr().out
    assert "4 trials: 4 done" in report and report.index("t00") < report.index("784-")


def check_best_model(out: Path, results: dict[str, dict[str, str]]) -> None:
    """best.safetensors is the row best on validation, and scores on the same images as its row says."""
    best_id = max(results, key=lambda t: (float(results[t]["val_accuracy"]), -int(results[t]["parameters"])))
    net = dn.load(out / "best.safetensors")
    training, metadata = net.metadata["training"], net.metadata
    assert metadata["sweep"]["trial"] == best_id
    assert training["sizes"] == [int(n) for n in results[best_id]["layers"].split("-")]
    assert training["learning_rate"] == float(results[best_id]["learning_rate"])
    assert dn.TrainConfig.from_dict(training).optimizer == "adamw"  # the full config, preset included
    mnist = dn.data.load("mnist")
    x_val, y_val = mnist.x_train[2000:3000], mnist.y_train[2000:3000]  # train_images 3000, last 1000 held out
    x_test, y_test = mnist.x_test[:2000], mnist.y_test[:2000]
    assert dn.evaluate(net, x_val, y_val) == float(results[best_id]["val_accuracy"])
    assert dn.evaluate(net, x_test, y_test) == float(results[best_id]["test_accuracy"])
    assert net.num_parameters == int(results[best_id]["parameters"])


# --------------------------------------------------------------------- Ray Tune
@pytest.mark.slow
def test_a_four_trial_sweep_on_a_local_ray(tmp_path):
    pytest.importorskip("ray.tune")
    sweep = write(tmp_path, TINY.format(epochs=1, cpus=1))
    out = tmp_path / "out"
    result = run_cli("sweep", str(sweep), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    results = rows(out)
    assert sorted(results) == ["t000", "t001", "t002", "t003"] and {r["status"] for r in results.values()} == {"done"}
    # Each trial's checkpoint is digitnet's own file, outside Ray's experiment folder (DIR/ray).
    state = json.loads((out / "trials.json").read_text())["trials"]
    assert {t: state[t]["checkpoint"] for t in results} == \
        {t: str((out / "checkpoints" / t / "checkpoint.safetensors").resolve()) for t in results}
    assert (out / "ray").is_dir()  # Ray's experiment lives under --out
    check_best_model(out, results)
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Best: " in result.stdout

    # The local engine runs the same trials to the same scores.
    local = tmp_path / "local"
    assert main(["sweep", str(sweep), "--out", str(local), "--engine", "local"]) == 0
    for trial, row in rows(local).items():
        assert {k: v for k, v in row.items() if k != "seconds"} == {k: v for k, v in results[trial].items() if k != "seconds"}


def kill_session(session: int) -> None:
    """SIGKILL every process of a session (the sweep and the Ray processes it started)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:  # after ") ": state, ppid, pgrp, session
            try:
                os.kill(int(stat.parent.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.mark.slow
def test_a_killed_ray_sweep_resumes_without_rerunning_finished_trials(tmp_path):
    pytest.importorskip("ray.tune")
    sweep = write(tmp_path, TINY.format(epochs=2, cpus=1))
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(SRC))
    process = subprocess.Popen([sys.executable, "-m", "digitnet", "sweep", str(sweep), "--out", str(out)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        finished: dict[str, dict[str, str]] = {}
        while not finished:
            assert time.monotonic() < deadline and process.poll() is None, "no trial finished"
            time.sleep(0.2)
            if (out / "results.csv").exists():
                finished = {t: r for t, r in rows(out).items() if r["status"] == "done"}
    finally:
        kill_session(process.pid)
        process.wait()
    unfinished_then = [t for t, r in rows(out).items() if r["status"] != "done"]
    assert unfinished_then, "the sweep ended before it was killed: nothing to resume"
    done_then = json.loads((out / "trials.json").read_text())["trials"]
    checkpoints = {t: Path(done_then[t]["checkpoint"]) for t in finished}
    stamps = {t: path.stat().st_mtime_ns for t, path in checkpoints.items()}
    # Resuming reads digitnet's records only (trials.json, the checkpoints): Ray's experiment
    # folder, with its pickled state, can be gone.
    shutil.rmtree(out / "ray")

    result = run_cli("sweep", str(sweep), "--out", str(out), "--resume")
    assert result.returncode == 0, result.stderr[-3000:]
    results = rows(out)
    assert {r["status"] for r in results.values()} == {"done"}
    after = json.loads((out / "trials.json").read_text())["trials"]
    for trial in finished:
        assert results[trial] == finished[trial]  # same row, same training seconds: not trained again
        assert after[trial]["metrics"] == done_then[trial]["metrics"]
        assert checkpoints[trial].stat().st_mtime_ns == stamps[trial]
    check_best_model(out, results)
