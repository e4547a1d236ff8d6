"""The data room: MNIST-style datasets from IDX files to arrays, and pictures to MNIST digits."""

from digitnet.data.datasets import *  # noqa: F403 (temporary: the split comes next)
from digitnet.data.datasets import __all__  # noqa: F401
