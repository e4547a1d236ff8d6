"""Sweeps: search training settings, one trial per TrainConfig, on Ray Tune or in this process.

    spec.py          the sweep file (TOML): fixed settings, [space], trials, metric, [scheduler] → Sweep
    trial.py         one trial: the Trainer epoch by epoch, a report and a checkpoint after each
    ray_engine.py    the trials on Ray Tune (local Ray or a cluster; ASHA; resumable); needs digitnet[sweep]
    local_engine.py  the trials one after another in this process (the same ASHA rule, same files)
    results.py       DIR/trials.json, DIR/results.csv, DIR/best.safetensors, the table
    pareto.py        DIR/pareto.png: accuracy against parameters and against time, the front highlighted

`digitnet sweep SWEEP.toml --out DIR` (digitnet.commands.sweep) puts them together. Ray is
imported only by ray_engine, so `import digitnet.sweeps` works without it.
"""

from digitnet.sweeps.spec import METRICS, Choice, Range, Scheduler, Sweep, Trial, parse_sweep, read_sweep

__all__ = ["METRICS", "Choice", "Range", "Scheduler", "Sweep", "Trial", "parse_sweep", "read_sweep"]
