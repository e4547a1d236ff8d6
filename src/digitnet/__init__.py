"""digitnet: the network of 3Blue1Brown's 'But what is a neural network?' in NumPy.

    import digitnet as dn
    net = dn.Network([784, 16, 16, 10])          # 13,002 weights and biases
    history = dn.train(net, x, y, epochs=30, batch_size=10, learning_rate=3.0)
    net.predict(x_test)
"""

from digitnet import data, datasets  # datasets: the README's name for the data room
from digitnet._version import __version__
from digitnet.activations import ACTIVATIONS
from digitnet.layers import INITS, Dense
from digitnet.losses import LOSSES
from digitnet.modelfile import ModelFileError, load, save
from digitnet.network import Network
from digitnet.optimizers import OPTIMIZERS, SGD, Adam, AdamW, Momentum, make_optimizer
from digitnet.training import History, TrainConfig, Trainer, TrainingDiverged, evaluate, train
from digitnet.training.schedules import SCHEDULES

__all__ = [
    "ACTIVATIONS", "Adam", "data", "datasets", "AdamW", "Dense", "History", "INITS", "LOSSES", "ModelFileError", "Momentum", "Network",
    "OPTIMIZERS", "SCHEDULES", "SGD", "TrainConfig", "Trainer", "TrainingDiverged", "__version__",
    "evaluate", "load", "make_optimizer", "save", "train",
]
