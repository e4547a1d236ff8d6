"""DigitNetClassifier: scikit-learn's own estimator checks, labels of any kind, any number of
features, Pipeline, GridSearchCV, pickling in memory, partial_fit carrying the optimizer's state,
and one clear error per bad parameter. The slow test tunes two learning rates on 6,000 MNIST
images with GridSearchCV and scores the winner on the MNIST test set.
"""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest

import digitnet as dn

sklearn = pytest.importorskip("sklearn")
joblib = pytest.importorskip("joblib")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from digitnet.sklearn import DigitNetClassifier  # noqa: E402


def small(**parameters) -> DigitNetClassifier:
    """Few epochs of a small network: enough for the checks' toy problems, fast enough for CI."""
    return DigitNetClassifier(**{"hidden_layer_sizes": (16,), "max_iter": 30, "learning_rate_init": 0.01,
                                 "random_state": 0, **parameters})


@parametrize_with_checks([small(), small(solver="sgd", activation="logistic", learning_rate_init=0.1)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def blobs(n=240, features=5, labels=("cat", "dog", "emu"), seed=0):
    """Three well-separated clusters in `features` dimensions, with string labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (len(labels), features))
    which = rng.integers(0, len(labels), n)
    X = centres[which] + rng.normal(0, 1, (n, features))
    return X, np.array(labels)[which]


def test_string_labels_and_any_number_of_features():
    X, y = blobs()
    clf = small().fit(X, y)
    assert list(clf.classes_) == ["cat", "dog", "emu"] and clf.n_features_in_ == 5
    assert isinstance(clf.network_, dn.Network) and clf.network_.sizes == [5, 16, 3]
    assert clf.network_.output_activation == "softmax"
    assert set(clf.predict(X)) <= {"cat", "dog", "emu"}
    P = clf.predict_proba(X)
    assert P.shape == (240, 3) and np.allclose(P.sum(axis=1), 1)
    assert np.array_equal(clf.classes_[P.argmax(axis=1)], clf.predict(X))
    assert clf.score(X, y) >= 0.95
    assert clf.n_iter_ == 30 and len(clf.loss_curve_) == 30 and clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_predict_proba_is_the_networks_softmax_output():
    X, y = blobs()
    clf = small().fit(X, y)
    assert np.abs(clf.predict_proba(X) - clf.network_.forward(X.astype(np.float32))).max() < 1e-6


def test_pipeline_and_grid_search():
    X, y = blobs(n=300, features=8)
    search = GridSearchCV(make_pipeline(StandardScaler(), small(max_iter=15)),
                          {"digitnetclassifier__learning_rate_init": [1e-3, 1e-2]}, cv=3)
    search.fit(X, y)
    assert search.best_params_["digitnetclassifier__learning_rate_init"] in (1e-3, 1e-2)
    assert len(search.cv_results_["mean_test_score"]) == 2
    assert search.score(X, y) >= 0.9


def test_pickles_in_memory_with_pickle_and_joblib():
    X, y = blobs()
    clf = small().fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(again.predict_proba(X), clf.predict_proba(X))
    buffer = io.BytesIO()
    joblib.dump(clf, buffer)
    buffer.seek(0)
    assert np.array_equal(joblib.load(buffer).predict(X), clf.predict(X))
    assert clone(clf).get_params() == clf.get_params()


def test_same_random_state_same_network():
    X, y = blobs()
    first, second = small(random_state=7).fit(X, y), small(random_state=7).fit(X, y)
    assert all(np.array_equal(a, b) for a, b in zip(first.network_.parameters(), second.network_.parameters()))
    other = small(random_state=8).fit(X, y)
    assert not np.array_equal(other.network_.layers[0].weight, first.network_.layers[0].weight)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_partial_fit_continues_where_it_stopped(solver):
    # Two partial_fit epochs make the same network as fit with max_iter=2: the optimizer's state
    # (Adam's moments, the momentum) and the shuffling generator carry over between calls.
    X, y = blobs()
    fitted = small(max_iter=2, solver=solver).fit(X, y)
    stepped = small(solver=solver)
    stepped.partial_fit(X, y, classes=["emu", "dog", "cat"])
    stepped.partial_fit(X, y)
    assert stepped.n_iter_ == 2 and list(stepped.classes_) == ["cat", "dog", "emu"]
    for a, b in zip(fitted.network_.parameters(), stepped.network_.parameters()):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_partial_fit_needs_classes_first_and_only_known_labels():
    X, y = blobs()
    with pytest.raises(ValueError, match="classes must be given on the first call to partial_fit"):
        small().partial_fit(X, y)
    clf = small().partial_fit(X, y, classes=["cat", "dog", "emu", "fox"])
    assert clf.network_.num_outputs == 4
    with pytest.raises(ValueError, match=r"label\(s\) \['yak'\] not among the classes"):
        clf.partial_fit(X[:2], np.array(["yak", "cat"]))
    with pytest.raises(ValueError, match="classes must be the same on every call"):
        clf.partial_fit(X, y, classes=["cat", "dog"])


def test_early_stopping_keeps_the_best_validation_epoch():
    X, y = blobs(n=400)
    clf = small(early_stopping=True, n_iter_no_change=3, max_iter=200, learning_rate_init=0.05).fit(X, y)
    assert len(clf.validation_scores_) == clf.n_iter_ < 200  # stopped before max_iter
    assert clf.best_validation_score_ == max(clf.validation_scores_)


def test_alpha_is_an_l2_penalty_on_the_weights():
    X, y = blobs()
    plain, penalised = small(alpha=0.0).fit(X, y), small(alpha=5.0).fit(X, y)
    norm = lambda clf: sum(float((layer.weight ** 2).sum()) for layer in clf.network_.layers)  # noqa: E731
    assert norm(penalised) < 0.5 * norm(plain)


@pytest.mark.parametrize("parameters, message", [
    ({"hidden_layer_sizes": (16, 0)}, r"hidden_layer_sizes must be positive integers.*got \(16, 0\)"),
    ({"hidden_layer_sizes": "16"}, r"hidden_layer_sizes must be positive integers"),
    ({"activation": "softmax"}, r"activation must be one of relu, sigmoid, logistic, tanh, leaky_relu, identity; got 'softmax'"),
    ({"solver": "lbfgs"}, r"solver must be one of adam, sgd; got 'lbfgs'"),
    ({"alpha": -1.0}, r"alpha must be a non-negative number; got -1.0"),
    ({"learning_rate_init": 0.0}, r"learning_rate_init must be positive; got 0.0"),
    ({"momentum": 1.0}, r"momentum must be in \[0, 1\); got 1.0"),
    ({"max_iter": 0}, r"max_iter must be a positive integer; got 0"),
    ({"batch_size": "big"}, r"batch_size must be a positive integer; got 'big'"),
    ({"early_stopping": True, "validation_fraction": 1.0}, r"validation_fraction must be in \(0, 1\); got 1.0"),
])
def test_bad_parameters_get_one_clear_error_at_fit(parameters, message):
    X, y = blobs(n=30)
    clf = small(**parameters)  # __init__ accepts anything, as scikit-learn requires
    with pytest.raises(ValueError, match=message):
        clf.fit(X, y)


def test_one_class_is_refused():
    X, _ = blobs(n=20)
    with pytest.raises(ValueError, match="at least 2 classes"):
        small().fit(X, np.zeros(20, dtype=int))


@pytest.mark.slow
def test_grid_search_on_mnist_scores_at_least_85_percent():
    mnist = dn.datasets.load("mnist")
    search = GridSearchCV(DigitNetClassifier(hidden_layer_sizes=(32,), max_iter=10, batch_size=32, random_state=0),
                          {"learning_rate_init": [1e-3, 3e-3]}, cv=3)
    search.fit(mnist.x_train[:6000], mnist.y_train[:6000])
    assert search.best_estimator_.network_.sizes == [784, 32, 10]
    assert search.score(mnist.x_test, mnist.y_test) >= 0.85
