"""Optimizers: each update rule recomputed here with plain NumPy, schedules, state round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest

from digitnet.optimizers import (
    OPTIMIZERS,
    SGD,
    Adam,
    AdamW,
    Momentum,
    make_optimizer,
)
from digitnet.training.schedules import SCHEDULES, scheduled_learning_rate

STEPS = 3


def problem(seed=0):
    """A weight (2-D), a bias (1-D) and a gradient sequence for each."""
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=(4, 3)), rng.normal(size=4)]
    grads = [[rng.normal(size=(4, 3)), rng.normal(size=4)] for _ in range(STEPS)]
    return params, grads


def run(optimizer, params, grads):
    params = [p.copy() for p in params]
    for g in grads:
        optimizer.step(params, g)
    return params


def assert_params_close(got, want):
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-15)


def test_table_holds_every_optimizer():
    assert list(OPTIMIZERS) == ["sgd", "momentum", "adam", "adamw"]
    assert list(SCHEDULES) == ["constant", "step", "cosine"]


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_sgd(weight_decay):
    params, grads = problem()
    lr = 0.3
    want = [p.copy() for p in params]
    for g in grads:
        for i, (p, gi) in enumerate(zip(want, g)):
            decay = weight_decay * p if p.ndim >= 2 else 0.0  # weights only, not biases
            want[i] = p - lr * (gi + decay)
    assert_params_close(run(SGD(lr, weight_decay=weight_decay), params, grads), want)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum(nesterov, weight_decay):
    params, grads = problem(1)
    lr, mu = 0.1, 0.9
    want = [p.copy() for p in params]
    velocity = [np.zeros_like(p) for p in params]
    for g in grads:
        for i, (p, gi) in enumerate(zip(want, g)):
            d = gi + (weight_decay * p if p.ndim >= 2 else 0.0)
            velocity[i] = mu * velocity[i] + d
            step = d + mu * velocity[i] if nesterov else velocity[i]
            want[i] = p - lr * step
    got = run(Momentum(lr, momentum=mu, nesterov=nesterov, weight_decay=weight_decay), params, grads)
    assert_params_close(got, want)


def adam_reference(params, grads, lr, beta1, beta2, eps, coupled_decay, decoupled_decay):
    want = [p.copy() for p in params]
    m = [np.zeros_like(p) for p in params]
    s = [np.zeros_like(p) for p in params]
    for t, g in enumerate(grads, start=1):
        for i, (p, gi) in enumerate(zip(want, g)):
            is_weight = p.ndim >= 2
            if is_weight:
                gi = gi + coupled_decay * p
                p = p * (1 - lr * decoupled_decay)
            m[i] = beta1 * m[i] + (1 - beta1) * gi
            s[i] = beta2 * s[i] + (1 - beta2) * gi**2
            m_hat = m[i] / (1 - beta1**t)
            s_hat = s[i] / (1 - beta2**t)
            want[i] = p - lr * m_hat / (np.sqrt(s_hat) + eps)
    return want


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adam(weight_decay):
    params, grads = problem(2)
    want = adam_reference(params, grads, 0.01, 0.8, 0.99, 1e-3, weight_decay, 0.0)
    got = run(Adam(0.01, beta1=0.8, beta2=0.99, eps=1e-3, weight_decay=weight_decay), params, grads)
    # eps enters as √ŝ + ε = √s/√c₂ + ε in both: only rounding differs.
    assert_params_close(got, want)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adamw(weight_decay):
    params, grads = problem(3)
    want = adam_reference(params, grads, 0.01, 0.9, 0.999, 1e-8, 0.0, weight_decay)
    assert_params_close(run(AdamW(0.01, weight_decay=weight_decay), params, grads), want)


def test_adamw_default_weight_decay_is_torchs():
    assert AdamW(1e-3).weight_decay == 0.01


def test_first_adam_step_is_lr_times_sign():
    # With bias correction, step 1 moves every entry by ≈ η in the direction −sign(g).
    params = [np.zeros((2, 2)), np.zeros(2)]
    grads = [np.array([[3.0, -0.2], [1e-3, -50.0]]), np.array([0.7, -0.7])]
    Adam(0.1).step(params, grads)
    for p, g in zip(params, grads):
        np.testing.assert_allclose(p, -0.1 * np.sign(g), rtol=1e-5)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_step_updates_in_place_and_leaves_grads_alone(name):
    params, grads = problem(4)
    originals = [p.copy() for p in params]
    grads_before = [g.copy() for g in grads[0]]
    arrays = list(params)
    make_optimizer(name, 0.1, weight_decay=0.1).step(params, grads[0])
    assert all(a is p for a, p in zip(arrays, params))
    assert all(not np.array_equal(p, o) for p, o in zip(params, originals))
    for g, before in zip(grads[0], grads_before):
        np.testing.assert_array_equal(g, before)


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam", "adamw"])
def test_weight_decay_leaves_biases_alone(name):
    # With zero gradients only the decay acts: weights shrink, biases do not move.
    params = [np.ones((2, 3)), np.ones(2)]
    zeros = [np.zeros((2, 3)), np.zeros(2)]
    optimizer = make_optimizer(name, 0.1, weight_decay=0.5)
    optimizer.step(params, zeros)
    assert np.all(params[0] < 1.0)
    np.testing.assert_array_equal(params[1], 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_dtype_is_kept(name, dtype):
    params = [np.ones((2, 3), dtype), np.ones(2, dtype)]
    grads = [np.full((2, 3), 0.5, dtype), np.full(2, 0.5, dtype)]
    optimizer = make_optimizer(name, 0.1, weight_decay=0.1)
    optimizer.step(params, grads)
    assert all(p.dtype == dtype for p in params)
    assert all(buffer.dtype == dtype for buffers in optimizer.state.values() for buffer in buffers)


# ----------------------------------------------------------------- state round trip
OPTIONS = {
    "sgd": {},
    "momentum": {"momentum": 0.9, "nesterov": True},
    "adam": {},
    "adamw": {"weight_decay": 0.1},
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_state_dict_round_trip_continues_identically(name):
    rng = np.random.default_rng(5)
    params = [rng.normal(size=(4, 3)), rng.normal(size=4)]
    grads = [[rng.normal(size=(4, 3)), rng.normal(size=4)] for _ in range(6)]
    first = make_optimizer(name, 0.05, **OPTIONS[name])
    for g in grads[:3]:
        first.step(params, g)
    saved_state = first.state_dict()
    saved_params = [p.copy() for p in params]
    for g in grads[3:]:
        first.step(params, g)

    second = make_optimizer(name, 0.05, **OPTIONS[name])
    second.load_state_dict(saved_state)
    for g in grads[3:]:
        second.step(saved_params, g)
    assert second.t == first.t == 6
    for a, b in zip(params, saved_params):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_state_dict_is_a_snapshot(name):
    params = [np.ones((2, 2)), np.ones(2)]
    grads = [np.ones((2, 2)), np.ones(2)]
    optimizer = make_optimizer(name, 0.1)
    optimizer.step(params, grads)
    state = optimizer.state_dict()
    before = {key: value.copy() for key, value in state.items()}
    optimizer.step(params, grads)
    for key in before:
        np.testing.assert_array_equal(state[key], before[key], err_msg=key)


def test_state_dict_names():
    optimizer = Adam(0.1)
    optimizer.step([np.ones((2, 2)), np.ones(2)], [np.ones((2, 2)), np.ones(2)])
    assert sorted(optimizer.state_dict()) == ["m.0", "m.1", "s.0", "s.1", "t"]
    assert optimizer.state_dict()["t"][0] == 1


# ----------------------------------------------------------------- schedules
def test_constant_schedule():
    assert [scheduled_learning_rate("constant", 0.5, e, 10) for e in range(10)] == [0.5] * 10


def test_step_schedule():
    rates = [scheduled_learning_rate("step", 1.0, e, 30) for e in range(30)]
    assert rates[0] == rates[9] == 1.0
    assert rates[10] == rates[19] == 0.5
    assert rates[20] == rates[29] == 0.25
    assert scheduled_learning_rate("step", 1.0, 7, 30, step_size=3, gamma=0.1) == pytest.approx(0.01)


def test_cosine_schedule():
    base = 0.8
    assert scheduled_learning_rate("cosine", base, 0, 10) == base
    assert scheduled_learning_rate("cosine", base, 5, 10) == pytest.approx(base / 2)
    assert scheduled_learning_rate("cosine", base, 10, 10) == pytest.approx(0.0, abs=1e-15)
    assert scheduled_learning_rate("cosine", base, 5, 10, min_factor=0.1) == pytest.approx((base + 0.08) / 2)
    assert scheduled_learning_rate("cosine", base, 10, 10, min_factor=0.1) == pytest.approx(0.08)
    rates = [scheduled_learning_rate("cosine", base, e, 10) for e in range(11)]
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert rates[2] == pytest.approx(base * 0.5 * (1 + math.cos(math.pi * 0.2)))


# ----------------------------------------------------------------- bad arguments
def test_unknown_optimizer_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown optimizer 'rmsprop'; expected one of sgd, momentum, adam, adamw"):
        make_optimizer("rmsprop", 0.1)


def test_unknown_schedule_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown schedule 'linear'; expected one of constant, step, cosine"):
        scheduled_learning_rate("linear", 0.1, 0, 10)


def test_unknown_option_is_a_value_error():
    with pytest.raises(ValueError, match=r"bad option for optimizer 'sgd'.*momentum"):
        make_optimizer("sgd", 0.1, momentum=0.9)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("learning_rate", [0, -1, math.nan, math.inf, "0.1", None, True])
def test_bad_learning_rate(name, learning_rate):
    with pytest.raises(ValueError, match=r"learning_rate must be a positive number; got"):
        make_optimizer(name, learning_rate)


@pytest.mark.parametrize("weight_decay", [-0.1, math.nan])
def test_bad_weight_decay(weight_decay):
    with pytest.raises(ValueError, match=r"weight_decay must be a number ≥ 0; got"):
        make_optimizer("sgd", 0.1, weight_decay=weight_decay)


@pytest.mark.parametrize("momentum", [1.0, -0.1, 1.5, math.nan])
def test_bad_momentum(momentum):
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\); got"):
        Momentum(0.1, momentum=momentum)


@pytest.mark.parametrize("option", ["beta1", "beta2"])
def test_bad_betas(option):
    with pytest.raises(ValueError, match=rf"{option} must be in \[0, 1\); got 1.0"):
        Adam(0.1, **{option: 1.0})


def test_bad_eps():
    with pytest.raises(ValueError, match=r"eps must be a positive number; got 0"):
        Adam(0.1, eps=0)
