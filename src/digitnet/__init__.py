"""digitnet: the network of 3Blue1Brown's 'But what is a neural network?' in NumPy."""

from digitnet._version import __version__

__all__ = ["__version__"]
