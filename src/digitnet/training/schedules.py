"""Learning-rate schedules: the learning rate η_e of each epoch e = 0, 1, …, E − 1.

- constant:  η_e = η
- step:      η_e = η · gamma^⌊e / step_size⌋
- cosine:    η_e = η_min + ½(η − η_min)(1 + cos(π e / E)), η_min = η · min_factor
"""

from __future__ import annotations

import math

from digitnet.checks import check_choice


def constant_schedule(base: float, epoch: int, epochs: int, **_) -> float:
    """η_e = η."""
    return base


def step_schedule(base: float, epoch: int, epochs: int, step_size: int = 10, gamma: float = 0.5, **_) -> float:
    """η_e = η · gamma^⌊e / step_size⌋."""
    return base * gamma ** (epoch // step_size)


def cosine_schedule(base: float, epoch: int, epochs: int, min_factor: float = 0.0, **_) -> float:
    """η_e = η_min + ½(η − η_min)(1 + cos(π e / E)), η_min = η · min_factor."""
    low = base * min_factor
    return low + 0.5 * (base - low) * (1.0 + math.cos(math.pi * epoch / max(epochs, 1)))


SCHEDULES = {"constant": constant_schedule, "step": step_schedule, "cosine": cosine_schedule}


def scheduled_learning_rate(schedule: str, base: float, epoch: int, epochs: int, **options) -> float:
    """The learning rate for epoch (0-based) of a run of `epochs` epochs."""
    return SCHEDULES[check_choice(schedule, SCHEDULES, "schedule")](base, epoch, epochs, **options)
