"""Training: TrainConfig (every setting, checked once) → Trainer (epochs, on an engine) → files.

    config.py       TrainConfig: the settings, their checks, their CLI flags and help
    config_file.py  settings written in TOML (train --config, a sweep file's fixed settings)
    trainer.py      Trainer(net, config, x, y), train(...) and evaluate(...)
    schedules.py    learning rate per epoch
    history.py      what each epoch measured
    checkpoints.py  checkpoint and history files next to a model file
    run.py          `digitnet train`'s whole run: data split, resume, checkpoints, model file
    presets.py      the named recipes (3b1b, modern, best)
The steps themselves run on an engine (digitnet.engines).
"""

from digitnet.training.config import TrainConfig
from digitnet.training.history import History
from digitnet.training.trainer import Trainer, TrainingDiverged, evaluate, train

__all__ = ["History", "TrainConfig", "Trainer", "TrainingDiverged", "evaluate", "train"]
