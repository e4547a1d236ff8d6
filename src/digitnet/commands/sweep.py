"""`digitnet sweep SWEEP.toml --out DIR`: search training settings on Ray Tune, or here with --engine local.

    digitnet sweep sweeps/video-net.toml --out runs/video-net            a local Ray on this machine
    digitnet sweep sweeps/video-net.toml --out runs/video-net --resume   continue a killed sweep
    digitnet sweep S.toml --out DIR --address auto                       an existing Ray cluster
    digitnet sweep S.toml --out DIR --engine local                       no Ray: one trial after another
    digitnet sweep --report DIR                                          the results table again
The sweep file's format is in digitnet.sweeps.spec; the files in DIR in digitnet.sweeps.results.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ORDER = 25
INSTALL = "pip install 'digitnet[sweep]'"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="search training settings: trials on Ray Tune (one machine or a cluster), or --engine local",
        description="Run the trials a sweep file describes (fixed settings, a [space] of searched settings) "
        "on Ray Tune, with a live table, and write DIR/results.csv, DIR/best.safetensors and DIR/pareto.png.",
    )
    parser.add_argument("sweep_file", nargs="?", metavar="SWEEP.toml", help="the sweep file (see sweeps/ for examples)")
    parser.add_argument("--out", metavar="DIR", help="folder for the results, the Ray experiment and checkpoints")
    parser.add_argument("--address", metavar="ADDR",
                        help="an existing Ray cluster: auto (this machine is part of it) or ray://HOST:10001 "
                        "(default: start a local Ray)")
    parser.add_argument("--trials", type=int, metavar="N", help="how many trials (overrides the file's trials)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the sweep in DIR from digitnet's own records (trials.json and the trials' "
                        "checkpoints): finished trials are kept, the others run again from their checkpoints")
    parser.add_argument("--engine", choices=["ray", "local"], default="ray",
                        help="ray: trials on Ray Tune (default); local: one after another in this process")
    parser.add_argument("--report", metavar="DIR", help="print the results table of the sweep in DIR and stop")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    if args.report:
        return report(args.report, console)
    if not args.sweep_file:
        raise ValueError("give a sweep file: digitnet sweep SWEEP.toml --out DIR (or --report DIR for a finished sweep)")
    if not args.out:
        raise ValueError("--out DIR is required: the folder for the sweep's results")
    if args.trials is not None and args.trials < 1:
        raise ValueError(f"--trials must be at least 1; got {args.trials}")

    from digitnet.sweeps.spec import read_sweep

    sweep = read_sweep(args.sweep_file, args.trials)
    engine = args.engine
    if engine == "ray" and not ray_installed():
        engine = offer_local(len(sweep.trials))
    if args.address and engine == "local":
        raise ValueError("--address runs the trials on a Ray cluster; it cannot go with --engine local")
    out = Path(args.out)
    progress = prepare(out, sweep, engine, args.resume, console)
    todo = len(progress.unfinished())
    console.print(f"Sweep {args.sweep_file}: {len(sweep.trials)} trials ({todo} to run) of "
                  f"{'-'.join(map(str, sweep.base.sizes)) if 'sizes' not in sweep.space else 'several sizes'}, "
                  f"metric {sweep.metric}, {'ASHA' if sweep.scheduler else 'no early stopping'}, "
                  f"on {'Ray Tune' + (' at ' + args.address if args.address else ' (local)') if engine == 'ray' else 'this process'}; "
                  f"results in {out}/")
    try:
        with live_table(out, console, sweep.metric):
            if engine == "ray":
                from digitnet.sweeps.ray_engine import run_ray

                run_ray(sweep, progress, address=args.address)
            else:
                from digitnet.sweeps.local_engine import run_local

                run_local(sweep, progress, say=console.print)
    except KeyboardInterrupt:
        console.print(f"Interrupted: finished trials are kept in {out}; run the same command with --resume to continue.")
        raise
    return finish(out, args.sweep_file, console)


def ray_installed() -> bool:
    try:
        import ray.tune  # noqa: F401
    except ImportError:
        return False
    return True


def offer_local(trials: int) -> str:
    """Without Ray: say how to install it, and offer the local engine (asked only at a terminal)."""
    message = (f"Ray Tune is not installed: {INSTALL} (or pip install 'ray[tune]') runs the trials on Ray; "
               f"--engine local runs the {trials} trials here instead, one after another")
    if sys.stdin.isatty() and sys.stdout.isatty():
        print(message + ".", file=sys.stderr)
        if input("Run them here now with --engine local? [y/N] ").strip().lower() in ("y", "yes"):
            return "local"
    raise ValueError(message)


def prepare(out: Path, sweep, engine: str, resume: bool, console):
    """The sweep's Progress in DIR: new, or (with --resume) the one there if it is the same sweep."""
    from digitnet.sweeps.results import STATE_FILE, Progress

    document = json.loads(json.dumps(sweep.to_dict()))  # as it is stored: tuples become lists
    if not (out / STATE_FILE).exists():
        if resume:
            console.print(f"No sweep in {out} yet: starting it.")
        elif out.exists() and any(out.iterdir()):
            raise ValueError(f"--out {out} is a folder with other files in it; choose a new or empty folder")
        return Progress.create(out, document, engine)
    if not resume:
        raise ValueError(f"{out} already holds a sweep; add --resume to continue it, or choose another --out")
    progress = Progress.load(out)
    if progress.document.get("engine") != engine:
        raise ValueError(f"{out} was run with --engine {progress.document.get('engine')}; resume it with the same engine")
    stored = {k: v for k, v in progress.document["sweep"].items() if k != "file"}
    if stored != {k: v for k, v in document.items() if k != "file"}:
        raise ValueError(f"{out} holds a different sweep (from {progress.document['sweep']['file']}); "
                         "resume with the same sweep file and --trials, or choose another --out")
    return progress


class live_table:
    """While the engine runs: at a terminal, a rich Live table redrawn from DIR/results.csv; else
    (a log, a pipe) one line per trial as it ends, read from the same file."""

    def __init__(self, out: Path, console, metric: str) -> None:
        self.out, self.console, self.last = out, console, None
        self.live = self.thread = None
        self.reported: set[str] = set()
        if console.is_terminal:
            from rich.live import Live

            self.live = Live(get_renderable=self.render, console=console, refresh_per_second=2)

    def rows(self) -> list[dict[str, str]] | None:
        from digitnet.sweeps.results import read_results

        try:
            return read_results(self.out)
        except (OSError, ValueError):
            return None  # between two writes, or not written yet

    def render(self):
        from rich.console import Group
        from rich.text import Text

        from digitnet.sweeps.results import results_table, summary

        rows = self.rows()
        if rows is not None:
            limit = max(8, self.console.height - 8)
            shown = [r for r in rows if r["status"] == "running"] + [r for r in rows if r["status"] != "running"]
            self.last = Group(results_table(shown, limit=limit), Text(summary(rows)))
        return self.last or Text("")

    def print_ended(self) -> None:
        from digitnet.sweeps.results import FINAL, display

        for row in self.rows() or []:
            if row["status"] in FINAL and row["trial"] not in self.reported:
                self.reported.add(row["trial"])
                scores = (f"validation {display('val_accuracy', row['val_accuracy'])}, "
                          f"test {display('test_accuracy', row['test_accuracy'])}, "
                          f"{row['epochs_run'] or 0} epochs, {display('seconds', row['seconds'])} s"
                          if row["val_accuracy"] else "no result")
                self.console.print(f"trial {row['trial']} {row['status']}: {scores}")

    def poll(self) -> None:
        while not self.stopped.wait(1.0):
            self.print_ended()

    def __enter__(self):
        import threading

        if self.live is not None:
            self.live.__enter__()
        else:
            self.print_ended()  # trials a resumed sweep had finished already
            self.stopped = threading.Event()
            self.thread = threading.Thread(target=self.poll, name="digitnet-sweep-lines", daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            return self.live.__exit__(*exc)
        self.stopped.set()
        self.thread.join()
        self.print_ended()
        return False


def finish(out: Path, sweep_file: str, console) -> int:
    """After the engine: best.safetensors, pareto.png, the table best first; 1 if trials failed."""
    from digitnet.sweeps.results import (PARETO_FILE, Progress, cell, column_name, display, results_table, save_best,
                                         sort_rows, summary)

    progress = Progress.load(out)
    rows = progress.rows()
    best = save_best(progress)
    try:
        from digitnet.sweeps.pareto import save_pareto

        save_pareto(rows, out / PARETO_FILE, title=Path(sweep_file).stem)
        pareto = f", {out / PARETO_FILE}"
    except ImportError as error:
        pareto = f" (no {PARETO_FILE}: {error})"
    descending = progress.document["sweep"]["mode"] == "max"
    metric = progress.metric
    console.print(results_table(sort_rows(rows, metric, descending), title=f"{summary(rows)}, best first"))
    if best is not None:
        path, record = best
        settings = ", ".join(f"{column_name(k)}={cell(v)}"
                             for k, v in record["settings"].items())
        m = record["metrics"]
        console.print(f"Best: {record['id']} ({settings}): validation {display('val_accuracy', str(m['val_accuracy']))}, "
                      f"test {display('test_accuracy', str(m['test_accuracy']))}, {m['parameters']:,} parameters "
                      f"-> {path}")
    console.print(f"Wrote {out / 'results.csv'}{pareto}")
    unfinished = progress.unfinished()
    if unfinished:
        console.print(f"{len(unfinished)} trials did not finish: run the same command with --resume to continue.")
        return 130
    failed = [t for t in progress.trials.values() if t["status"] == "error"]
    if failed:
        print(f"digitnet: error: {len(failed)} trial(s) failed; {failed[0]['id']}: {failed[0]['error']}", file=sys.stderr)
        return 1
    return 0


def report(out: str, console) -> int:
    """`--report DIR`: the results table of a sweep, best first by validation accuracy."""
    from digitnet.sweeps.results import read_results, results_table, sort_rows, summary

    rows = read_results(out)
    console.print(results_table(sort_rows(rows), title=f"{out}: {summary(rows)}, best first"))
    return 0
