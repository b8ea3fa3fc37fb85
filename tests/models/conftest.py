"""Shared data and settings for the model tests: small generated problems, one thread each."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_friedman1
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="module")
def _single_threaded():
    """BLAS/OpenMP on one thread: the suite shares a few cores, oversubscription only slows it."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def friedman():
    """Friedman #1 (5 informative + 5 noise features, noise std 1): 300 training, 1,000 test rows."""
    X, y = make_friedman1(n_samples=1300, n_features=10, noise=1.0, random_state=0)
    columns = [f"x{j}" for j in range(X.shape[1])]
    X = pd.DataFrame(X, columns=columns)
    return X.iloc[:300], y[:300], X.iloc[300:], y[300:]


@pytest.fixture(scope="session")
def small_friedman():
    """A smaller Friedman #1 set (120 training, 300 test rows) for the slower models."""
    X, y = make_friedman1(n_samples=420, n_features=8, noise=0.5, random_state=1)
    return X[:120], y[:120], X[120:], y[120:]


@pytest.fixture(scope="session")
def coverage():
    """Fraction of ``y`` inside the central 95% Gaussian interval ``mean +- 1.96 std``."""

    def fraction_inside(y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> float:
        return float(np.mean(np.abs(y - mean) <= 1.959964 * std))

    return fraction_inside
