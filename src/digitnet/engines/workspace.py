"""The fused engine's buffers: every array one block of training steps needs, allocated once."""

from __future__ import annotations

import numpy as np

# --------------------------------------------------------------------- buffers for one batch width
class Workspace:
    """Every array one block of steps of batch width w needs, allocated once.

    X: (k·w, n₀) gathered input rows; Y: (k·w, n_L) their targets; Yc: (k, n_L, w) the same as
    columns; O: (k, n_L, w) each step's output columns (kept for the block's loss and accuracy);
    A[l]: (n_l + 1, w) hidden activations with a last row of ones; M[l]: (k, n_l + 1, w) dropout
    masks (last row 1); AD[l]: the dropped activations; D[l], T[l]: (n_l, w) deltas and scratch.
    """

    def __init__(self, plan, width: int, steps: int) -> None:
        dtype, sizes = plan.dtype, plan.sizes
        self.width, self.steps = width, steps
        rows = width * steps
        self.X = np.empty((rows, sizes[0]), dtype)
        self.Y = np.empty((rows, sizes[-1]), dtype)
        self.Yc = np.empty((steps, sizes[-1], width), dtype)
        self.O = np.empty((steps, sizes[-1], width), dtype)
        self.labels = np.empty(rows, np.intp)
        hidden = sizes[1:-1]
        self.A = [np.ones((units + 1, width), dtype) for units in hidden]
        self.AD = [np.ones((units + 1, width), dtype) for units in hidden] if plan.dropout else []
        self.M = [np.ones((steps, units + 1, width), dtype) for units in hidden] if plan.dropout else []
        self.D = [np.empty((units, width), dtype) for units in sizes[1:]]
        self.T = [np.empty((units, width), dtype) for units in sizes[1:]]
        self.ones = np.ones((width, 1), dtype)  # for the first layer's bias gradient dZ·1
        # Views made once, not per step: each step's rows and columns, hidden outputs without the
        # row of ones, what feeds the next layer (dropped or not), each step's masks.
        self.rows = [self.X[j * width : (j + 1) * width] for j in range(steps)]  # (w, n₀)
        self.columns = [rows.T for rows in self.rows]  # (n₀, w)
        self.Z0 = np.empty((width, sizes[1]), dtype)  # the first layer's sums, one row per example
        self.H = [A[:-1] for A in self.A]  # (n_l, w)
        self.inputs = self.AD if plan.dropout else self.A  # ãᵀ, (n_l + 1, w)
        self.inputs_T = [inputs.T for inputs in self.inputs]
        self.masks = [[M[j] for j in range(steps)] for M in self.M]
        self.mask_rows = [[M[j, :-1] for j in range(steps)] for M in self.M]
