"""The fast multiplicative updates (Gram matrices, single precision, a floor against denormals) are the same
updates as the plain ones with an explicit reconstruction."""

from __future__ import annotations

import numpy as np

from matloop.models.phase_mapping import _factorise, _shift_stack


def _data(n=30, m=200, K=3, seed=0):
    rng = np.random.default_rng(seed)
    W = np.zeros((K, m))
    for k in range(K):
        W[k, rng.choice(m - 20, 4, replace=False) + 10] = rng.uniform(0.3, 1.0, 4)
    W = np.array([np.convolve(w, np.exp(-0.5 * (np.arange(-6, 7) / 2.0) ** 2), mode="same") for w in W])
    shifts = np.arange(-3, 4)
    H = rng.random((n, K * len(shifts))) * (rng.random((n, K * len(shifts))) < 0.2)
    return H @ _shift_stack(W, shifts).reshape(K * len(shifts), m), shifts


def test_gram_updates_equal_the_entrywise_ones():
    X, shifts = _data()
    start = X[:3] + 0.01
    fast = _factorise(X, 3, shifts, 40, np.random.default_rng(0), W=start)
    plain = _factorise(X, 3, shifts, 40, np.random.default_rng(0), mask=np.ones_like(X), W=start)
    for a, b in zip(fast, plain, strict=True):
        assert np.allclose(a, b, rtol=2e-3, atol=1e-6)


def test_bootstrap_weights_over_q_equal_the_same_weights_per_entry():
    X, shifts = _data(seed=1)
    W, H = _factorise(X, 3, shifts, 60, np.random.default_rng(0), W=X[:3] + 0.01)
    counts = np.bincount(np.random.default_rng(2).integers(0, X.shape[1], X.shape[1]), minlength=X.shape[1])
    _, by_q = _factorise(X, 3, shifts, 30, np.random.default_rng(0), mask=counts.astype(float), W=W, H=H,
                         update_w=False)
    _, by_entry = _factorise(X, 3, shifts, 30, np.random.default_rng(0), mask=np.broadcast_to(counts, X.shape) * 1.0,
                             W=W, H=H, update_w=False)
    assert np.allclose(by_q, by_entry, rtol=2e-3, atol=1e-6)


def test_fits_reconstruct_and_stay_above_the_floor():
    X, shifts = _data(seed=3)
    W, H = _factorise(X, 3, shifts, 300, np.random.default_rng(0), W=X[[0, 10, 20]] + 0.01)
    R = H @ _shift_stack(W, shifts).reshape(3 * len(shifts), -1)
    assert np.linalg.norm(X - R) / np.linalg.norm(X) < 0.1
    assert H.min() >= 1e-12 * 0.99 and W.min() >= 1e-12 * 0.99 and W.max() <= 1.0 + 1e-6
