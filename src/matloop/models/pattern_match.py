"""Search-match classification of diffraction patterns: the nearest reference pattern of each class,
tolerant to peak shifts, with calibrated probabilities.

A crystallographer identifies a phase by laying the measured pattern over reference patterns and
allowing for a small lattice strain. :class:`PatternMatchClassifier` does that with the training
patterns as references (after the *search-match* step of conventional phase identification, and
the similarity measures of de Gelder et al., J. Comput. Chem. 22, 273 (2001)):

- each processed curve (the ``I(2θ=...)`` columns of
  :class:`~matloop.represent.pattern_features.PatternFeatureSet`) is square-rooted (weak peaks count,
  as a crystallographer's eye weighs them; texture changes strong-peak ratios most), broadened by a
  Gaussian of ``broadening`` (degrees 2θ; nearby peaks overlap instead of missing by one grid point)
  and scaled to unit length;
- the similarity of a pattern to a reference is the largest cosine over ``n_shifts`` uniform lattice
  strains in ``[-strain, strain]`` (every peak moves by the same relative change of ``sin θ``, as
  :func:`matloop.represent.diffraction_sim.augment` shifts them);
- a class's score is the similarity of its nearest reference; its logit is ``-log(1 - s)`` (the
  log of the inverse distance, so probabilities are inverse-distance weights ``d_c^(-1/T)``);
  a class without a reference scores ``s = 0``;
- one temperature ``T`` (Guo et al. 2017) is fitted on leave-one-out scores of the training patterns
  (each scored against all the others: exact and cheap for a nearest-neighbour model), which are
  also ``oof_proba_``.

Why: on the Oviedo et al. (2019) thin-film patterns the rare space groups have 1-4 examples; a
network or forest hardly learns a class from 3 patterns, but one close reference identifies it
(``benchmarks/results/diffraction.md``, session 9). NumPy only, no PyTorch; the model keeps its
references as arrays, so it saves and loads without pickle.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from matloop.models.curve_input import CurveInputMixin

__all__ = ["PatternMatchClassifier"]

#: queries compared at once (bounds memory: n_shifts x CHUNK x grid points)
CHUNK = 256


class PatternMatchClassifier(CurveInputMixin, ClassifierMixin, BaseEstimator):
    """Nearest shift-tolerant reference pattern per class, temperature-calibrated (see the module docs).

    Parameters
    ----------
    broadening : float
        Gaussian σ in degrees 2θ applied before comparing (converted at the grid's centre on a Q grid;
        on data without a grid, taken as grid points / 25 of the 0.04° default step).
    power : float
        Intensities are raised to this power first (0.5: square root).
    strain : float
        Largest |ε| of the uniform lattice strain tried (peaks move by up to this relative change of d).
    n_shifts : int
        Strains tried, evenly spaced in ``[-strain, strain]`` (odd numbers include 0).

    Attributes
    ----------
    classes_, references_ (the prepared training curves), reference_target_ (their class indices),
    temperature_, oof_proba_ (leave-one-out calibrated probabilities of the training rows), columns_.
    """

    def __init__(self, broadening: float = 0.1, power: float = 0.5, strain: float = 0.015, n_shifts: int = 13):
        self.broadening, self.power, self.strain, self.n_shifts = broadening, power, strain, n_shifts

    def _sigma_points(self, grid) -> float:
        if grid is None:
            return float(self.broadening) / 0.04
        if grid.unit == "q":  # dQ = (4π/λ) cos θ dθ at the grid's centre
            from matloop.io.patterns import CU_KALPHA1
            from matloop.represent.diffraction import q_to_two_theta

            theta = np.radians(float(q_to_two_theta(np.mean(grid.points), CU_KALPHA1))) / 2
            return float(self.broadening) * np.pi / 360 * 4 * np.pi / CU_KALPHA1 * np.cos(theta) / grid.step
        return float(self.broadening) / grid.step

    def _prepare(self, Y: np.ndarray) -> np.ndarray:
        from scipy.ndimage import gaussian_filter1d

        Z = np.clip(Y, 0, None) ** float(self.power)
        sigma = self._sigma_points(self._grid())
        return gaussian_filter1d(Z, sigma, axis=1, mode="constant") if sigma > 0.3 else Z

    def _origins(self) -> np.ndarray | None:
        """(n_shifts, grid points): where each strained copy samples the original."""
        from matloop.represent.diffraction_sim import _shift_axis

        grid = self._grid()
        if grid is None or not self.strain or int(self.n_shifts) < 2:
            return None
        strains = np.linspace(-float(self.strain), float(self.strain), int(self.n_shifts))[:, None]
        return _shift_axis(self._axis(), grid, strains)

    def _axis(self) -> np.ndarray:
        """The grid's x values, one per curve column."""
        start, _, step, _ = self.grid_
        return float(start) + float(step) * np.arange(len(self.columns_))

    @staticmethod
    def _unit(A: np.ndarray) -> np.ndarray:
        return A / np.maximum(np.linalg.norm(A, axis=-1, keepdims=True), 1e-12)

    def _similarity(self, Z: np.ndarray, references: np.ndarray) -> np.ndarray:
        """(queries, references): largest cosine over the strains tried."""
        R = self._unit(references)
        origins = self._origins()
        out = np.empty((len(Z), len(R)))
        for lo in range(0, len(Z), CHUNK):
            part = Z[lo:lo + CHUNK]
            if origins is None:
                out[lo:lo + CHUNK] = self._unit(part) @ R.T
                continue
            x = self._axis()
            best = np.full((len(part), len(R)), -np.inf)
            for origin in origins:
                best = np.maximum(best, self._unit(_interp_rows(origin, x, part)) @ R.T)
            out[lo:lo + CHUNK] = best
        return out

    def _logits(self, similarity: np.ndarray, reference_target: np.ndarray) -> np.ndarray:
        """-log(1 - s) of each class's nearest reference (s = 0 for a class without one)."""
        best = np.zeros((len(similarity), len(self.classes_)))
        for c in range(len(self.classes_)):
            mask = reference_target == c
            if mask.any():
                best[:, c] = np.clip(similarity[:, mask].max(axis=1), 0.0, None)
        return -np.log(np.clip(1.0 - best, 1e-6, None))

    # ------------------------------------------------------------------ fit / predict
    def fit(self, X, y) -> PatternMatchClassifier:
        """Keep the prepared training curves as references; fit the temperature on leave-one-out scores."""
        from matloop.models.diffraction_cnn import _softmax, fit_temperature

        Z = self._prepare(self._select(X, fit=True))
        self.classes_, target = np.unique(np.asarray(y), return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"needs at least 2 classes; the target has only {self.classes_.tolist()}")
        sim = self._similarity(Z, Z)
        np.fill_diagonal(sim, -1.0)  # each pattern scored against the others only
        logits = self._logits(sim, target)
        self.temperature_ = fit_temperature(logits, target)
        self.oof_proba_ = _softmax(logits / self.temperature_)
        self.references_, self.reference_target_ = Z, target.astype(np.int64)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated class probabilities: softmax of the nearest references' ``-log(1 - s)`` over ``T``."""
        from matloop.models.diffraction_cnn import _softmax

        check_is_fitted(self, "references_")
        sim = self._similarity(self._prepare(self._select(X)), self.references_)
        return _softmax(self._logits(sim, self.reference_target_) / self.temperature_)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def nearest(self, X) -> np.ndarray:
        """Index (into the training rows) of each pattern's most similar reference, for reports."""
        check_is_fitted(self, "references_")
        return np.argmax(self._similarity(self._prepare(self._select(X)), self.references_), axis=1)


def _interp_rows(points: np.ndarray, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``np.interp(points, x, row, left=0, right=0)`` for every row at once (x increasing)."""
    i = np.clip(np.searchsorted(x, points, side="right") - 1, 0, len(x) - 2)
    w = (points - x[i]) / (x[i + 1] - x[i])
    out = rows[:, i] * (1.0 - w) + rows[:, i + 1] * w
    out[:, (points < x[0]) | (points > x[-1])] = 0.0
    return out
