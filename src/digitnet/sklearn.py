"""A scikit-learn classifier whose model is a digitnet Network.

    from digitnet.sklearn import DigitNetClassifier
    clf = DigitNetClassifier(hidden_layer_sizes=(16, 16), max_iter=10).fit(X, y)
    clf.predict(X_test); clf.predict_proba(X_test); clf.score(X_test, y_test); clf.network_

It follows scikit-learn's conventions (parameters set in __init__ and checked in fit, fitted
attributes ending in "_", get_params/set_params, clone, Pipeline, GridSearchCV, pickling in
memory) and names its parameters like MLPClassifier where they mean the same:

    network   [n_features_in_, *hidden_layer_sizes, len(classes_)], hidden `activation`,
              softmax output, cross-entropy cost C = −(1/n) Σ log p_y
    solver    "adam" (Adam, betas 0.9/0.999) or "sgd" (with `momentum` μ, Nesterov when
              nesterovs_momentum): v ← μ v + g; W ← W − η v. learning_rate_init is η.
    alpha     L2 penalty on the weights (not the biases), scaled as MLPClassifier scales it: the
              cost of a mini-batch of b examples gains α/(2b)·Σ‖W‖², so digitnet's
              weight_decay is α / b.
    max_iter  epochs (every one runs: there is no tolerance-based stop); with early_stopping a
              stratified validation_fraction is held out, training stops after n_iter_no_change
              epochs without a better validation accuracy, and the best weights are kept.

Labels may be any sortable values (ints, strings, ...); they are encoded as 0..k−1 in the
order of classes_. Any number of features works, not only MNIST's 784. Training goes through
the public dn.train; scikit-learn is an optional extra (pip install 'digitnet[sklearn]').
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data

import digitnet as dn
from digitnet.checks import check_positive_int

__all__ = ["DigitNetClassifier"]

SOLVERS = ("adam", "sgd")
# scikit-learn's name for the sigmoid, beside digitnet's own names.
ACTIVATION_ALIASES = {"logistic": "sigmoid"}
HIDDEN_ACTIVATIONS = ("relu", "sigmoid", "logistic", "tanh", "leaky_relu", "identity")


class DigitNetClassifier(ClassifierMixin, BaseEstimator):
    """Multi-layer perceptron classifier trained by digitnet (see the module docstring).

    Fitted attributes: classes_ (k,), n_features_in_, network_ (the digitnet Network),
    n_iter_ (epochs run), loss_curve_ (mean training cost per epoch), and with early stopping
    validation_scores_ and best_validation_score_.
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 1e-4,
        batch_size="auto",
        learning_rate_init: float = 1e-3,
        max_iter: int = 200,
        random_state=None,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.random_state = random_state
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change

    # ----------------------------------------------------------------- fitting
    def fit(self, X: ArrayLike, y: ArrayLike) -> "DigitNetClassifier":
        """Train a new network for max_iter epochs on X (n, n_features) and labels y (n,)."""
        X, y = validate_data(self, X, y, dtype=[np.float32, np.float64])
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y must hold at least 2 classes to train a classifier; "
                             f"got 1 class ({self.classes_.tolist()[0]!r})")
        self._start(X.shape[1])
        self._train(X, encoded, self.max_iter, early_stopping=self.early_stopping)
        return self

    def partial_fit(self, X: ArrayLike, y: ArrayLike, classes: ArrayLike | None = None) -> "DigitNetClassifier":
        """One epoch over (X, y), continuing from the current weights and optimizer state.

        classes: every label that will ever appear; required on the first call.
        """
        first = not hasattr(self, "classes_")
        X, y = validate_data(self, X, y, dtype=[np.float32, np.float64], reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError("classes must be given on the first call to partial_fit (every label that may appear)")
            self.classes_ = np.unique(np.asarray(classes))
            if len(self.classes_) < 2:
                raise ValueError(f"classes must hold at least 2 classes; got {self.classes_.tolist()}")
            self._start(X.shape[1])
        elif classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
            raise ValueError(f"classes must be the same on every call to partial_fit: {self.classes_.tolist()}; "
                             f"got {np.unique(np.asarray(classes)).tolist()}")
        unknown = np.setdiff1d(y, self.classes_)
        if len(unknown):
            raise ValueError(f"y holds label(s) {unknown.tolist()} not among the classes {self.classes_.tolist()}")
        self._train(X, np.searchsorted(self.classes_, y), 1, early_stopping=False)
        return self

    def _start(self, n_features: int) -> None:
        """A fresh network, optimizer and generator (every setting checked first)."""
        hidden = self._hidden_sizes()
        activation = self._activation()
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {', '.join(SOLVERS)}; got {self.solver!r}")
        for name in ("alpha", "learning_rate_init", "momentum", "validation_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a non-negative number; got {value!r}")
        if self.learning_rate_init <= 0:
            raise ValueError(f"learning_rate_init must be positive; got {self.learning_rate_init!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1); got {self.momentum!r}")
        if self.early_stopping and not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1); got {self.validation_fraction!r}")
        for name in ("max_iter", "n_iter_no_change"):
            check_positive_int(getattr(self, name), name)
        if self.batch_size != "auto":
            check_positive_int(self.batch_size, "batch_size")
        self._rng = np.random.default_rng(_seed(self.random_state))  # shuffles every epoch; kept for partial_fit
        sizes = [n_features, *hidden, len(self.classes_)]
        self.network_ = dn.Network(sizes, activation=activation, output_activation="softmax", seed=self._rng)
        self.network_.metadata = {"class_names": [str(c) for c in self.classes_]}
        self._optimizer = None  # made on the first epoch, when the batch size (hence the decay) is known
        self.loss_curve_: list[float] = []
        self.n_iter_ = 0

    def _train(self, X: NDArray, labels: NDArray[np.intp], epochs: int, early_stopping: bool) -> None:
        validation, patience = None, None
        if early_stopping:
            X, X_val, labels, labels_val = train_test_split(
                X, labels, test_size=self.validation_fraction, stratify=labels,
                random_state=int(self._rng.integers(2**31 - 1)),
            )
            validation, patience = (X_val, labels_val), self.n_iter_no_change
        batch_size = min(200, len(X)) if self.batch_size == "auto" else min(self.batch_size, len(X))
        if self._optimizer is None:
            options = {"weight_decay": self.alpha / batch_size}
            name = self.solver
            if self.solver == "sgd" and self.momentum > 0:
                name = "momentum"
                options.update(momentum=self.momentum, nesterov=bool(self.nesterovs_momentum))
            # One optimizer for the estimator's life: its state (Adam's moments, the momentum)
            # carries over from one partial_fit call to the next, as MLPClassifier's does.
            self._optimizer = dn.make_optimizer(name, self.learning_rate_init, **options)
        history = dn.train(
            self.network_, X, labels, epochs=epochs, batch_size=batch_size,
            learning_rate=self.learning_rate_init, optimizer=self._optimizer, loss="cross-entropy",
            seed=self._rng, validation=validation, patience=patience,
        )
        self.loss_curve_ = self.loss_curve_ + [float(v) for v in history.loss]
        self.n_iter_ += len(history)
        if validation is not None:
            self.validation_scores_ = [float(v) for v in history.val_accuracy]
            self.best_validation_score_ = max(self.validation_scores_)

    # ----------------------------------------------------------------- prediction
    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """The softmax output: (n, len(classes_)), column j the probability of classes_[j].

        Computed in float64 from the network's weights: a float32 product's rounding depends on
        how BLAS splits the batch, and a row's answer must not depend on the rows beside it.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        A = X  # (n, n_features)
        for layer in self.network_.layers:
            A = dn.Dense(layer.weight.astype(np.float64), layer.bias.astype(np.float64), layer.activation).forward(A)
        return A  # (n, len(classes_))

    def predict_log_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: ArrayLike) -> NDArray:
        """The most probable class for each row of X: (n,) values of classes_."""
        check_is_fitted(self)
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    # ----------------------------------------------------------------- checks
    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, numbers.Integral) else sizes
        try:
            values = list(sizes)
        except TypeError:
            values = None
        if values is None or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in values):
            raise ValueError(f"hidden_layer_sizes must be positive integers, like (100,) or (16, 16); "
                             f"got {self.hidden_layer_sizes!r}")
        return [int(v) for v in values]

    def _activation(self) -> str:
        if self.activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(HIDDEN_ACTIVATIONS)}; got {self.activation!r}")
        return ACTIVATION_ALIASES.get(self.activation, self.activation)


def _seed(random_state) -> int:
    """A non-negative int seed from scikit-learn's random_state (None, an int, or a RandomState)."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool) and random_state >= 0:
        return int(random_state)
    return int(check_random_state(random_state).randint(2**31 - 1))
