"""Engines: the same mathematics (digitnet.backprop, digitnet.optimizers), arranged for speed.

A training engine is a plan class with this small interface (ReferencePlan is the model):
    Plan.supports(net, cost, optimizer, batch_size, dropout) -> bool
    plan = Plan(net, cost, optimizer, batch_size, dropout)
    plan.fits(net, cost, optimizer, batch_size, dropout) -> bool     (built for these settings?)
    plan.run_epoch(x, Y, labels, order, rng, on_batch, report_every) -> (summed loss, correct)
run_epoch reads the network's weights and the optimizer's state when it starts and leaves them
updated when it returns (also when interrupted); it uses rng only for dropout masks
(engines.dropout), so every engine consumes the generator alike.

- reference: the plain per-mini-batch loop; every activation, loss and optimizer.
- fused:     one epoch with nothing allocated per step, built-in optimizers (engines.fused).
- compiled:  Numba kernels (engines.compiled; the `compiled` extra).
"auto" takes the first of AUTO_ORDER that supports the settings and wins for them (auto_wins):
the compiled engine for float32 networks, where make bench measured it ahead of the fused engine
on every configuration (A-C at 1 and 2 threads, BENCHMARKS.md); float64 (not benchmarked) stays
on the fused engine. Without a working numba, auto says so once (a CompiledEngineUnavailable
warning) and trains on the NumPy engines.
"""

from __future__ import annotations

import importlib

PLANS = {"reference": ("digitnet.engines.reference", "ReferencePlan"),
         "fused": ("digitnet.engines.fused", "FusedPlan"),
         "compiled": ("digitnet.engines.compiled", "CompiledPlan")}
AUTO_ORDER = ("compiled", "fused", "reference")


class CompiledEngineUnavailable(UserWarning):
    """engine="auto" would take the compiled engine, but numba does not import here."""


_told_unavailable = False


def plan_class(name: str) -> type:
    """The plan class of the named engine."""
    if name not in PLANS:
        raise ValueError(f"unknown engine {name!r}; expected one of auto, {', '.join(PLANS)}")
    module, attribute = PLANS[name]
    return getattr(importlib.import_module(module), attribute)


def choose(engine: str, net, cost, optimizer, batch_size: int, dropout: float) -> type:
    """The plan class for these settings: the named engine, or with "auto" the first that fits."""
    if engine == "auto":
        for name in AUTO_ORDER:
            if not auto_wins(name, net):
                continue
            plan = plan_class(name)
            if plan.supports(net, cost, optimizer, batch_size, dropout):
                return plan
    plan = plan_class(engine)
    if not plan.supports(net, cost, optimizer, batch_size, dropout):
        raise ValueError(
            f"engine {engine!r} does not support this network or optimizer "
            f"({type(optimizer).__name__}); use engine='auto' or 'reference'"
        )
    return plan


def auto_wins(name: str, net) -> bool:
    """Whether "auto" may take the named engine for net: the compiled engine for float32 networks
    when numba imports (else a one-time CompiledEngineUnavailable warning), the others always."""
    if name != "compiled":
        return True
    import numpy as np

    if np.dtype(net.dtype) != np.float32:
        return False
    from digitnet.engines import compiled

    if compiled.available():
        return True
    global _told_unavailable
    if not _told_unavailable:
        _told_unavailable = True
        import warnings

        warnings.warn(
            f"the compiled engine is not available ({compiled.unavailable_reason()}); training on the "
            "NumPy engines, which are slower on small networks (pip install 'digitnet[compiled]' adds numba)",
            CompiledEngineUnavailable, stacklevel=3,
        )
    return False
