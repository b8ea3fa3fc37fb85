"""Predictive distributions that are not a Gaussian around a point: normalised conformal residuals,
per band of the prediction, censored at the target's known bounds.

Why: a Gaussian ``N(pred, std^2)`` with one rescaled std is wrong in two common ways on materials
targets. Heavy tails (exfoliation energies, yield strengths): most errors are much smaller than the
std that the few large ones force, so the central intervals are too wide and the tails too narrow
(Matbench jdft2d: miscalibration area 0.33). Exact zeros (band gaps of metals): the truth sits on
the bound for a third of the rows, the Gaussian puts half its mass below zero (a ``lower_95`` of
-1.4 eV), and the error distribution near zero is one-sided (expt_gap: 0.28).

What: :class:`ResidualDistribution` learns the empirical distribution of the normalised
out-of-fold residuals ``z = (y - pred) / std`` (the scores of normalised conformal prediction,
Papadopoulos et al. 2008; CV+, Barber et al. 2021), signed so that skew is kept, separately in
bands of the predicted value ("Mondrian" conformal regression, Vovk et al. 2005; Bostroem &
Johansson 2020): errors next to a bound differ from errors far from it. A new point's distribution
is ``clip(pred + std * Z, lower, upper)`` with ``Z`` drawn from its band's scores, i.e. the
distribution censored at the bounds: the mass the residuals put below zero becomes an atom at zero
(a zero-inflated mixture learned from the data, with no separate classifier). Its quantiles, and so
every interval, stay inside the bounds.

:class:`PredictiveDistribution` holds those distributions for a batch of points (quantiles, CDF with
atoms, randomised PIT, log score); :mod:`matloop.evaluate.uncertainty_metrics` scores it.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr
from sklearn.base import BaseEstimator

__all__ = ["ResidualDistribution", "PredictiveDistribution", "detect_bounds", "clip_to_bounds", "check_bounds",
           "parse_bounds"]

_LOG_2PI = float(np.log(2 * np.pi))


def check_bounds(bounds: object) -> tuple[float | None, float | None]:
    """``(lower, upper)`` as floats or None; raises ValueError when they are not numbers or lower >= upper."""
    if bounds is None:
        return None, None
    try:
        lo, hi = bounds
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be a pair (lower, upper), either side None, got {bounds!r}") from None
    out = []
    for v in (lo, hi):
        if v is None:
            out.append(None)
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"bounds must be numbers or None, got {v!r}") from None
        if np.isnan(f):
            raise ValueError("bounds must not be NaN")
        out.append(None if np.isinf(f) else f)
    if out[0] is not None and out[1] is not None and out[0] >= out[1]:
        raise ValueError(f"the lower bound {out[0]} must lie below the upper bound {out[1]}")
    return out[0], out[1]


def parse_bounds(text: str) -> str | tuple[float | None, float | None] | None:
    """``"LO:HI"`` (either side empty: open) -> ``(lo, hi)``; ``"auto"`` and ``"none"`` as they are
    (``None``: no bounds, not even detected). Raises ValueError with what to write instead."""
    t = str(text).strip()
    if t.lower() in ("auto", "none"):
        return None if t.lower() == "none" else "auto"
    if t.count(":") != 1:
        raise ValueError(f"expected LO:HI with either side optional (e.g. 0: for a non-negative target, 0:1 for a "
                         f"fraction), auto or none; got {text!r}")
    lo, hi = (part.strip() for part in t.split(":"))
    try:
        pair = (float(lo) if lo else None, float(hi) if hi else None)
    except ValueError:
        raise ValueError(f"bounds must be numbers, got {text!r} (write e.g. 0: or 0:1)") from None
    if pair == (None, None):
        raise ValueError("give at least one bound (e.g. 0:), or none")
    return check_bounds(pair)


def detect_bounds(y: np.ndarray, bounds: object = "auto") -> tuple[float | None, float | None]:
    """The target's bounds: given ones checked against ``y``, or with ``"auto"`` a lower bound of 0
    when every training value is non-negative (band gaps, moduli, strengths, energies above hull)."""
    y = np.asarray(y, dtype=float)
    if isinstance(bounds, str):
        if bounds != "auto":
            raise ValueError(f"bounds must be 'auto', None or a pair (lower, upper), got {bounds!r}")
        return (0.0 if y.size and np.min(y) >= 0 else None), None
    lo, hi = check_bounds(bounds)
    outside = np.flatnonzero((y < (-np.inf if lo is None else lo)) | (y > (np.inf if hi is None else hi)))
    if outside.size:
        from matloop.errors import InputError, error_table

        span = f"{'' if lo is None else f'{lo:g}'}:{'' if hi is None else f'{hi:g}'}"
        records = [{"row": int(i) + 1, "column": "target", "value": float(y[i]),
                    "reason": f"outside the bounds {span}"} for i in outside]
        raise InputError(f"{outside.size} training target(s) lie outside the bounds {span}", error_table(records))
    return lo, hi


def clip_to_bounds(values: np.ndarray, bounds: tuple[float | None, float | None] | None) -> np.ndarray:
    """``values`` clipped to the bounds (either side None: open)."""
    if bounds is None or (bounds[0] is None and bounds[1] is None):
        return np.asarray(values, dtype=float)
    lo = -np.inf if bounds[0] is None else bounds[0]
    hi = np.inf if bounds[1] is None else bounds[1]
    return np.clip(np.asarray(values, dtype=float), lo, hi)


class ResidualDistribution(BaseEstimator):
    """Empirical distribution of normalised residuals ``(y - pred) / std``, per band of ``pred``.

    A training value on the lower bound (a metal's band gap of 0) says only that the latent residual
    was at most ``(lower - pred) / std``: it is a left-censored observation, and the band's
    distribution is the Kaplan-Meier estimate (Kaplan & Meier 1958) that treats it as one. Without
    that, pooling the residuals of a band would put the same share of zeros under every prediction
    of the band, too many for the larger ones and too few for the smaller ones.

    Parameters
    ----------
    n_bins : int or "auto"
        Bands of the predicted value, split at its quantiles. ``"auto"``: one per ``min_bin``
        residuals, at most 5.
    min_bin : int
        Fewest residuals in a band (smaller bands merge into a neighbour): a 95 % interval needs a
        few dozen per tail.
    tail_weight : float
        Share of a wide Gaussian (the band's root-mean-square score) mixed into the kernel density of
        :meth:`PredictiveDistribution.logpdf` only: a kernel density decays fast beyond the largest
        training error, and one new error beyond it would dominate the mean log score.

    Attributes
    ----------
    edges_ : ndarray
        Upper edges of the bands but the last (a prediction ``<= edges_[0]`` is in band 0, ...).
    scores_ : ndarray
        The sorted support of every band's distribution, concatenated; band ``b`` is
        ``scores_[offsets_[b]:offsets_[b+1]]`` (``-inf``: censored mass below every observed score).
    cumweights_ : ndarray
        The distribution function at each score (per band, ending at 1).
    offsets_ : ndarray
    bandwidths_ : ndarray
        Kernel bandwidth per band (Silverman's rule), for the density in :meth:`PredictiveDistribution.logpdf`.
    scale_floor_ : float
        Smallest std used (a zero std would make every score infinite).
    """

    def __init__(self, n_bins: int | str = "auto", min_bin: int = 400, tail_weight: float = 0.05):
        self.n_bins = n_bins
        self.min_bin = min_bin
        self.tail_weight = tail_weight

    def fit(self, pred: np.ndarray, std: np.ndarray, y: np.ndarray, lower: float | None = None
            ) -> ResidualDistribution:
        """Learn the scores from out-of-fold predictions ``pred``, their std and the truth ``y``;
        values ``y <= lower`` are left-censored (the target's lower bound)."""
        pred, std, y = (np.asarray(a, dtype=float).reshape(-1) for a in (pred, std, y))
        if not len(pred) == len(std) == len(y) or len(y) < 2:
            raise ValueError("pred, std and y need the same length, at least 2")
        if not (np.all(np.isfinite(pred)) and np.all(np.isfinite(std)) and np.all(np.isfinite(y))):
            raise ValueError("pred, std and y must be finite")
        positive = std[std > 0]
        self.scale_floor_ = float(np.quantile(positive, 0.01)) if len(positive) else 1.0
        z = (y - pred) / np.maximum(std, self.scale_floor_)
        censored = np.zeros(len(y), bool) if lower is None else y <= lower
        k = (max(1, min(5, len(y) // max(1, self.min_bin))) if self.n_bins == "auto" else int(self.n_bins))
        edges = np.unique(np.quantile(pred, np.arange(1, k) / k)) if k > 1 else np.empty(0)
        edges = self._merge_small(edges, pred)
        band = np.searchsorted(edges, pred, side="left")
        parts = [_left_censored_km(z[band == b], censored[band == b]) for b in range(len(edges) + 1)]
        self.edges_ = edges
        self.offsets_ = np.concatenate([[0], np.cumsum([len(p[0]) for p in parts])]).astype(np.int64)
        self.scores_ = np.concatenate([p[0] for p in parts])
        self.cumweights_ = np.concatenate([p[1] for p in parts])
        self.bandwidths_ = np.array([_silverman(z[band == b]) for b in range(len(edges) + 1)])
        self.tail_scales_ = np.array([max(float(np.sqrt(np.mean(z[band == b] ** 2))), h)
                                      for b, h in enumerate(self.bandwidths_)])
        return self

    def _merge_small(self, edges: np.ndarray, pred: np.ndarray) -> np.ndarray:
        edges = list(edges)
        while edges:
            counts = np.bincount(np.searchsorted(edges, pred, side="left"), minlength=len(edges) + 1)
            b = int(np.argmin(counts))
            if counts[b] >= min(self.min_bin, len(pred) // (len(edges) + 1)) and counts[b] > 0:
                break
            edges.pop(min(b, len(edges) - 1))  # merge band b with its right neighbour (the last: its left)
        return np.asarray(edges, dtype=float)

    def band(self, pred: np.ndarray) -> np.ndarray:
        """Band index of each prediction."""
        return np.searchsorted(self.edges_, np.asarray(pred, dtype=float), side="left")

    def distribution(self, pred: np.ndarray, std: np.ndarray,
                     bounds: tuple[float | None, float | None] | None = None) -> PredictiveDistribution:
        """The predictive distributions of points with predictions ``pred`` and std ``std``."""
        pred = np.asarray(pred, dtype=float).reshape(-1)
        scale = np.maximum(np.asarray(std, dtype=float).reshape(-1), self.scale_floor_)
        return PredictiveDistribution(pred, scale, self.band(pred), self.scores_, self.cumweights_, self.offsets_,
                                      self.bandwidths_, bounds, tails=(float(self.tail_weight), self.tail_scales_))


def _left_censored_km(z: np.ndarray, censored: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Support (ascending) and distribution function of ``Z`` from exact scores and left-censored
    ones (``Z <= z``): Kaplan-Meier on ``-Z``, where they are right-censored. Mass that no exact
    score below the smallest censored one can take sits at ``-inf`` (it lands on the bound)."""
    if not censored.any():
        s = np.sort(z)
        return s, np.arange(1, len(s) + 1) / len(s)
    w = -z
    order = np.lexsort((censored, w))  # by time; at a tie, events before censorings (the usual convention)
    w, cens = w[order], censored[order]
    at_risk = len(w) - np.arange(len(w))
    factors = np.where(cens, 1.0, 1.0 - 1.0 / at_risk)
    surv = np.cumprod(factors)
    mass = np.concatenate([[1.0], surv[:-1]]) - surv  # zero at censored rows
    events = ~cens
    support = -w[events][::-1]  # ascending in z
    weights = mass[events][::-1]
    if surv[-1] > 1e-12:  # censored beyond the largest event: unknown how low, on the bound
        support = np.concatenate([[-np.inf], support])
        weights = np.concatenate([[surv[-1]], weights])
    cum = np.cumsum(weights)
    return support, cum / cum[-1]


def _silverman(z: np.ndarray) -> float:
    """Silverman's bandwidth of the scores; exact hits (``z == 0``: a metal predicted 0) are atoms,
    left out of the spread so that they do not shrink the kernel to a spike."""
    z = z[z != 0] if np.count_nonzero(z) >= 2 else z
    if len(z) < 2:
        return 1.0
    iqr = np.subtract(*np.quantile(z, [0.75, 0.25]))
    spread = min(np.std(z), iqr / 1.349) if iqr > 0 else np.std(z)
    return float(max(0.9 * (spread or 1.0) * len(z) ** -0.2, 1e-3))


class PredictiveDistribution:
    """``clip(loc + scale * Z, lower, upper)`` per point, ``Z`` from the point's band of scores.

    Quantiles and the CDF are those of the weighted empirical scores, so the distribution has atoms:
    at the bounds (the censored mass) and, rarely, where scores tie. The density for :meth:`logpdf`
    smooths the scores with a Gaussian kernel.
    """

    def __init__(self, loc: np.ndarray, scale: np.ndarray, band: np.ndarray, scores: np.ndarray,
                 cumweights: np.ndarray, offsets: np.ndarray, bandwidths: np.ndarray,
                 bounds: tuple[float | None, float | None] | None, tails: tuple | None = None):
        self.loc, self.scale, self.band = loc, scale, band
        self.tail_weight, self.tail_scales = tails if tails is not None else (0.0, np.ones(len(offsets) - 1))
        self.scores, self.cumweights, self.offsets, self.bandwidths = scores, cumweights, offsets, bandwidths
        lo, hi = check_bounds(bounds)
        self.lower = -np.inf if lo is None else lo
        self.upper = np.inf if hi is None else hi

    def __len__(self) -> int:
        return len(self.loc)

    def _bands(self):
        for b in range(len(self.offsets) - 1):
            rows = np.flatnonzero(self.band == b)
            if len(rows):
                sl = slice(self.offsets[b], self.offsets[b + 1])
                cw = self.cumweights[sl]
                yield rows, self.scores[sl], cw, np.diff(cw, prepend=0.0), self.bandwidths[b], self.tail_scales[b]

    def ppf(self, q: float | np.ndarray) -> np.ndarray:
        """Quantiles: shape ``(n,)`` for a scalar ``q``, ``(n, len(q))`` for several."""
        qs = np.atleast_1d(np.asarray(q, dtype=float))
        if np.any((qs < 0) | (qs > 1)):
            raise ValueError("quantile levels must lie in [0, 1]")
        out = np.empty((len(self.loc), len(qs)))
        for rows, s, cw, _, _, _ in self._bands():
            idx = np.minimum(np.searchsorted(cw, qs - 1e-12, side="left"), len(s) - 1)  # smallest z, F(z) >= q
            with np.errstate(invalid="ignore"):
                out[rows] = self.loc[rows, None] + self.scale[rows, None] * s[idx][None, :]
        out = np.clip(np.nan_to_num(out, nan=self.lower, neginf=self.lower, posinf=self.upper), self.lower, self.upper)
        return out[:, 0] if np.ndim(q) == 0 else out

    def ppf_rows(self, levels: np.ndarray) -> np.ndarray:
        """One quantile per point, at its own level (a mixture such as
        :class:`~matloop.models.hurdle.HurdleDistribution` maps its levels onto this one's)."""
        return self._ppf_rows(np.asarray(levels, dtype=float).reshape(-1))

    def _ppf_rows(self, levels: np.ndarray) -> np.ndarray:
        """One quantile per point, at its own level."""
        out = np.empty(len(self.loc))
        for rows, s, cw, _, _, _ in self._bands():
            idx = np.minimum(np.searchsorted(cw, levels[rows] - 1e-12, side="left"), len(s) - 1)
            with np.errstate(invalid="ignore"):
                out[rows] = self.loc[rows] + self.scale[rows] * s[idx]
        return np.clip(np.nan_to_num(out, nan=self.lower, neginf=self.lower, posinf=self.upper), self.lower, self.upper)

    def interval(self, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Interval of probability ``confidence`` inside the bounds: the central one, except where its
        lower end falls on an atom (a metal's gap of 0 with more than ``(1 - confidence) / 2`` of the
        mass): then ``[lower, Q(F(lower-) + confidence)]``, which holds the whole atom and no more than
        ``confidence`` in all; the central interval there would hold more (0.98 for 0.95 on expt_gap)."""
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
        lq = (1 - confidence) / 2
        lower = self.ppf(lq)
        below = self.cdf_limits(lower)[0]  # F(lower-): < lq where the lower end sits on an atom
        upper = self._ppf_rows(np.minimum(below, lq) + confidence)
        return lower, upper

    def median(self) -> np.ndarray:
        return self.ppf(0.5)

    def cdf_limits(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(F(y-), F(y))`` per point: equal except at an atom (a bound, or tied scores)."""
        y = np.asarray(y, dtype=float).reshape(-1)
        left, right = np.empty(len(y)), np.empty(len(y))
        for rows, s, cw, _, _, _ in self._bands():
            z = (y[rows] - self.loc[rows]) / self.scale[rows]
            cw0 = np.concatenate([[0.0], cw])
            left[rows] = cw0[np.searchsorted(s, z, side="left")]
            right[rows] = cw0[np.searchsorted(s, z, side="right")]
        left = np.where(y <= self.lower, 0.0, np.where(y > self.upper, 1.0, left))
        right = np.where(y < self.lower, 0.0, np.where(y >= self.upper, 1.0, right))
        return left, right

    def logpdf(self, y: np.ndarray) -> np.ndarray:
        """Log score of each ``y``: the log kernel density inside the bounds, the log probability
        of the atom (the censored mass) at a bound. Lower ``-logpdf`` is better (the NLL)."""
        y = np.asarray(y, dtype=float).reshape(-1)
        out = np.empty(len(y))
        tw = self.tail_weight
        for rows, s, _, w, h, sd in self._bands():
            z = (y[rows] - self.loc[rows]) / self.scale[rows]
            step = max(1, 2_000_000 // len(s))
            for start in range(0, len(rows), step):
                r = rows[start:start + step]
                with np.errstate(invalid="ignore"):
                    d = np.nan_to_num((z[start:start + step, None] - s[None, :]) / h, nan=np.inf, posinf=np.inf, neginf=-np.inf)
                zr = z[start:start + step]
                kde = (np.exp(-0.5 * d**2) @ w) / h
                wide = np.exp(-0.5 * (zr / sd) ** 2) / sd
                out[r] = np.log((1 - tw) * kde + tw * wide + 1e-300) - 0.5 * _LOG_2PI - np.log(self.scale[r])
                at_lo, at_hi = y[r] <= self.lower, y[r] >= self.upper
                if at_lo.any():  # log P(Y <= lower) under the smoothed scores
                    p = (1 - tw) * (np.exp(log_ndtr(d[at_lo])) @ w) + tw * np.exp(log_ndtr(zr[at_lo] / sd))
                    out[r[at_lo]] = np.log(p + 1e-300)
                if at_hi.any():
                    p = (1 - tw) * (np.exp(log_ndtr(-d[at_hi])) @ w) + tw * np.exp(log_ndtr(-zr[at_hi] / sd))
                    out[r[at_hi]] = np.log(p + 1e-300)
        return out

    def mean(self) -> np.ndarray:
        """Expected value of the censored distribution."""
        out = np.empty(len(self.loc))
        for rows, s, _, w, _, _ in self._bands():
            step = max(1, 2_000_000 // len(s))
            for start in range(0, len(rows), step):
                r = rows[start:start + step]
                with np.errstate(invalid="ignore"):
                    v = self.loc[r, None] + self.scale[r, None] * s[None, :]
                v = np.clip(np.nan_to_num(v, nan=self.lower, neginf=self.lower), self.lower, self.upper)
                out[r] = v @ w
        return out

    def prob_at_lower(self) -> np.ndarray:
        """Probability of the atom at the lower bound (0 without one): e.g. P(band gap = 0)."""
        if not np.isfinite(self.lower):
            return np.zeros(len(self.loc))
        return self.cdf_limits(np.full(len(self.loc), self.lower))[1]
