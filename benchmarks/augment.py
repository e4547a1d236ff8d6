"""How long augmentation and deskewing take: milliseconds per 60,000 MNIST training images.

    .venv/bin/python benchmarks/augment.py                      # print the table
    .venv/bin/python benchmarks/augment.py --record BENCHMARKS.md   # and put it in BENCHMARKS.md

Each kind (digitnet.data.augment) runs on all 60,000 training images, the kinds taking turns
round after round so a burst of load from elsewhere hits them alike; the table gives the median
over --runs rounds of the wall time and of the process's CPU time (which other processes on a
shared machine inflate far less), with the min–max of the wall time beside it. Deskewing
(digitnet.data.deskew) is timed once per round on all 70,000 images, as training does it.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- augment:start -->", "<!-- augment:end -->"
SPECS = ["shift", "affine", "elastic", "thickness", "closing", "affine+elastic", "affine+elastic+closing"]


def measure(runs: int) -> tuple[dict[str, list[tuple[float, float]]], int]:
    import numpy as np

    import digitnet as dn
    from digitnet.data.augment import augment
    from digitnet.data.deskew import deskew

    data = dn.data.load("mnist")
    x, everything = data.x_train, np.concatenate([data.x_train, data.x_test])
    rng = np.random.default_rng(0)
    jobs = {spec: (lambda spec=spec: augment(x, spec, rng)) for spec in SPECS}
    jobs["deskew (70,000 images)"] = lambda: deskew(everything)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in jobs}
    names = list(jobs)
    for round_ in range(runs):
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:  # rotate the order
            wall, cpu = time.perf_counter(), time.process_time()
            jobs[name]()
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return times, len(x)


def report(times: dict[str, list[tuple[float, float]]], n: int, runs: int, command: str) -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    lines = [
        START,
        "## Augmentation and deskewing",
        "",
        f"`{command}` ({datetime.datetime.now():%Y-%m-%d %H:%M}, {platform.machine()}, {os.cpu_count()} cores"
        + (f", load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} after" if load else "") + "): "
        f"each kind of augmentation on all {n:,} training images, fresh random draws every time; "
        f"median over {runs} rounds (the kinds take turns), wall time with its min–max, and the "
        "process's CPU time, which load from other processes inflates far less than the wall time. "
        "Kinds that move pixels (affine, elastic) share their chunks between the threads BLAS may use "
        "(their CPU time is above their wall time); shift alone, thickness and closing run on one thread; "
        "deskewing's CPU time counts its BLAS threads.",
        "",
        "| augmentation | wall ms | wall min–max | CPU ms |",
        "|---|---|---|---|",
    ]
    for name, pairs in times.items():
        walls, cpus = [w * 1000 for w, _ in pairs], [c * 1000 for _, c in pairs]
        lines.append(f"| {name} | {statistics.median(walls):.0f} | {min(walls):.0f}–{max(walls):.0f} | "
                     f"{statistics.median(cpus):.0f} |")
    lines += [
        "",
        "An epoch of the best preset's 784-800-800-10 network on 50,000 images takes 3.6–4.5 s on this "
        "machine when it is quiet (C above); the trainer records each epoch's augmentation time as "
        "`augment_seconds` in the history next to `seconds`.",
        END,
    ]
    return "\n".join(lines) + "\n"


def record(path: Path, section: str) -> None:
    """Put section into path, replacing an earlier one (the file is kept otherwise)."""
    text = path.read_text() if path.exists() else ""
    if START in text and END in text:
        before, rest = text.split(START, 1)
        text = before + section.rstrip("\n") + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--record", type=Path, metavar="FILE", help="also write the table into FILE (BENCHMARKS.md)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    times, n = measure(args.runs)
    command = "python benchmarks/augment.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    section = report(times, n, args.runs, command)
    print(section)
    if args.record:
        record(args.record, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
