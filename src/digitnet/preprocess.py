"""Compatibility name: `digitnet.preprocess` is digitnet.data.preprocess under its old name.

The README's `digitnet.preprocess.to_mnist(path)` keeps working: any image -> the (28, 28)
float32 MNIST digit it shows. New code imports digitnet.data.preprocess (or digitnet.data).
The names here are the same objects; MAX_PIXELS, the size limit, is set on digitnet.data.images.
"""

from digitnet.data.preprocess import *  # noqa: F403
from digitnet.data.preprocess import __all__  # noqa: F401
