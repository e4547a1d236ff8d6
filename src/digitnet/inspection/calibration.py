"""Calibration: do the probabilities a network prints mean what they say?

A network is calibrated when, of the answers it gives with confidence p (its top probability),
a fraction p is right. Trained networks are usually *over*confident: cross-entropy keeps pushing
the right output towards 1 after the answer is already right.

Reliability, measured. Answers are put into M = BINS equal-width bins B_m by confidence; acc(B_m)
is the fraction right in a bin, conf(B_m) its mean confidence. The expected calibration error
    ECE = Σ_m |B_m| / n · |acc(B_m) − conf(B_m)|
is the gap a reliability diagram shows (digitnet.inspection.plots.reliability_figure).

Temperature scaling (Guo et al., 2017). With z the output layer's weighted inputs (the logits,
z = W a + b before the softmax), the calibrated probabilities are
    p = softmax(z / T),   T > 0,
with T chosen to minimise the negative log-likelihood −(1/n) Σ log p_{y_i} on held-out validation
data (a golden-section search on log T). Dividing every logit by the same T never changes which
output is largest: the answers stay, only their confidence moves. Softmax networks only: a sigmoid
output (the video's network) has no distribution to rescale, so its T is 1 and its probabilities
stay Network.probabilities' shares of the outputs' sum.

"Unsure". An answer is marked unsure when its confidence is below a threshold chosen on the same
validation data: the highest t such that the validation answers below t are wrong at least
UNSURE_ERROR_RATE (half) of the time — an unsure answer is as likely wrong as right. Models saved
without a calibration record (older files, runs without validation) use T = 1 and
DEFAULT_UNSURE_BELOW.

The record, written at training time (digitnet.training.run.run_training calls `calibrate_network`
on its validation split) and kept in the model file's metadata:
    net.metadata["calibration"] = {"temperature": T, "unsure_below": t, "ece_before": …,
                                   "ece_after": …, "validation_size": n}
Shapes: X (n, n_in); Z, P (n, k); y (n,) integer labels.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from digitnet.activations import get_activation
from digitnet.network import Network

__all__ = [
    "BINS",
    "DEFAULT_UNSURE_BELOW",
    "UNSURE_ERROR_RATE",
    "calibrate_network",
    "calibrated_from",
    "calibrated_probabilities",
    "calibration_record",
    "expected_calibration_error",
    "fit_temperature",
    "logits",
    "output_logits",
    "reliability",
    "softmax_with_temperature",
    "temperature_of",
    "unsure_below",
    "unsure_threshold",
]

BINS = 15  # confidence bins of width 1/15, as in Guo et al.
DEFAULT_UNSURE_BELOW = 0.5  # without a calibration record: under 50% is unsure
UNSURE_ERROR_RATE = 0.5  # unsure answers are wrong at least this often on validation data
T_RANGE = (0.05, 20.0)  # temperatures searched


def logits(net: Network, X: ArrayLike) -> NDArray[np.floating]:
    """Z = W_last · a + b_last, the output layer's weighted inputs before its activation: (n, k)."""
    A = net.check_inputs(X)
    for layer in net.layers[:-1]:
        A = layer.forward(A)
    return output_logits(net, A)


def output_logits(net: Network, last_input: ArrayLike) -> NDArray[np.floating]:
    """Z = W_last · a + b_last from what the output layer reads, (n, sizes[-2]) -> (n, k)."""
    last = net.layers[-1]
    return np.asarray(last_input) @ last.weight.T + last.bias


def softmax_with_temperature(Z: ArrayLike, temperature: float) -> NDArray[np.floating]:
    """p = softmax(Z / T) row by row: (n, k) -> (n, k), rows sum to 1."""
    return get_activation("softmax").function(np.asarray(Z) / temperature)


def _nll(Z: NDArray, y: NDArray, temperature: float) -> float:
    """−(1/n) Σ log softmax(z_i / T)_{y_i}, computed stably (log-sum-exp)."""
    S = Z.astype(np.float64) / temperature
    S = S - S.max(axis=1, keepdims=True)
    log_p = S[np.arange(len(y)), y] - np.log(np.exp(S).sum(axis=1))
    return float(-log_p.mean())


def fit_temperature(Z: ArrayLike, y: ArrayLike) -> float:
    """T minimising the validation negative log-likelihood of softmax(Z / T): golden-section
    search on log T over T_RANGE (the likelihood is unimodal in log T)."""
    Z, y = np.asarray(Z), _labels(y, len(Z))
    low, high = math.log(T_RANGE[0]), math.log(T_RANGE[1])
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = _nll(Z, y, math.exp(a)), _nll(Z, y, math.exp(b))
    for _ in range(60):  # the bracket shrinks to 0.618⁶⁰ of log 400: far below any use
        if fa <= fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = _nll(Z, y, math.exp(a))
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = _nll(Z, y, math.exp(b))
    return float(math.exp((low + high) / 2))


def reliability(P: ArrayLike, y: ArrayLike, bins: int = BINS) -> dict[str, Any]:
    """Per confidence bin: edges (bins + 1,), count, accuracy and mean confidence (bins,);
    empty bins have accuracy and confidence NaN."""
    P = np.asarray(P)
    y = _labels(y, len(P))
    confidence = P.max(axis=1)  # (n,)
    right = P.argmax(axis=1) == y  # (n,)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)  # bin of each answer
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.bincount(which, weights=right, minlength=bins) / count
        mean_confidence = np.bincount(which, weights=confidence, minlength=bins) / count
    return {"edges": edges, "count": count, "accuracy": accuracy, "confidence": mean_confidence}


def expected_calibration_error(P: ArrayLike, y: ArrayLike, bins: int = BINS) -> float:
    """ECE = Σ_m |B_m| / n · |acc(B_m) − conf(B_m)| over `bins` equal-width confidence bins."""
    table = reliability(P, y, bins)
    used = table["count"] > 0
    gaps = np.abs(table["accuracy"][used] - table["confidence"][used])
    return float((table["count"][used] * gaps).sum() / table["count"].sum())


def unsure_threshold(P: ArrayLike, y: ArrayLike) -> float:
    """The highest confidence t such that the answers under t are wrong at least
    UNSURE_ERROR_RATE of the time (0 if no such set exists: nothing is marked unsure)."""
    P = np.asarray(P)
    y = _labels(y, len(P))
    confidence = P.max(axis=1)
    order = np.argsort(confidence, kind="stable")
    wrong = (P.argmax(axis=1) != y)[order]
    rate = np.cumsum(wrong) / np.arange(1, len(order) + 1)  # error rate of the k least confident
    ok = np.flatnonzero(rate >= UNSURE_ERROR_RATE)
    if ok.size == 0:
        return 0.0
    k = int(ok[-1]) + 1  # the k least confident answers are the unsure ones
    sorted_confidence = confidence[order]
    if k == len(order):
        return float(sorted_confidence[-1]) + 1e-6
    return float((sorted_confidence[k - 1] + sorted_confidence[k]) / 2)


def calibration_record(net: Network, X: ArrayLike, y: ArrayLike) -> dict[str, float]:
    """Fit the temperature (softmax networks) and the unsure threshold on validation data X, y."""
    y = _labels(y, len(np.asarray(X)))
    if net.output_activation == "softmax":
        Z = logits(net, X)
        before = softmax_with_temperature(Z, 1.0)
        temperature = fit_temperature(Z, y)
        after = softmax_with_temperature(Z, temperature)
    else:
        before = after = net.probabilities(X)
        temperature = 1.0
    return {
        "temperature": round(temperature, 6),
        "unsure_below": round(unsure_threshold(after, y), 6),
        "ece_before": round(expected_calibration_error(before, y), 6),
        "ece_after": round(expected_calibration_error(after, y), 6),
        "validation_size": int(len(y)),
    }


def calibrate_network(net: Network, validation: tuple[ArrayLike, ArrayLike] | None) -> None:
    """Store calibration_record(net, *validation) in net.metadata["calibration"] (nothing
    without validation data). Called at the end of training, before the model file is saved."""
    if validation is not None:
        net.metadata["calibration"] = calibration_record(net, *validation)


def _record(net: Network) -> dict[str, Any]:
    record = (getattr(net, "metadata", None) or {}).get("calibration")
    return record if isinstance(record, dict) else {}


def temperature_of(net: Network) -> float:
    """The stored temperature (softmax networks), else 1."""
    value = _record(net).get("temperature")
    ok = isinstance(value, (int, float)) and math.isfinite(value) and value > 0
    return float(value) if ok and net.output_activation == "softmax" else 1.0


def unsure_below(net: Network) -> float:
    """The stored unsure threshold, else DEFAULT_UNSURE_BELOW."""
    value = _record(net).get("unsure_below")
    ok = isinstance(value, (int, float)) and 0.0 <= value <= 1.0 + 1e-5
    return float(value) if ok else DEFAULT_UNSURE_BELOW


def calibrated_probabilities(net: Network, X: ArrayLike) -> NDArray[np.floating]:
    """What predict prints: softmax(z / T) with the stored T for a softmax network, else
    Network.probabilities (T = 1). (n, k), rows sum to 1."""
    temperature = temperature_of(net)
    if net.output_activation == "softmax" and temperature != 1.0:
        return softmax_with_temperature(logits(net, X), temperature)
    return net.probabilities(X)


def calibrated_from(net: Network, last_input: ArrayLike, output: ArrayLike) -> NDArray[np.floating]:
    """calibrated_probabilities from activations already computed: last_input is what the output
    layer reads, (n, sizes[-2]), and output its activations, (n, k). No forward pass."""
    temperature = temperature_of(net)
    if net.output_activation == "softmax" and temperature != 1.0:
        return softmax_with_temperature(output_logits(net, last_input), temperature)
    return net.shares(output)


def _labels(y: ArrayLike, n: int) -> NDArray[np.int64]:
    labels = np.asarray(y)
    if labels.shape != (n,) or labels.dtype.kind not in "iu":
        raise ValueError(f"y must be {n} integer labels, shape ({n},); got shape {labels.shape}, dtype {labels.dtype}")
    return labels.astype(np.int64)
