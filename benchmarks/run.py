"""digitnet against PyTorch, scikit-learn and the textbook loop, side by side, in one run.

    .venv/bin/python benchmarks/run.py                # the full table (about 10 minutes): BENCHMARKS.md
    .venv/bin/python benchmarks/run.py --quick --out /tmp/b.md   # a smoke run (seconds, tiny data)
    .venv/bin/python benchmarks/run.py --configs A,E --threads 1 --runs 5

Every measurement runs in its own fresh worker process (this script with --worker): imports,
memory and thread pools never carry over, and the worker's peak RSS is that run's own. Runs
alternate between frameworks (the order rotates each round), and each figure is the median over
--runs rounds with the min–max beside it. Threads: each worker is pinned to as many cores as its
thread count, BLAS/OpenMP pools are limited with threadpoolctl and torch.set_num_threads, and the
usual environment variables are set for the worker. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, which pin an older OpenBLAS kernel on some machines,
are removed for the benchmark's processes only (the script re-executes itself without them and
reports which kernel then runs).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from configs import CONFIGS, TARGET_ACCURACY, flops_per_epoch  # noqa: E402

PINNED = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
UNSET_NOTE = "DIGITNET_BENCH_UNSET"
FRAMEWORKS = {"A": ["digitnet", "compiled", "reference", "pytorch", "jax", "sklearn", "textbook"],
              "B": ["digitnet", "compiled", "pytorch", "jax", "sklearn"], "C": ["digitnet", "compiled", "pytorch", "jax", "sklearn"],
              "D": ["digitnet", "compiled", "pytorch", "jax"],
              "E": ["digitnet", "compiled", "pytorch", "jax", "sklearn", "onnxruntime", "textbook"]}
NAMES = {"digitnet": "digitnet", "compiled": "digitnet compiled", "reference": "digitnet's plain loop (before)",
         "pytorch": "PyTorch", "jax": "JAX", "sklearn": "scikit-learn", "onnxruntime": "onnxruntime", "textbook": "textbook loop"}


# ===================================================================== worker side
def load_data(kind: str, train_size: int, test_size: int | None = None):
    """(x, y, x_test, y_test): MNIST's first train_size training images (the book's 50,000 are
    the first 50,000), or random MNIST-shaped data for a smoke run without the data set."""
    import numpy as np

    if kind == "mnist":
        import digitnet as dn

        data = dn.datasets.load("mnist")
        x, y, x_test, y_test = data.x_train[:train_size], data.y_train[:train_size], data.x_test, data.y_test
    else:
        rng = np.random.default_rng(0)
        x = rng.random((train_size, 784), dtype=np.float32)
        y = rng.integers(0, 10, train_size)
        x_test, y_test = rng.random((10_000, 784), dtype=np.float32), rng.integers(0, 10, 10_000)
    if test_size:
        x_test, y_test = x_test[:test_size], y_test[:test_size]
    return np.ascontiguousarray(x), np.asarray(y), np.ascontiguousarray(x_test), np.asarray(y_test)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def pin_to_cores(threads: int) -> None:
    """Run this process on `threads` cores and no more. Thread-count settings alone do not bind
    every framework: XLA's CPU runtime kept both cores busy at "one thread" (XLA_FLAGS turn off its
    Eigen pool, not the pool its compiled programs run on: measured 1.9 s of CPU per wall second),
    so the affinity mask is what makes a 1-thread figure a one-core figure for all of them."""
    cores = sorted(os.sched_getaffinity(0))
    if threads < len(cores):
        os.sched_setaffinity(0, cores[:threads])


def worker(spec: dict) -> dict:
    """One measurement in this fresh process; returns a JSON-able dict."""
    from threadpoolctl import threadpool_limits

    threads = spec["threads"]
    pin_to_cores(threads)
    threadpool_limits(threads)
    if spec.get("framework") == "pytorch" or (spec["task"] == "matmul" and spec.get("torch", True)):
        import torch

        torch.set_num_threads(threads)
    import peers

    task = spec["task"]
    if task == "train":
        config = CONFIGS[spec["config"]]
        train_size = spec.get("train_size") or config.train_size
        data = load_data(spec["data"], train_size, spec.get("test_size"))
        before = rss_mb()
        until = TARGET_ACCURACY if config.key == "D" else None
        result = peers.TRAIN[spec["framework"]](config, data, spec["epochs"], spec["seed"], until=until)
        result.update(rss_before_mb=before, peak_rss_mb=peak_rss_mb())
        return result
    if task == "infer":
        data = load_data(spec["data"], 1000)
        return peers.infer(spec["framework"], spec["network"], data[2], spec["repeats"], spec["single_repeats"])
    if task == "matmul":
        out = {"numpy_gflops": peers.matmul_rate(threads, spec.get("size", 2048))}
        if not spec.get("torch", True):
            return out
        import torch

        A = torch.rand(2048, 2048)
        torch.mm(A, A)
        best = math.inf
        for _ in range(5):
            start = time.perf_counter()
            torch.mm(A, A)
            best = min(best, time.perf_counter() - start)
        out["torch_gflops"] = 2 * 2048**3 / best / 1e9
        return out
    if task == "startup":
        return peers.compiled_startup()
    if task == "floor":
        config = CONFIGS[spec["config"]]
        data = load_data(spec["data"], spec.get("train_size") or config.train_size)
        from digitnet.engines.threads import blas_threads, limit_blas_threads

        # The same thread choice digitnet makes for this shape.
        rows = len(data[0])
        with limit_blas_threads(blas_threads(list(config.sizes), config.batch_size)):
            matmuls = statistics.median(peers.matmuls_alone(config, rows) for _ in range(3))
        update = statistics.median(peers.update_alone(config, rows) for _ in range(3))
        return {
            "matmuls_s": matmuls,
            "gather_s": statistics.median(peers.gather_alone(config, data[0]) for _ in range(3)),
            "update_s": update,
            "rows": rows,
        }
    raise ValueError(task)


# ===================================================================== orchestration
def run_worker(spec: dict, timeout: float = 900) -> dict:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[name] = str(spec["threads"])
    if "numba_cache" in spec:
        env["NUMBA_CACHE_DIR"] = spec["numba_cache"]
    if spec.get("framework") == "jax":  # XLA reads its thread pool size from here, at import
        from jaxpeer import xla_flags

        flags = xla_flags(spec["threads"])
        if flags:
            env["XLA_FLAGS"] = flags
    env["PYTHONWARNINGS"] = "ignore"
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
    return {"error": " | ".join(tail) or f"exit {done.returncode}"}


def available(framework: str) -> bool:
    module = {"pytorch": "torch", "sklearn": "sklearn", "onnxruntime": "onnxruntime", "jax": "jax", "compiled": "numba"}.get(framework)
    if module is None:
        return True
    import importlib.util

    return importlib.util.find_spec(module) is not None


def stats(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


class Bench:
    def __init__(self, args) -> None:
        self.args = args
        self.results: dict = {"train": {}, "infer": {}, "matmul": {}, "floor": {}, "startup": {}}
        self.started = time.time()

    def say(self, message: str) -> None:
        print(f"[{time.time() - self.started:6.1f}s] {message}", flush=True)

    def rounds(self, frameworks, make_spec, store, label):
        """--runs rounds; within a round every framework once, the order rotating."""
        frameworks = [f for f in frameworks if available(f)]
        for run in range(self.args.runs):
            turn = frameworks[run % len(frameworks):] + frameworks[: run % len(frameworks)]
            for framework in turn:
                spec = make_spec(framework, run)
                if spec is None:
                    continue
                result = run_worker(spec)
                store.setdefault(framework, []).append(result)
                self.say(f"{label} {framework} run {run + 1}: {summary(result)}")

    def train(self, key: str, threads: int) -> None:
        args = self.args
        epochs = args.epochs.get(key, 2)

        def make_spec(framework, run):
            if key == "D" and threads != max(args.threads):
                return None
            # D: a different seed each round (how reliably the recipe gets there is part of the answer)
            seed = args.seed + run if key == "D" else args.seed
            spec = {"task": "train", "framework": framework, "config": key, "threads": threads, "epochs": epochs,
                    "seed": seed, "data": args.data, "train_size": args.train_size, "test_size": args.test_size}
            if framework == "textbook":
                spec["epochs"] = 1 if args.quick else min(epochs, 2)
            return spec

        store = self.results["train"].setdefault(key, {}).setdefault(threads, {})
        self.rounds(FRAMEWORKS[key], make_spec, store, f"{key} threads={threads}")

    def infer(self, threads: int) -> None:
        for network in ("3b1b",) if self.args.quick else ("3b1b", "wide"):
            store = self.results["infer"].setdefault(network, {}).setdefault(threads, {})

            def make_spec(framework, run, network=network):
                if framework == "textbook" and network != "3b1b":
                    return None
                return {"task": "infer", "framework": framework, "network": network, "threads": threads,
                        "data": self.args.data, "repeats": 3 if self.args.quick else 10,
                        "single_repeats": 300 if self.args.quick else 3000}

            frameworks = ["digitnet", "textbook"] if self.args.quick else FRAMEWORKS["E"]
            self.rounds(frameworks, make_spec, store, f"E {network} threads={threads}")

    def floor(self, threads: int) -> None:
        self.results["matmul"][threads] = run_worker({"task": "matmul", "threads": threads, "torch": not self.args.quick,
                                                      "size": 512 if self.args.quick else 2048})
        self.say(f"matmul rate threads={threads}: {summary(self.results['matmul'][threads])}")
        for key in self.args.configs:
            if key in "ABC" or (key == "D" and threads == max(self.args.threads)):
                result = run_worker({"task": "floor", "config": key, "threads": threads, "data": self.args.data,
                                     "train_size": self.args.train_size})
                self.results["floor"].setdefault(key, {})[threads] = result
                self.say(f"floor {key} threads={threads}: {summary(result)}")

    def startup(self) -> None:
        """The compiled engine's start-up: cold (an empty Numba cache), then warm (the same cache)."""
        if not available("compiled"):
            return
        import tempfile

        with tempfile.TemporaryDirectory(prefix="digitnet-numba-") as cache:
            for state in ("cold", "warm"):
                result = run_worker({"task": "startup", "threads": max(self.args.threads), "numba_cache": cache})
                self.results["startup"][state] = result
                self.say(f"compiled start-up ({state} cache): {summary(result)}")

    def run(self) -> None:
        self.startup()
        for threads in self.args.threads:
            self.floor(threads)
        for key in self.args.configs:
            for threads in self.args.threads:
                if key == "E":
                    self.infer(threads)
                else:
                    self.train(key, threads)


def summary(result: dict) -> str:
    if "error" in result:
        return "ERROR " + result["error"]
    parts = []
    for key, value in result.items():
        if isinstance(value, float):
            parts.append(f"{key}={value:.4g}")
        elif isinstance(value, list) and value and isinstance(value[0], float):
            parts.append(f"{key}=[{', '.join(f'{v:.3g}' for v in value)}]")
    return " ".join(parts)


# ===================================================================== the report
def machine() -> dict:
    import numpy as np
    import threadpoolctl

    info = {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            models = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        info["cpu"] = models[0] if models else platform.processor()
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
        info["avx512"] = "avx512f" in flags
    except OSError:
        info["cpu"] = platform.processor()
    blas = [lib for lib in threadpoolctl.threadpool_info() if lib.get("user_api") == "blas"]
    info["blas"] = ", ".join(
        f"{lib.get('internal_api')} {lib.get('version')} ({lib.get('architecture')} kernel, "
        f"{lib.get('threading_layer')} threads)" for lib in blas
    )
    try:
        config = np.show_config(mode="dicts")
        blas_build = config["Build Dependencies"]["blas"]
        info["numpy_blas"] = f"{blas_build.get('name')} {blas_build.get('version')}"
    except Exception:  # noqa: BLE001 - older NumPy: threadpoolctl's line suffices
        pass
    for module in ("torch", "sklearn", "threadpoolctl"):
        try:
            info[module] = __import__(module).__version__
        except ImportError:
            info[module] = "not installed"
    try:
        import torch

        info["torch_blas"] = "MKL" if torch.backends.mkl.is_available() else "no MKL"
        info["torch_blas"] += ", oneDNN" if torch.backends.mkldnn.is_available() else ""
    except ImportError:
        pass
    import digitnet

    info["digitnet"] = digitnet.__version__
    try:
        info["git"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                     cwd=ROOT).stdout.strip()
    except OSError:
        pass
    return info


def fmt_seconds(value: float) -> str:
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def cell(values: list[float], formatter=fmt_seconds) -> str:
    if not values:
        return "—"
    middle, low, high = stats(values)
    if len(values) == 1 or formatter(low) == formatter(high):
        return formatter(middle)
    return f"{formatter(middle)} ({formatter(low)}–{formatter(high)})"


def per_epoch(result: dict) -> float:
    """A run's seconds per epoch: the median of its epochs (the first included when it is alone)."""
    return statistics.median(result["epoch_seconds"])


def report(bench: Bench, load_before, load_after, command: str) -> str:
    args, results = bench.args, bench.results
    info = machine()
    lines = ["# Benchmarks", ""]
    lines += [
        "digitnet against PyTorch (CPU), scikit-learn's MLPClassifier and the textbook per-example loop, "
        "measured side by side in one run on one machine. Each figure is the **median over "
        f"{args.runs} runs** with the min–max in brackets; every run is a fresh process, and the frameworks "
        "take turns (the order rotates each round). Ratios are peer time / digitnet time from the same run: "
        "above 1 means digitnet is faster. On this shared machine a ratio moves by about ±10% from one full "
        "run to the next (more with two threads, where any other process competes for the second core): "
        "compare runs before reading much into a ratio near 1 or near a target.",
        "",
        f"Command: `{command}`",
        "",
    ]
    if args.quick:
        lines += ["**Smoke run (--quick): tiny data and one run; the numbers mean nothing.**", ""]
    lines += ["## Machine", ""]
    unset = os.environ.get(UNSET_NOTE)
    rows = [
        ("CPU", f"{info.get('cpu')} — {info.get('cpus')} cores{', AVX-512' if info.get('avx512') else ''}"),
        ("BLAS (NumPy)", f"{info.get('blas')}; build: {info.get('numpy_blas', '?')}"),
        ("BLAS environment", f"{unset} unset for this run (the script re-executes itself without them)" if unset
         else "no OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE set"),
        ("Threads", ", ".join(map(str, args.threads)) + " (threadpoolctl for NumPy/OpenBLAS and scikit-learn, "
         "torch.set_num_threads for PyTorch; OMP/OPENBLAS/MKL_NUM_THREADS set to match)"),
        ("Versions", f"Python {info['python']}, NumPy {info['numpy']}, digitnet {info['digitnet']} ({info.get('git', '?')}), "
         f"PyTorch {info['torch']} ({info.get('torch_blas', '')}), scikit-learn {info['sklearn']}, threadpoolctl {info['threadpoolctl']}"),
        ("Load average", f"{load_before} before, {load_after} after (other work on this shared 2-core machine "
         "makes absolute times noisy; ratios from the same run hold better)"),
        ("Date", datetime.datetime.now().strftime("%Y-%m-%d %H:%M")),
    ]
    lines += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows] + [""]

    rates = results["matmul"]
    if rates:
        lines += ["Measured matrix-product rate (float32 2048×2048, best of 5): " + "; ".join(
            f"{t} thread{'s' if t > 1 else ''}: NumPy/OpenBLAS {r.get('numpy_gflops', math.nan):.0f} GFLOP/s"
            + (f", PyTorch {r['torch_gflops']:.0f} GFLOP/s" if "torch_gflops" in r else "")
            for t, r in sorted(rates.items())) + ".", ""]

    # ---- training
    train_keys = [k for k in args.configs if k in "ABC" and k in results["train"]]
    if train_keys:
        lines += ["## Training: seconds per epoch", ""]
        lines += ["| config | threads | framework | s/epoch | peer / digitnet | peer / digitnet compiled | compile or warm-up s "
                  "| test accuracy after equal epochs | peak RSS MB (training adds) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for key in train_keys:
            config = CONFIGS[key]
            for threads, by_framework in sorted(results["train"][key].items()):
                base = [per_epoch(r) for r in by_framework.get("digitnet", []) if "error" not in r]
                base_median = statistics.median(base) if base else math.nan
                fast = [per_epoch(r) for r in by_framework.get("compiled", []) if "error" not in r]
                fast_median = statistics.median(fast) if fast else math.nan
                for framework in FRAMEWORKS[key]:
                    runs = by_framework.get(framework, [])
                    good = [r for r in runs if "error" not in r]
                    if not runs:
                        continue
                    if not good:
                        lines.append(f"| {key} | {threads} | {NAMES[framework]} | error: {runs[0]['error'][:80]} | | | | | |")
                        continue
                    seconds = [per_epoch(r) for r in good]
                    ratio = "1" if framework == "digitnet" else f"**{statistics.median(seconds) / base_median:.1f}×**"
                    ratio_fast = "1" if framework == "compiled" else (
                        f"**{statistics.median(seconds) / fast_median:.1f}×**" if fast else "—")
                    warm = [r["compile_seconds"] for r in good if "compile_seconds" in r]
                    warm_up = cell(warm, lambda v: f"{v:.2f}") if warm else ""
                    epochs = len(good[0]["epoch_seconds"])
                    accuracy = cell([100 * r["test_accuracy"] for r in good], lambda v: f"{v:.2f}%")
                    memory = cell([r["peak_rss_mb"] for r in good], lambda v: f"{v:.0f}")
                    added = statistics.median(r["peak_rss_mb"] - r["rss_before_mb"] for r in good)
                    note = " ¹" if framework in config.notes else ""
                    lines.append(f"| {key} | {threads} | {NAMES[framework]}{note} | {cell(seconds)} | {ratio} | {ratio_fast} | "
                                 f"{warm_up} | {accuracy} ({epochs} epoch{'s' if epochs > 1 else ''}) | {memory} (+{added:.0f}) |")
        lines += ["", "Configurations:", ""] + [f"- **{k}** {CONFIGS[k].title}." for k in train_keys]
        notes = [f"{NAMES[f]} in {k}: {n}" for k in train_keys for f, n in CONFIGS[k].notes.items()]
        if notes:
            lines += ["", "¹ " + "; ".join(notes) + "."]
        lines += [
            "",
            "s/epoch is each run's median epoch; accuracy is on the 10,000 test images after the same number of "
            "epochs for every framework (scikit-learn starts from its own initialisation, the others from "
            "digitnet's initial weights); the textbook loop runs fewer epochs when it is slow. Peak RSS is the "
            "worker process's maximum resident memory (interpreter, libraries and data included); the bracket "
            "is what the training added over the process before it started. \"compile or warm-up\" is paid once "
            "before the first epoch and is not in s/epoch: for JAX the ahead-of-time compilation of the epoch "
            "program; for digitnet compiled, loading its kernels from Numba's on-disk cache (compiling them "
            "when the cache is empty: see the start-up section) and indexing the training images' nonzero pixels.",
            "",
        ]

    # ---- D
    if "D" in results["train"]:
        config = CONFIGS["D"]
        lines += ["## Time to 98% test accuracy (D)", "",
                  f"Recipe for both: {config.title}. Training seconds until the test accuracy, checked after "
                  "every epoch (not timed), first reaches 98.0%; run i uses seed i for both frameworks.", "",
                  "| threads | framework | seconds to ≥ 98% | epochs | accuracy then | peer / digitnet |", "|---|---|---|---|---|---|"]
        for threads, by_framework in sorted(results["train"]["D"].items()):
            def to_target(r):
                curve = r["accuracy_curve"]
                hit = next((i for i, a in enumerate(curve) if a >= TARGET_ACCURACY), None)
                return None if hit is None else sum(r["epoch_seconds"][: hit + 1])

            base = [to_target(r) for r in by_framework.get("digitnet", []) if "error" not in r]
            base = [b for b in base if b is not None]
            for framework in FRAMEWORKS["D"]:
                good = [r for r in by_framework.get(framework, []) if "error" not in r]
                if not good:
                    continue
                times = [to_target(r) for r in good]
                reached = [t for t in times if t is not None]
                epochs = cell([len(r["accuracy_curve"]) for r in good], lambda v: f"{v:.0f}")
                accuracy = cell([100 * r["test_accuracy"] for r in good], lambda v: f"{v:.2f}%")
                missed = len(times) - len(reached)
                text = cell(reached) + (f" ({missed} run(s) never reached it)" if missed else "")
                ratio = "1" if framework == "digitnet" else (
                    f"**{statistics.median(reached) / statistics.median(base):.1f}×**" if reached and base else "—")
                lines.append(f"| {threads} | {NAMES[framework]} | {text} | {epochs} | {accuracy} | {ratio} |")
        lines.append("")

    # ---- E
    if results["infer"]:
        lines += ["## Inference (E)", "",
                  "The 10,000 test images as one batch (images per second) and one image at a time (µs per call, "
                  "median of thousands of calls, p1–p99 in brackets), calling what users call: `net.predict(X)`, "
                  "`model(X).argmax(1)` under `torch.inference_mode()`, `MLPClassifier.predict`, "
                  "`session.run(None, {\"input\": X})[0].argmax(1)` on `digitnet export --format onnx`'s graph "
                  "(onnxruntime, intra-op threads = the run's threads), and the book's "
                  "`feedforward` per column.", "",
                  "| network | threads | framework | 10,000 images: images/s | peer / digitnet (time) | one image: µs | peer / digitnet |",
                  "|---|---|---|---|---|---|---|"]
        for network, by_threads in results["infer"].items():
            for threads, by_framework in sorted(by_threads.items()):
                base = [r for r in by_framework.get("digitnet", []) if "error" not in r and r]
                base_rate = statistics.median(r["images_per_second"] for r in base) if base else math.nan
                base_us = statistics.median(r["one_image_us"] for r in base) if base else math.nan
                for framework in FRAMEWORKS["E"]:
                    good = [r for r in by_framework.get(framework, []) if r and "error" not in r]
                    if not good:
                        continue
                    rate = statistics.median(r["images_per_second"] for r in good)
                    us = statistics.median(r["one_image_us"] for r in good)
                    p1 = statistics.median(r["one_image_us_p1"] for r in good)
                    p99 = statistics.median(r["one_image_us_p99"] for r in good)
                    rates = cell([r["images_per_second"] for r in good], lambda v: f"{v:,.0f}")
                    ratio_rate = "1" if framework == "digitnet" else f"**{base_rate / rate:.1f}×**"
                    ratio_us = "1" if framework == "digitnet" else f"**{us / base_us:.1f}×**"
                    lines.append(f"| {network} | {threads} | {NAMES[framework]} | {rates} | {ratio_rate} | "
                                 f"{us:.1f} ({p1:.1f}–{p99:.1f}) | {ratio_us} |")
        lines += ["", "3b1b is 784-16-16-10 (sigmoid); wide is 784-800-800-10 (ReLU, softmax).", ""]

    # ---- start-up
    if results["startup"]:
        lines += ["## Start-up of the compiled engine", "",
                  "Paid once per process before its first epoch, in a fresh process: importing Numba, then the "
                  "training kernel's first call (on 64 images), the inference kernels' first calls, and the wide "
                  "network's kernels (config C's network, two steps of 32, with as many threads as the run's "
                  "largest count: with two, the team's parallel kernels and split products too). Cold: "
                  "Numba's cache empty, so the kernels are compiled (and written to the cache); warm: the same "
                  "cache, so they are loaded.", "",
                  "| cache | import Numba | training kernel ready | inference kernels ready | wide-network kernels ready |",
                  "|---|---|---|---|---|"]
        for state, r in results["startup"].items():
            if "error" in r:
                lines.append(f"| {state} | error: {r['error'][:80]} | | | |")
                continue
            wide = f"{r['wide_kernels_s']:.2f} s" if "wide_kernels_s" in r else "–"
            lines.append(f"| {state} | {r['import_s']:.2f} s | {r['training_kernel_s']:.2f} s | {r['inference_kernels_s']:.2f} s "
                         f"| {wide} |")
        lines.append("")

    # ---- where the time goes
    if results["floor"]:
        lines += where_the_time_goes(bench)
    return "\n".join(lines) + "\n"


EXPLANATIONS = {
    "A": "5,000 steps of about 32 NumPy calls each: 8 matrix products, some 22 elementwise operations on "
         "16×10 arrays, and the update. The two 10×784×16 products run at roughly two thirds of the BLAS peak; "
         "the other six are so small that each is all call overhead. Everything else (the elementwise calls "
         "at ~0.3–0.4 µs apiece and the Python between them) costs about as much as the products. digitnet "
         "already makes the fewest calls NumPy allows (bias inside the weight matrix, activations in place, "
         "0-d constants, η folded into the output delta so the update is one subtraction, no allocation); "
         "the rest of the gap to the floor is the cost of calling NumPy at all, which only compiled code "
         "could remove.",
    "B": "391 steps of 128 examples: the products (128×784×16) are still small and run below the BLAS rate, "
         "the Adam update is ten whole-vector passes over 13,002 parameters per step, and gathering the "
         "shuffled rows (157 MB of scattered 3 KB rows per epoch) is a fixed cost of its own.",
    "C": "Arithmetic dominates: the products run at 80–100% of the BLAS rate and are four fifths of the "
         "epoch. Most of the rest is Adam: ten memory-bound passes over 1.3 million parameters per step "
         "(NumPy's float32 square root is not vectorised in this build and costs as much as three other "
         "passes), on one core: splitting it over two threads was no faster inside training, where BLAS's "
         "threads compete for the core and the memory bandwidth. PyTorch's fused Adam does it in one "
         "multithreaded pass; that, and OpenBLAS waking its second thread for every product, is where "
         "two threads lose ground.",
    "D": "A mid-sized network at batch 128: mostly matrix products, then Adam over 203,530 parameters.",
}


COMPILED_EXPLANATIONS = {
    "A": "one kernel call runs up to 256 steps with no NumPy call between them. Per image, layer 0 touches only "
         "its ~150 nonzero pixels: one 16-float row of W̄₀ = W₀ᵀ per pixel, one AVX-512 FMA, for the forward "
         "sum and again for the update (plain SGD updates W̄₀ straight from the pixels); layers 1–2 are a few "
         "dozen FMAs; the sigmoid is a rational tanh over each layer's block. That is ~0.6 GFLOP an epoch, under a "
         "quarter of the dense 2.6. What remains is mostly memory: every step reads 10 random rows of the "
         "nonzero-pixel index (~1.2 KB each, prefetched 10 rows ahead).",
    "B": "the same kernel; Adam runs as one vectorised pass over the 13,104 (padded) parameters per step, "
         "with subnormals flushed (Adam's moments of rarely lit border pixels decay into the subnormal range, "
         "where each operation costs ~100 cycles).",
    "C": "the 800×800 products stay OpenBLAS's (three quarters of the remaining FLOPs); layer 0's forward sum "
         "and weight gradient run over the nonzero pixels only (measured alone at batch 128: 0.67 ms and 0.65 ms "
         "against 1.6 ms each for the dense products), bias + activation and σ' are one pass each, and the "
         "update is one vectorised pass over p, g, m and s. On two threads one team runs the whole step "
         "(engines/blas_calls.py): OpenBLAS is set to one thread, each big product is split into one "
         "one-thread cblas_sgemm call per thread made from inside a Numba parallel loop (blocks of whole rows "
         "or columns: the same numbers, bit for bit), and every kernel takes its share of columns, rows or "
         "chunks. Two teams side by side lost: OpenBLAS's idle worker spins on the other core for ~0.1 s after "
         "every product (Numba's threads beside it: 7× slower; Python threads: 1.4× slower), and waking a "
         "sleeping thread costs ~50 µs on this machine, against ~1.5 µs to start an OpenMP loop whose workers "
         "are still spinning. One epoch on two threads, by phase (a quiet run of 1.9 s): the products 1.16 s, layer 0's "
         "two sparse kernels 0.32 s, the update 0.15 s (it streams ~21 MB a step, and swings most when the "
         "machine is busy: up to 0.66 s), activations and deltas 0.11 s, regrouping the batch's pixels (one "
         "thread) 0.07 s, the rest 0.05 s. What is left is the GEMM itself, at the BLAS rate on each core.",
    "D": "as C, with one 256-unit hidden layer.",
    "E": "one image is one compiled call (engines.compiled.forward: under half of NumPy's path's time, which "
         "Network.forward keeps so that its numbers stay exactly Dense.forward's). A batch through a narrow "
         "network runs eight rows at a time on the transposed weights (forward_kernels.forward_blocks): each "
         "16-float weight row is loaded once per eight FMAs, so the video's network costs 784 AVX-512 FMAs an "
         "image, this core's FMA rate (285 ns an image from cache, 330 ns streaming 10,000 images from "
         "memory), where OpenBLAS runs the 16-column product far below its peak; the rows are split over the "
         "threads BLAS may use. Skipping zero pixels, as training does, was measured and dropped here: the "
         "union of nonzero pixels over eight rows is 45% of them, but finding it costs most of the FMAs it "
         "saves, and the batch streams from memory either way (345 against 330 ns an image). The wide "
         "network's batch is three dense products at the BLAS rate: digitnet calls NumPy for it.",
}


def where_the_time_goes(bench: Bench) -> list[str]:
    results, args = bench.results, bench.args
    lines = ["## Where the time goes", "",
             "For each configuration: the FLOPs of one epoch (2 per multiply-add: forward, weight gradient, and the "
             "backward product for every layer but the first), the floor they set at the matrix-product rate "
             "measured above, the same products timed alone at the configuration's own shapes (the floor at these "
             "sizes), the shuffled-row gather and the optimizer update timed alone (all in the default engine's "
             "layout and calls), and digitnet's measured epochs with its default and its compiled engine. The "
             "compiled engine's layer 0 skips zero pixels, so it can go below the dense floor.", "",
             "| config | threads | GFLOP/epoch | floor at peak rate | matmuls alone at these shapes | gather | optimizer update | digitnet epoch | compiled epoch | compiled / peak floor |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for key, by_threads in results["floor"].items():
        config = CONFIGS[key]
        for threads, floor in sorted(by_threads.items()):
            if "error" in floor or (key == "D" and threads != max(args.threads)):
                continue
            rate = results["matmul"].get(threads, {}).get("numpy_gflops", math.nan)
            rows = floor.get("rows", config.train_size)
            gflop = flops_per_epoch(config) * rows / config.train_size / 1e9
            peak_floor = gflop / rate
            runs = [r for r in results["train"].get(key, {}).get(threads, {}).get("digitnet", []) if "error" not in r]
            epoch = statistics.median(per_epoch(r) for r in runs) if runs else math.nan
            runs = [r for r in results["train"].get(key, {}).get(threads, {}).get("compiled", []) if "error" not in r]
            fast = statistics.median(per_epoch(r) for r in runs) if runs else math.nan
            lines.append(
                f"| {key} | {threads} | {gflop:.2f} | {peak_floor * 1e3:.0f} ms | {floor['matmuls_s'] * 1e3:.0f} ms | "
                f"{floor['gather_s'] * 1e3:.0f} ms | {floor['update_s'] * 1e3:.0f} ms | {epoch * 1e3:.0f} ms | "
                f"{fast * 1e3:.0f} ms | {fast / peak_floor:.1f}× |")
    lines += ["", "FLOPs count the 50,000 training images of A–C (D: 60,000) and leave out the input gradient "
              "∂C/∂x, which nothing needs; the issue's 4.7 GFLOP for A counted 60,000 images and that product.", ""]
    lines += [f"- **{key}**: {EXPLANATIONS[key]}" for key in results["floor"] if key in EXPLANATIONS]
    lines += ["", "The compiled engine (digitnet.engines.compiled), and what the figures above leave to do:", ""]
    shown = [key for key in results["floor"] if key in COMPILED_EXPLANATIONS] + (["E"] if "E" in args.configs else [])
    lines += [f"- **{key}**: {COMPILED_EXPLANATIONS[key]}" for key in shown]
    return lines + [""]


# ===================================================================== main
def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 2,000 images, one run, one thread, config A with every peer, E without them")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md", help="where to write the table")
    parser.add_argument("--runs", type=int, default=3, help="rounds per measurement (median, min-max)")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--configs", default="A,B,C,D,E", help="which of A,B,C,D,E")
    parser.add_argument("--epochs", default="A=2,B=3,C=2,D=6", help="epochs per configuration, like A=2,B=3 "
                        "(D: at most, stopping at 98%%)")
    parser.add_argument("--data", choices=["mnist", "synthetic"], default=None,
                        help="MNIST (default) or random MNIST-shaped data (default for --quick without MNIST)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.threads = [int(t) for t in args.threads.split(",")]
    args.configs = [c.strip().upper() for c in args.configs.split(",")]
    args.epochs = {k: int(v) for k, v in (item.split("=") for item in args.epochs.split(","))}
    args.train_size = None
    args.test_size = None
    if args.quick:
        args.runs, args.threads = 1, [1]
        args.configs = [c for c in args.configs if c in ("A", "E")] or ["A"]
        args.epochs = {"A": 1}
        args.train_size, args.test_size = 2000, 1000
    if args.data is None:
        args.data = "mnist"
        if args.quick:
            try:
                import digitnet as dn

                dn.datasets.load("mnist")
            except Exception:  # noqa: BLE001 - any failure to get MNIST: the smoke run uses random data
                args.data = "synthetic"
    return args


# The sections other scripts record into the file, as (start, end) markers: load.py --record (web
# load, and under attack), learn_load.py --record, augment.py --record, realworld.py.
KEPT_SECTIONS = [(f"<!-- {name}:start -->", f"<!-- {name}:end -->") for name in ("web-load", "web-attack", "learn-load", "augment")] + [
    ("<!-- realworld:begin -->", "<!-- realworld:end -->")]


def keep_web_load_section(path: Path, text: str) -> str:
    """Carry over, in their order, the sections other scripts record into the file (KEPT_SECTIONS)."""
    if not path.exists():
        return text
    old = path.read_text()
    for start, end in KEPT_SECTIONS:
        if start in old and end in old:
            section = start + old.split(start, 1)[1].split(end, 1)[0] + end
            text = text.rstrip("\n") + "\n\n" + section + "\n"
    return text


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--worker" in argv:
        spec = json.loads(argv[argv.index("--worker") + 1])
        print("RESULT " + json.dumps(worker(spec)), flush=True)
        return 0
    pinned = {name: os.environ[name] for name in PINNED if name in os.environ}
    if pinned:  # run without the pinned kernel; say so in the report
        env = {k: v for k, v in os.environ.items() if k not in PINNED}
        env[UNSET_NOTE] = ", ".join(f"{k}={v}" for k, v in pinned.items())
        os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), *argv], env)
    args = parse(argv)
    command = "make bench" if not argv else "python benchmarks/run.py " + " ".join(argv)
    bench = Bench(args)
    load_before = " ".join(f"{v:.1f}" for v in os.getloadavg())
    bench.say(f"configs {args.configs}, threads {args.threads}, {args.runs} run(s), data {args.data}")
    bench.run()
    load_after = " ".join(f"{v:.1f}" for v in os.getloadavg())
    text = report(bench, load_before, load_after, command)
    text = keep_web_load_section(args.out, text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(bench.results, indent=1, default=str))
    bench.say(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
