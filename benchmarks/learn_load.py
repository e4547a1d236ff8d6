"""Predictions under load while someone trains: p99 of /api/predict with and without a learning session.

    python benchmarks/learn_load.py                      # 50 clients, 10 s, interval 0.1 s, 2 rounds
    python benchmarks/learn_load.py --rounds 3 --record BENCHMARKS.md

Starts `digitnet serve` (benchmarks/load.py's start_server), then alternates: the 50-client load of
benchmarks/load.py alone, then the same load while one learning session (POST /api/learn, the 3b1b
preset) streams to a viewer in another process (curl). A/B alternation, because the machine may be shared:
a difference that holds in every round is the session's; absolute figures move with the machine.
Reports p50/p99/max per run and the mini-batch steps the session made during its load run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402  (benchmarks/load.py: start_server, run_load, stop_server)

CURL = shutil.which("curl")


class Learner:
    """One learning session streaming to a viewer in a process of its own (curl, else a thread here):
    a viewer in the load generator's process would compete with it for the GIL and blur the figures."""

    def __init__(self, url: str, epochs: int, folder: Path) -> None:
        self.url, self.epochs = url, epochs
        self.out = folder / f"session-{time.monotonic_ns()}.txt"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> None:
        body = json.dumps({"preset": "3b1b", "epochs": self.epochs})
        self.process = subprocess.Popen(
            [CURL, "-sN", "-X", "POST", "-H", "content-type: application/json", "-d", body, "-o", str(self.out),
             f"{self.url}/api/learn"])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(event["event"] == "progress" for event in self.events()):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise SystemExit(f"learn_load.py: the learning session did not start: {self.out.read_text()[:300]!r}")

    def events(self) -> list[dict]:
        try:
            text = self.out.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line[6:]) for line in text.split("\n") if line.startswith("data: ") and line.endswith("}")]

    @property
    def step(self) -> int:
        events = self.events()
        return events[-1]["step"] if events else 0

    @property
    def finished(self) -> bool:
        return any(event.get("done") for event in self.events())

    def close(self) -> None:
        """Leave the stream (the server then stops the session)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def one_run(url: str, pid: int, args, learning: bool, folder: Path) -> dict:
    learner = None
    if learning:
        learner = Learner(url, args.epochs, folder)
        learner.start()
    step_before = learner.step if learner else 0
    cpu_before = load.process_cpu_seconds(pid)
    results = asyncio.run(load.run_load(url, args.clients, args.seconds, args.interval, 1_000_000))
    cpu_after = load.process_cpu_seconds(pid)
    if cpu_before is not None and cpu_after is not None:
        results.server_cpu_s = cpu_after - cpu_before  # the server process alone, not its training child
    summary = results.summary(args.clients, args.interval)
    if learner:
        summary["training_steps"] = learner.step - step_before
        summary["training_still_running"] = not learner.finished
        learner.close()
    summary["learning"] = learning
    summary["load_average"] = round(os.getloadavg()[0], 2)
    return summary


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="seconds of load per run: short enough that the session trains throughout (30 epochs of "
                             "the video's network, the server's cap, take ~7 s with a callback after every step)")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds each client waits between requests (default 0.1)")
    parser.add_argument("--rounds", type=int, default=2, help="A/B rounds: load alone, then load while training")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of the session (enough to outlast the load)")
    parser.add_argument("--model", help="model file to serve (default: the pretrained 3b1b network shipped with digitnet)")
    parser.add_argument("--record", type=Path, metavar="MARKDOWN", help="write the table into this file's learn-load section")
    args = parser.parse_args(argv)
    if CURL is None:
        raise SystemExit("learn_load.py: needs curl, to watch the learning session from a process of its own")
    if args.model is None:
        from digitnet.web import pretrained_path

        args.model = str(pretrained_path())
    process, url = load.start_server(args.model)
    runs = []
    folder = Path(tempfile.mkdtemp(prefix="learn-load-"))
    try:
        for round_number in range(args.rounds):
            for learning in (False, True):
                summary = one_run(url, process.pid, args, learning, folder)
                summary["round"] = round_number + 1
                runs.append(summary)
                print(json.dumps(summary), flush=True)
                time.sleep(1.0)
    finally:
        load.stop_server(process)
        shutil.rmtree(folder, ignore_errors=True)
    if args.record:
        record(args.record, runs, argv if argv is not None else sys.argv[1:])
    return runs


START, END = "<!-- learn-load:start -->", "<!-- learn-load:end -->"


def record(path: Path, runs: list[dict], argv: list[str]) -> None:
    import datetime

    rows = [
        f"| {r['round']} | {'one session training' if r['learning'] else 'none'} | {r['requests_per_s']} | {r['errors']} | "
        f"{r['p50_ms']} ms | {r['p99_ms']} ms | {r['max_ms']} ms | {_per_request(r)} | {_steps(r)} | "
        f"{r['load_average']} |"
        for r in runs
    ]
    section = "\n".join([
        START,
        "## Predictions while someone trains",
        "",
        f"`python benchmarks/learn_load.py {' '.join(argv)}` ({datetime.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores "
        "shared by the server, its training process, the load generator and other work on the machine): the 50-client "
        "load of benchmarks/load.py on /api/predict, alone and while one learning session (3b1b) streams, alternating.",
        "",
        "| round | learning | requests/s | errors | p50 | p99 | max | server CPU per request | training steps during the run | load average |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        END,
    ])
    text = path.read_text() if path.exists() else ""
    if START in text and END in text:
        before, rest = text.split(START, 1)
        text = before + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def _steps(run: dict) -> str:
    """Training steps during the load, and whether the session outlasted it (the row then measures
    predictions while training from start to end)."""
    if "training_steps" not in run:
        return "–"
    return f"{run['training_steps']} ({'trained throughout' if run.get('training_still_running') else 'finished before the load ended'})"


def _per_request(run: dict) -> str:
    cpu = run.get("server_cpu_s")
    return "n/a" if cpu is None else f"{1000 * cpu / max(1, run['ok']):.2f} ms"


if __name__ == "__main__":
    main()
