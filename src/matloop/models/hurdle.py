"""A hurdle (two-part) model for targets with many exact zeros: band gaps of metals, solubilities
below detection, yields of failed syntheses.

Why: a regressor fitted to a target that is exactly 0 for a third to a half of the rows (Matbench
expt_gap: 48 %) has to average the metals' zeros with the semiconductors' gaps wherever the
features do not separate them cleanly; its mean lands between the two (a 0.4 eV "gap" for a
metal), and even the trees' median only partly fixes that. Splitting the question into "is it
zero?" (a classifier) and "how large, given that it is not?" (a regressor on the non-zero rows)
lets each part learn what it can (Cragg 1971, Econometrica 39, 829; zero-inflated/hurdle models).

What :class:`HurdleRegressor` predicts, for each point:

* ``p = P(y = zero)`` from a calibrated classifier
  (:class:`~matloop.models.classifiers.CalibratedForestClassifier`: isotonic or Platt calibration
  fitted on held-out folds, so ``p`` means what it says);
* the distribution of ``y`` given ``y > zero``: the regressor's prediction and std (extra trees on
  the non-zero rows), with the shape of its normalised *out-of-bag* residuals
  (:class:`~matloop.models.predictive.ResidualDistribution`, no extra fits), truncated at ``zero``;
* the mixture of the two, :class:`HurdleDistribution`: an atom ``p`` at zero and ``1 - p`` spread
  above it, with the same methods as :class:`~matloop.models.predictive.PredictiveDistribution`
  (quantiles, CDF with atoms, intervals, log score, ``prob_at_lower``);
* the point prediction is the mixture's **median**, the value that minimises the expected absolute
  error if both parts are right: ``zero`` where ``p >= 0.5``, else the non-zero part's quantile at
  ``(0.5 - p) / (1 - p)``; ``predict(X, return_std=True)`` gives it with the mixture's std. Or
  (``point="gate"``) ``zero`` where ``p >= 0.5``, else the regressor's own prediction: the median
  shifts every uncertain row towards zero by the non-zero part's spread, which helps where P(0) is
  right and costs on the gaps where it is not; on Matbench expt_gap neither point won on every fold
  (fitted alone on folds 0 and 1: median 0.3025 and 0.3135 eV, gate 0.2938 and 0.3297). AutoModel
  scores both from the same fit (variants ``hurdle`` and ``hurdle_gate``).

AutoModel offers it as a candidate only where the target has a lower bound that at least
``HURDLE_MIN_SHARE`` of the rows sit on exactly, and selects it by the same cross-validation as
every other candidate, so it is used only where it helps.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.model_selection import KFold
from sklearn.utils.validation import check_is_fitted

from matloop.models.base import check_features, check_target
from matloop.models.predictive import PredictiveDistribution, ResidualDistribution

__all__ = ["HurdleRegressor", "HurdleDistribution", "suits_hurdle", "HURDLE_MIN_SHARE"]

#: Fewest share of training rows exactly on the lower bound for AutoModel to try a hurdle model.
HURDLE_MIN_SHARE = 0.1
#: Fewest rows on each side (zero / non-zero) for the two parts to be learnable.
HURDLE_MIN_ROWS = 10
_MOMENT_LEVELS = (np.arange(64) + 0.5) / 64  # midpoint rule for the mixture's mean and std


def suits_hurdle(y: np.ndarray, lower: float | None) -> bool:
    """Whether a hurdle model is worth trying: a lower bound that at least ``HURDLE_MIN_SHARE`` of the
    rows (and ``HURDLE_MIN_ROWS``) sit on exactly, with at least ``HURDLE_MIN_ROWS`` rows above it."""
    if lower is None:
        return False
    y = np.asarray(y, dtype=float)
    at = int(np.count_nonzero(y == lower))
    return at >= max(HURDLE_MIN_ROWS, HURDLE_MIN_SHARE * len(y)) and len(y) - at >= HURDLE_MIN_ROWS


class HurdleDistribution:
    """Per point: an atom of probability ``p`` at ``zero`` and, with ``1 - p``, the non-zero part's
    distribution (``positive``, a :class:`PredictiveDistribution` without bounds) truncated to ``> zero``.

    Same interface as :class:`PredictiveDistribution` (``ppf``, ``interval``, ``cdf_limits``,
    ``logpdf``, ``mean``, ``median``, ``prob_at_lower``), so the same metrics and CLI columns apply.
    """

    def __init__(self, p_zero: np.ndarray, positive: PredictiveDistribution, zero: float = 0.0,
                 upper: float | None = None):
        self.p = np.clip(np.asarray(p_zero, dtype=float).reshape(-1), 0.0, 1.0)
        self.positive = positive
        self.lower = float(zero)
        self.upper = np.inf if upper is None else float(upper)
        # mass the untruncated non-zero part puts at or below zero: the step CDF (for quantiles) and
        # the kernel-smoothed one (to normalise the log density the same way it is computed)
        self._below = positive.cdf_limits(np.full(len(self.p), self.lower))[1]
        smooth = PredictiveDistribution(positive.loc, positive.scale, positive.band, positive.scores,
                                        positive.cumweights, positive.offsets, positive.bandwidths,
                                        (self.lower, None), tails=(positive.tail_weight, positive.tail_scales))
        self._below_smooth = np.exp(smooth.logpdf(np.full(len(self.p), self.lower)))

    def __len__(self) -> int:
        return len(self.p)

    def prob_at_lower(self) -> np.ndarray:
        """``P(y = zero)`` per point."""
        return self.p.copy()

    def ppf_rows(self, levels: np.ndarray) -> np.ndarray:
        """One quantile per point, at its own level."""
        u = np.asarray(levels, dtype=float).reshape(-1)
        v = np.clip((u - self.p) / np.maximum(1 - self.p, 1e-12), 0.0, 1.0)  # level in the non-zero part
        w = self._below + v * (1 - self._below)  # ... of the untruncated distribution
        q = self.positive.ppf_rows(np.clip(w, 0.0, 1.0))
        q = np.where(u <= self.p, self.lower, np.maximum(q, self.lower))
        return np.minimum(q, self.upper)

    def ppf(self, q: float | np.ndarray) -> np.ndarray:
        """Quantiles: shape ``(n,)`` for a scalar ``q``, ``(n, len(q))`` for several."""
        qs = np.atleast_1d(np.asarray(q, dtype=float))
        if np.any((qs < 0) | (qs > 1)):
            raise ValueError("quantile levels must lie in [0, 1]")
        out = np.column_stack([self.ppf_rows(np.full(len(self.p), level)) for level in qs])
        return out[:, 0] if np.ndim(q) == 0 else out

    def median(self) -> np.ndarray:
        return self.ppf(0.5)

    def cdf_limits(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(F(y-), F(y))`` per point; they differ by ``p`` at ``zero``."""
        y = np.asarray(y, dtype=float).reshape(-1)
        left, right = self.positive.cdf_limits(y)
        spread = np.maximum(1 - self._below, 1e-12)
        g_left = np.clip((left - self._below) / spread, 0.0, 1.0)
        g_right = np.clip((right - self._below) / spread, 0.0, 1.0)
        above = y > self.lower
        left = np.where(above, self.p + (1 - self.p) * g_left, 0.0)
        right = np.where(above, self.p + (1 - self.p) * g_right, np.where(y == self.lower, self.p, 0.0))
        right = np.where(y >= self.upper, 1.0, right)
        return left, right

    def interval(self, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`PredictiveDistribution.interval`: central, or ``[zero, Q(confidence)]`` where the
        lower end sits on the atom (``p > (1 - confidence) / 2``)."""
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
        lq = (1 - confidence) / 2
        lower = self.ppf(lq)
        below = self.cdf_limits(lower)[0]
        return lower, self.ppf_rows(np.minimum(below, lq) + confidence)

    def logpdf(self, y: np.ndarray) -> np.ndarray:
        """``log p`` at zero; ``log(1 - p)`` plus the non-zero part's log density (renormalised to
        ``> zero``) above it; ``-inf`` below zero."""
        y = np.asarray(y, dtype=float).reshape(-1)
        with np.errstate(divide="ignore"):
            dens = (np.log(np.maximum(1 - self.p, 1e-300)) + self.positive.logpdf(y)
                    - np.log(np.maximum(1 - self._below_smooth, 1e-300)))
            return np.where(y > self.lower, dens, np.where(y == self.lower, np.log(np.maximum(self.p, 1e-300)),
                                                           -np.inf))

    def _moments(self) -> tuple[np.ndarray, np.ndarray]:
        q = np.column_stack([self.ppf_rows(np.full(len(self.p), u)) for u in _MOMENT_LEVELS])
        mean = q.mean(axis=1)
        return mean, np.sqrt(np.maximum(np.mean(q**2, axis=1) - mean**2, 0.0))

    def mean(self) -> np.ndarray:
        return self._moments()[0]

    def std(self) -> np.ndarray:
        return self._moments()[1]


class HurdleRegressor(RegressorMixin, BaseEstimator):
    """P(y = zero) from a calibrated classifier, a regressor for the rest, their mixture's median.

    Parameters
    ----------
    classifier : classifier or None
        Predicts whether ``y == zero`` (``predict_proba``, class 1 = on zero). Default:
        :class:`~matloop.models.classifiers.CalibratedForestClassifier` (200 trees, 3 calibration folds).
    regressor : regressor or None
        Fitted on the rows with ``y > zero``; needs ``predict(X, return_std=True)``. Default: extra
        trees (200, half the features per split, tree median as its point, out-of-bag noise term),
        AutoModel's strongest candidate on band gaps. A matloop forest's out-of-bag predictions
        calibrate the shape of the non-zero part for free; any other regressor is cross-validated
        (``cv`` folds) for it.
    zero : float
        The value that is hit exactly (a lower bound; every target must be ``>= zero``).
    point : {"mixture", "gate"}
        The point prediction: the mixture's median, or the gate (see the module docstring).
    cv : int
        Folds for those residuals when the regressor has no out-of-bag predictions.
    random_state : int or None
    n_jobs : int or None
        Threads for the default classifier's and regressor's trees.

    Attributes
    ----------
    classifier_ : fitted classifier, or None when fewer than 2 rows were zero or non-zero
        (then ``zero_share_`` is used as ``p`` everywhere).
    regressor_ : fitted regressor (on the non-zero rows)
    residuals_ : ResidualDistribution
        Normalised held-out residuals of the regressor on the non-zero rows.
    zero_share_ : float
        Share of training rows on zero.
    """

    #: the other point AutoModel scores from the same fit (as the tree median of a forest)
    ALTERNATIVE_POINTS = ("gate",)

    def __init__(self, classifier=None, regressor=None, zero: float = 0.0, point: str = "mixture", cv: int = 3,
                 random_state: int | None = 0, n_jobs: int | None = 1):
        self.classifier = classifier
        self.regressor = regressor
        self.zero = zero
        self.point = point
        self.cv = cv
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _default_parts(self):
        from matloop.models.classifiers import CalibratedForestClassifier
        from matloop.models.forest import ExtraTreesRegressor

        clf = self.classifier if self.classifier is not None else CalibratedForestClassifier(
            n_estimators=200, cv=3, random_state=self.random_state, n_jobs=self.n_jobs)
        reg = self.regressor if self.regressor is not None else ExtraTreesRegressor(
            n_estimators=200, max_features=0.5, noise="oob", point="median", random_state=self.random_state,
            n_jobs=self.n_jobs)
        return clone(clf), clone(reg)

    def fit(self, X, y) -> HurdleRegressor:
        """Fit the classifier on ``y == zero`` and the regressor on the other rows."""
        X = check_features(self, X, reset=True)
        y = check_target(y, X.shape[0])
        if self.point not in ("mixture", "gate"):
            raise ValueError(f"point must be 'mixture' or 'gate', got {self.point!r}")
        zero = float(self.zero)
        if np.any(y < zero):
            raise ValueError(f"HurdleRegressor needs every target >= zero ({zero:g}); "
                             f"{int(np.sum(y < zero))} are below it")
        at = y == zero
        if np.count_nonzero(~at) < 2:
            raise ValueError(f"HurdleRegressor needs at least 2 targets above {zero:g}, got {int(np.sum(~at))}")
        clf, reg = self._default_parts()
        self.zero_share_ = float(at.mean())
        self.p_floor_ = 0.5 / len(y)
        self.classifier_ = None
        if min(np.count_nonzero(at), np.count_nonzero(~at)) >= 2:
            self.classifier_ = clf.fit(X, at.astype(int))
        self.regressor_ = reg.fit(X[~at], y[~at])
        pred, std = self._held_out(X[~at], y[~at])
        self.residuals_ = ResidualDistribution().fit(pred, std, y[~at])
        return self

    def _held_out(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Held-out prediction and std of the regressor at its own training rows: out-of-bag for a
        matloop forest (no refits), else ``cv``-fold cross-validation."""
        forest = self.regressor_
        if hasattr(forest, "inbag_counts_") and hasattr(forest, "_tree_predictions"):
            Xc = forest.cleaner_._transform_array(X)
            trees = forest._tree_predictions(Xc)
            oob = forest.inbag_counts_ == 0
            full, _ = forest.predict(X, return_std=True)
            masked = np.where(oob, trees, np.nan)
            has = oob.any(axis=0)
            with np.errstate(all="ignore"):
                held = np.nanmedian(masked[:, has], axis=0) if forest.point == "median" else np.nanmean(
                    masked[:, has], axis=0)
            pred = full.copy()
            pred[has] = held
            var = forest._variance(trees, exclude=np.arange(len(y))) + forest._noise_variance(Xc)
            return pred, np.sqrt(var)
        k = int(max(2, min(self.cv, len(y) // 2)))
        pred, std = np.empty(len(y)), np.empty(len(y))
        for tr, te in KFold(k, shuffle=True, random_state=self.random_state).split(X):
            pred[te], std[te] = clone(self.regressor_).fit(X[tr], y[tr]).predict(X[te], return_std=True)
        return pred, std

    def predict_proba_zero(self, X) -> np.ndarray:
        """``P(y = zero)`` per row."""
        check_is_fitted(self)
        X = check_features(self, X, reset=False)
        return self._p_zero(X)

    def _p_zero(self, X: np.ndarray) -> np.ndarray:
        if self.classifier_ is None:
            return np.full(len(X), self.zero_share_)
        proba = self.classifier_.predict_proba(X)[:, list(self.classifier_.classes_).index(1)]
        # isotonic calibration gives exact 0 and 1 where its held-out folds were pure; no finite sample
        # supports a certainty, and one wrong certainty would make the log score infinite
        return np.clip(proba, self.p_floor_, 1 - self.p_floor_)

    def predict_distribution(self, X) -> HurdleDistribution:
        """The mixture per row (:class:`HurdleDistribution`)."""
        check_is_fitted(self)
        X = check_features(self, X, reset=False)
        mean, std = self.regressor_.predict(X, return_std=True)
        positive = self.residuals_.distribution(mean, std)
        return HurdleDistribution(self._p_zero(X), positive, zero=float(self.zero))

    def predict(self, X, return_std: bool = False):
        """The point (``point``: the mixture's median, or the gate), optionally with the mixture's std."""
        dist = self.predict_distribution(X)
        if self.point == "gate":
            point = np.where(dist.p >= 0.5, float(self.zero), np.maximum(dist.positive.loc, float(self.zero)))
        else:
            point = dist.median()
        return (point, dist.std()) if return_std else point

    def predict_interval(self, X, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
        """``1 - alpha`` interval of the mixture (its lower end on zero where the atom is large)."""
        return self.predict_distribution(X).interval(1 - alpha)

    def predict_quantiles(self, X, quantiles) -> np.ndarray:
        """Predictive quantiles, shape ``(n, len(quantiles))``."""
        return self.predict_distribution(X).ppf(np.atleast_1d(quantiles))
