"""The potential's formation-energy correction and E_hull uncertainty, fitted on compounds of known DFT energy.

A universal potential's formation energies are off from DFT by a systematic part (CHGNet's are too low
by about 0.15 eV/atom on average against the Materials Project values of the bundled ``flla`` set) and a
scatter. :func:`matloop.design.stability.validate_stability` subtracts the systematic part
(:class:`Correction`) and reports the scatter as ``e_hull_std``; both are fitted *once*, by
``benchmarks/stability.py --calibrate``, on a calibration sample that the stability benchmark then
leaves out of its evaluation, and shipped in ``design/data/stability_calibration.json`` with their
provenance. This module holds the pure-numpy parts (so they are tested without the potential):

- :class:`Correction`: predicted error of a formation energy, ``bias + sum_el x_el * c_el`` over the
  atomic fractions ``x_el`` (a per-element term is a shift of that element's reference energy, the way
  Materials Project fits its elemental corrections); ``kind`` ``none``, ``bias``, ``median`` or
  ``per_element``.
- :func:`fit_correction` and :func:`cross_validate`: the candidates, scored by out-of-fold MAE;
  :func:`choose_correction` takes the simplest within :data:`PARSIMONY` eV/atom of the best, a rule
  fixed before any evaluation compound is seen.
- :func:`fit_std`: the normal scale whose ``p_stable`` has the lowest Brier score on the calibration
  compounds (the stable/not truth against the out-of-fold corrected E_hull).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

#: candidate corrections in order of simplicity (ridge strength of the per-element ones, eV/atom scale)
CANDIDATES: tuple[tuple[str, float], ...] = (("none", 0.0), ("bias", 0.0), ("median", 0.0),
                                             ("per_element", 1.0), ("per_element", 0.1), ("per_element", 0.01))
#: a more complex correction must lower the out-of-fold MAE by more than this (eV/atom) to be chosen
PARSIMONY = 0.005
#: normal scales (eV/atom) tried for e_hull_std
STD_GRID = tuple(np.round(np.arange(0.02, 0.605, 0.005), 3))


@dataclass
class Correction:
    """Predicted error (potential minus DFT, eV/atom) of a formation energy: ``bias + sum x_el c_el``."""

    kind: str = "none"
    bias: float = 0.0
    per_element: dict[str, float] = field(default_factory=dict)
    alpha: float = 0.0

    def error(self, fractions: Mapping[str, float]) -> float:
        """The predicted error for a composition given as ``{element: amount}`` (normalised here)."""
        total = sum(float(a) for a in fractions.values())
        if self.kind == "none" or total <= 0:
            return 0.0
        return self.bias + sum(float(a) / total * self.per_element.get(str(el), 0.0) for el, a in fractions.items())

    def apply(self, formation_energy: float, fractions: Mapping[str, float]) -> float:
        """The corrected formation energy (the potential's minus its predicted error)."""
        return float(formation_energy) - self.error(fractions)

    def describe(self) -> str:
        """A few words for reasons and reports."""
        if self.kind == "none":
            return "no correction"
        if self.kind in ("bias", "median"):
            return f"{-self.bias:+.3f} eV/atom ({'mean' if self.kind == 'bias' else 'median'} calibration error)"
        return f"the potential's per-element error, fitted on compounds of known DFT energy ({len(self.per_element)} elements)"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "bias": round(self.bias, 5), "alpha": self.alpha,
                "per_element": {el: round(c, 5) for el, c in sorted(self.per_element.items())}}

    @classmethod
    def from_dict(cls, data: Mapping | None) -> Correction:
        """From :meth:`to_dict` (``None`` or an empty mapping: no correction)."""
        if not data:
            return cls()
        return cls(str(data.get("kind", "none")), float(data.get("bias", 0.0)),
                   {str(k): float(v) for k, v in dict(data.get("per_element", {})).items()}, float(data.get("alpha", 0.0)))


def _matrix(fractions: Sequence[Mapping[str, float]], elements: Sequence[str]) -> np.ndarray:
    index = {el: j for j, el in enumerate(elements)}
    X = np.zeros((len(fractions), len(elements)))
    for i, comp in enumerate(fractions):
        total = sum(float(a) for a in comp.values())
        for el, a in comp.items():
            if el in index:
                X[i, index[el]] = float(a) / total
    return X


def fit_correction(fractions: Sequence[Mapping[str, float]], errors: Sequence[float], kind: str,
                   alpha: float = 0.1) -> Correction:
    """Fit one candidate on compositions ``fractions`` with errors (potential minus DFT, eV/atom).
    ``per_element``: ridge regression of the error on the atomic fractions with an unpenalised mean."""
    y = np.asarray(errors, dtype=float)
    if kind not in ("none", "bias", "median", "per_element"):
        raise ValueError(f"correction kind {kind!r}: choose none, bias, median or per_element")
    if kind == "none" or y.size == 0:
        return Correction()
    if kind == "bias":
        return Correction("bias", float(y.mean()))
    if kind == "median":
        return Correction("median", float(np.median(y)))
    elements = sorted({str(el) for comp in fractions for el in comp})
    X = _matrix(fractions, elements)
    xm, ym = X.mean(axis=0), float(y.mean())
    Xc = X - xm
    coef = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(len(elements)), Xc.T @ (y - ym))
    bias = ym - float(xm @ coef)
    return Correction("per_element", bias, dict(zip(elements, (float(c) for c in coef), strict=True)), alpha)


def cross_validate(fractions: Sequence[Mapping[str, float]], errors: Sequence[float],
                   candidates: Sequence[tuple[str, float]] = CANDIDATES, folds: int = 5, seed: int = 0
                   ) -> dict[tuple[str, float], np.ndarray]:
    """Out-of-fold predicted errors of every candidate (same folds for all)."""
    y = np.asarray(errors, dtype=float)
    order = np.random.default_rng(seed).permutation(len(y))
    parts = np.array_split(order, max(2, min(folds, len(y))))
    out = {c: np.full(len(y), np.nan) for c in candidates}
    for test in parts:
        train = np.setdiff1d(order, test)
        for kind, alpha in candidates:
            corr = fit_correction([fractions[i] for i in train], y[train], kind, alpha)
            out[(kind, alpha)][test] = [corr.error(fractions[i]) for i in test]
    return out


def choose_correction(errors: Sequence[float], predicted: Mapping[tuple[str, float], np.ndarray],
                      parsimony: float = PARSIMONY) -> tuple[tuple[str, float], dict[str, float]]:
    """The simplest candidate (order of ``predicted``) whose out-of-fold MAE is within ``parsimony`` of
    the best, and every candidate's out-of-fold MAE (keys ``kind`` or ``kind:alpha``)."""
    y = np.asarray(errors, dtype=float)
    maes = {c: float(np.abs(y - p).mean()) for c, p in predicted.items()}
    best = min(maes.values())
    chosen = next(c for c in predicted if maes[c] <= best + parsimony)
    return chosen, {(k if k != "per_element" else f"{k}:{a:g}"): round(m, 5) for (k, a), m in maes.items()}


def p_stable(e_hull: np.ndarray, std: float, threshold: float) -> np.ndarray:
    """P(true E_hull < threshold) under a normal error of ``std`` (vectorised; 0 where E_hull is not finite)."""
    from scipy.special import erfc

    e = np.asarray(e_hull, dtype=float)
    finite = np.isfinite(e)
    return np.where(finite, 0.5 * erfc((np.where(finite, e, threshold) - threshold) / (std * math.sqrt(2))), 0.0)


def brier(p: np.ndarray, truth: np.ndarray) -> float:
    """Mean squared difference between probabilities and 0/1 outcomes."""
    return float(np.mean((np.asarray(p, dtype=float) - np.asarray(truth, dtype=float)) ** 2))


def fit_std(e_hull: Sequence[float], truth_stable: Sequence[bool], threshold: float,
            grid: Sequence[float] = STD_GRID) -> tuple[float, float]:
    """(std, Brier score): the normal scale on ``grid`` with the lowest Brier score of ``p_stable``."""
    e, t = np.asarray(e_hull, dtype=float), np.asarray(truth_stable, dtype=bool)
    scored = [(brier(p_stable(e, s, threshold), t), float(s)) for s in grid]
    score, std = min(scored)
    return std, score
