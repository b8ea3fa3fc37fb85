"""The choice of K treats two components that coincide at a relative shift beyond the allowed one (but within
twice it) as one phase: a phase whose lattice changes by more than the allowed shift, split in two windows."""

from __future__ import annotations

import numpy as np
import pytest

import matloop.models.phase_mapping as pm
from matloop.models.phase_mapping import DUPLICATE_CORRELATION, PhaseMapper, basis_similarity


def _peaks(q, positions, heights, width=0.03):
    return sum(h * np.exp(-4 * np.log(2) * ((q - p) / width) ** 2) for p, h in zip(positions, heights, strict=True))


def _two_lattice_library(n: int = 40, seed: int = 0):
    """Phases A and B; A at one of two lattice parameters 3.5 % apart (beyond the ±2 % allowed below, within
    twice it), each with a small spread, mixed with B in random fractions."""
    rng = np.random.default_rng(seed)
    q = np.exp(np.linspace(np.log(1.5), np.log(4.0), 500))
    frac_a = rng.uniform(0.2, 1.0, n)
    scale = np.where(np.arange(n) % 2 == 0, 1.0, 1.035) * (1 + rng.uniform(-0.003, 0.003, n))
    X = np.array([f * _peaks(q, np.array([1.8, 2.6, 3.1, 3.6]) / s, [1.0, 0.6, 0.4, 0.3])
                  + (1 - f) * _peaks(q, [2.1, 2.9, 3.4], [1.0, 0.7, 0.5]) for f, s in zip(frac_a, scale, strict=True)])
    return q, X + rng.normal(0, 0.003, X.shape).clip(0), frac_a


def test_a_copy_shifted_beyond_the_window_is_a_duplicate_only_within_the_span():
    q = np.exp(np.linspace(np.log(1.5), np.log(4.0), 500))
    a = _peaks(q, [1.8, 2.6, 3.1, 3.6], [1.0, 0.6, 0.4, 0.3])
    window = np.arange(-10, 11)
    far = pm._shift_stack(a[None, :], np.array([16]))[0, 0]  # 1.6 windows away
    assert basis_similarity(np.vstack([a, far]), window) < DUPLICATE_CORRELATION
    span = np.arange(pm.DUPLICATE_SPAN * -10, pm.DUPLICATE_SPAN * 10 + 1)
    assert basis_similarity(np.vstack([a, far]), span) > DUPLICATE_CORRELATION


@pytest.mark.parametrize("span, expected", [(pm.DUPLICATE_SPAN, 2), (1, 3)])
def test_auto_merges_the_two_lattice_windows_of_one_phase(monkeypatch, span, expected):
    q, X, _ = _two_lattice_library()
    monkeypatch.setattr(pm, "DUPLICATE_SPAN", span)
    mapper = PhaseMapper(n_components="auto", max_shift=0.02, max_components=4, n_restarts=1, max_iter=200,
                         n_bootstrap=0).fit(X, q)
    assert mapper.n_components_ == expected, (mapper.cv_errors_, mapper.basis_similarity_)
    assert mapper.basis_similarity_[3] >= DUPLICATE_CORRELATION if span > 1 else mapper.basis_similarity_[3] < 0.9


def test_a_k_whose_full_fit_duplicates_a_phase_gives_way(monkeypatch):
    """The ranking fit of K = 4 looked distinct; its full fit splits a phase, so K = 3 is reported."""
    q = np.exp(np.linspace(np.log(1.5), np.log(4.0), 500))
    a = _peaks(q, [1.8, 2.6, 3.1], [1.0, 0.6, 0.4])
    bases = [a, _peaks(q, [2.1, 2.9], [1.0, 0.7]), _peaks(q, [2.4, 3.4], [1.0, 0.5]),
             pm._shift_stack(a[None, :], np.array([15]))[0, 0]]  # a again, 1.5 windows away
    mapper = PhaseMapper(max_shift=0.02)
    mapper.shifts_ = np.arange(-10, 11)
    mapper.cv_errors_ = {2: 0.5, 3: 0.1, 4: 0.05}
    mapper.basis_similarity_ = {2: 0.1, 3: 0.2, 4: 0.5}
    fitted = []

    def full_fit(X, K, shifts, rng):
        fitted.append(K)
        return np.array(bases[:K]), np.zeros((3, K * len(shifts))), 0.1

    monkeypatch.setattr(mapper, "_best_fit", full_fit)
    K, W, _, _ = mapper._fit_distinct(None, None)
    assert K == 3 and fitted == [4, 3] and len(W) == 3
    assert mapper.basis_similarity_[4] > DUPLICATE_CORRELATION
