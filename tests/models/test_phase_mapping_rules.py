"""The projection start and the distinct-bases rule of the phase mapper's choice of K."""

from __future__ import annotations

import numpy as np

from matloop.models.phase_mapping import (
    DUPLICATE_CORRELATION,
    PhaseMapper,
    _shift_stack,
    basis_similarity,
    projection_start,
)


def _peaks(x, positions, width=0.01):
    return sum(np.exp(-4 * np.log(2) * ((x - p) / width) ** 2) for p in positions)


def test_projection_start_picks_the_pure_samples():
    x = np.linspace(0, 1, 400)
    bases = np.array([_peaks(x, [0.2, 0.5]), _peaks(x, [0.3, 0.7]), _peaks(x, [0.4, 0.9])])
    rng = np.random.default_rng(0)
    weights = rng.dirichlet([1, 1, 1], size=30)
    weights[[4, 11, 23]] = np.eye(3)  # one pure sample of each phase, hidden among mixtures
    picked = projection_start(weights @ bases, 3)
    assert sorted(picked) == [4, 11, 23]


def test_a_shifted_copy_is_a_duplicate_and_another_phase_is_not():
    x = np.linspace(0, 1, 400)
    shifts = np.arange(-6, 7)
    a = _peaks(x, [0.2, 0.5, 0.8])
    copy = _shift_stack(a[None, :], np.array([4]))[0, 0] * 0.7  # the same phase, moved by 4 bins, weaker
    other = _peaks(x, [0.3, 0.62, 0.9])
    assert basis_similarity(np.vstack([a, copy]), shifts) > DUPLICATE_CORRELATION
    assert basis_similarity(np.vstack([a, other]), shifts) < 0.5
    assert basis_similarity(a[None, :], shifts) == 0.0


def test_auto_never_keeps_a_k_with_duplicated_bases():
    mapper = PhaseMapper()
    mapper.cv_errors_ = {2: 0.5, 3: 0.10, 4: 0.08, 5: 0.07}
    mapper.basis_similarity_ = {2: 0.3, 3: 0.5, 4: 0.95, 5: 0.97}  # 4 and 5 split a phase in two
    assert mapper._pick_k() == 3
    mapper.basis_similarity_ = {2: 0.3, 3: 0.5, 4: 0.6, 5: 0.97}
    assert mapper._pick_k() == 4
    mapper.basis_similarity_ = {k: 0.99 for k in range(2, 6)}  # none distinct: the held-out rule alone
    assert mapper._pick_k() == 5
