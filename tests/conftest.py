"""Shared test configuration.

- Every test runs with NumPy raising on overflow, division by zero and invalid operations
  (not underflow: a stable sigmoid or softmax underflows harmlessly to 0). Together with
  pytest's filterwarnings = error this means a stray inf or NaN fails the test where it appears.
- Hypothesis: no per-example deadline (the CI machine is slow and shared), modest example counts.
  HYPOTHESIS_PROFILE=thorough runs more examples locally.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("digitnet", deadline=None, max_examples=50)
settings.register_profile("thorough", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "digitnet"))


@pytest.fixture(autouse=True)
def numpy_errors_raise():
    """Run the test under np.errstate(over/divide/invalid="raise")."""
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        yield
