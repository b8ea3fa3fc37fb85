"""AutoModel: the default estimator. Chooses features and models by cross-validation, within a time
budget, and ensembles the best, with calibrated uncertainty.

How it fits (``X`` numeric features, small data in mind):

1. **Features.** Median-impute, drop constant columns, then drop near-duplicates (|Spearman| >
   ``redundancy``, keeping the one a quick forest finds more important): a cheap, stable cousin of
   MODNet's relevance-redundancy selection that matters for small data, where redundant copies
   dilute a forest's split choices. Models see the same selected columns.
2. **Candidates.** Random forest and extra trees with jackknife variance, a bootstrap ensemble of
   gradient-boosted trees, and a Gaussian process (only up to ``gp_max_rows`` rows: beyond that an
   exact GP costs too much and, on composition data, loses to the trees anyway). Each is scored by
   ``cv``-fold cross-validation (3 folds above 1,000 rows; up to 1,000 rows repeated with a second
   shuffle, so that one split's luck does not pick the ensemble); out-of-fold predictions are kept.
   Candidates whose projected time would exceed ``time_budget`` are skipped. Two variants come
   almost free and often win on materials targets: the forests' tree *median* as the point
   prediction (``point="median"``: the MAE-optimal point when trees disagree asymmetrically, as
   next to the many exact zeros of metals' band gaps: Matbench expt_gap fold-0 MAE 0.305 vs 0.337
   eV), and, for a positive right-skewed target, the models on ``log(y)`` (jdft2d 31 vs 37).
   Where at least 10 % of the rows sit exactly on the lower bound (metals' band gaps of 0), the
   hurdle model (:class:`~matloop.models.hurdle.HurdleRegressor`: a calibrated classifier's
   P(zero) and extra trees on the other rows, its mixture's median as the point, and from the same
   fit the variant ``hurdle_gate``: 0 where P(zero) >= 0.5, else the regressor's prediction) is a
   candidate too, scored like the rest (Matbench expt_gap, 5 official folds: chosen on 4 with weight
   0.05-0.25; MAE 0.2934 against 0.2928 without it, +0.0006 +- 0.0017, i.e. unchanged; NLL 0.578
   against 0.596, better or equal on every fold; benchmarks/results/matbench_hurdle.md).
   Hyper-parameters are candidates too: extra trees on only the 30 or 60 most important features
   (:class:`~matloop.models.feature_selection.TopFeatures`, ranked inside every fit, so the
   feature count is chosen by nested CV), the relevance selection that small data needs
   (Matbench, official folds: steels 81.5 MPa with these candidates, 84.7 without; jdft2d 41.0
   against 42.2 meV/atom).
3. **Ensemble.** Greedy forward selection with replacement on the out-of-fold predictions
   (Caruana et al. 2004, ICML) minimising MAE: weights are how often each model is chosen. The
   ensemble std combines each member's variance with the members' disagreement, then is rescaled
   by the factor that makes the out-of-fold z-scores unit-variance (Palmer et al. 2022).
4. **Refit** every candidate on all rows (so :meth:`member_predictions` can report single models).
5. **Predictive distribution** (:mod:`matloop.models.predictive`): the signed out-of-fold residuals,
   normalised by that std, per band of the prediction, censored at the target's bounds (``bounds``:
   detected 0 for a non-negative target). :meth:`predict_interval` and :meth:`predict_quantiles` use
   it (skewed, heavy-tailed, an atom at zero for metals' band gaps); ``predict(X, return_std=True)``
   still gives the mean and the rescaled std. Points and intervals stay inside the bounds.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.model_selection import KFold
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from matloop import progress
from matloop.models.autoclassifier import AutoClassifier  # noqa: F401  (re-exported: it used to live here)
from matloop.models.base import check_features, check_target
from matloop.models.feature_selection import rank_features
from matloop.models.hurdle import HurdleRegressor, suits_hurdle
from matloop.models.predictive import ResidualDistribution, clip_to_bounds, detect_bounds
from matloop.models.preprocessing import FeatureCleaner
from matloop.models.target_transform import LogTargetRegressor, suits_log_target


def _forest_of(model):
    """The forest inside a model and its wrappers (log target, feature selection), or None."""
    while model is not None and hasattr(model, "get_params"):
        if "point" in model.get_params(deep=False):
            return model
        model = getattr(model, "estimator_", getattr(model, "estimator", None))
    return None


def _point_estimates(est) -> list[str | None]:
    """Point predictions one fitted candidate yields: its own, and the tree median for forests (the gate
    for the hurdle model: its ``ALTERNATIVE_POINTS``)."""
    inner = _forest_of(est)
    return [None] if inner is None else [None, *getattr(inner, "ALTERNATIVE_POINTS", ("median",))]


def _predict_at(model, point: str | None, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``predict(X, return_std=True)`` with the forest's point estimate temporarily set."""
    if point is None:
        return model.predict(X, return_std=True)
    forest = _forest_of(model)
    before = forest.point
    forest.point = point
    try:
        return model.predict(X, return_std=True)
    finally:
        forest.point = before


LOG_FAMILIES = ("rf", "et", "et_top30", "et_top60", "gp")  # candidates also tried on log(y)
#: a cross-validation fold of a candidate, relative to one of the random forest (the first candidate):
#: what AutoModel projects for a candidate before it has timed one of its own folds
RELATIVE_COST = {"gbm": 4.0, "et_top30": 1.5, "et_top60": 1.5, "hurdle": 0.5}
WIDE_FEATURES = 400  # more columns than this: a wide table (fingerprints and descriptors)
MIN_WIDE_FEATURES = 100
PLAN_COST = 80.0  # the default plan (5 candidates, 3 folds, refit) in units of the ranking forest's time


def default_candidates(random_state: int | None = 0) -> dict[str, object]:
    """The candidate regressors AutoModel compares."""
    from matloop.models.boosting import GradientBoostingEnsembleRegressor
    from matloop.models.feature_selection import TopFeatures
    from matloop.models.forest import ExtraTreesRegressor, RandomForestRegressor
    from matloop.models.gp import GaussianProcessRegressor

    def top(k: int) -> TopFeatures:
        forest = ExtraTreesRegressor(n_estimators=200, max_features=1.0, random_state=random_state, noise="oob")
        return TopFeatures(forest, n_features=k, random_state=random_state)

    return {
        "rf": RandomForestRegressor(n_estimators=200, random_state=random_state, noise="oob"),
        "et": ExtraTreesRegressor(n_estimators=200, max_features=0.5, random_state=random_state, noise="oob"),
        "et_top30": top(30),
        "et_top60": top(60),
        "gbm": GradientBoostingEnsembleRegressor(n_members=5, max_iter=300, learning_rate=0.05, noise="oob",
                                                 random_state=random_state),
        "gp": GaussianProcessRegressor(n_restarts=0, random_state=random_state),
    }


class ResidualDistributionMixin:
    """``predict_distribution`` / ``predict_interval`` / ``predict_quantiles`` of a regressor whose fit left
    ``residuals_`` (a :class:`~matloop.models.predictive.ResidualDistribution`) and ``bounds_``."""

    def predict_distribution(self, X, mean_std: tuple | None = None):
        """Each point's predictive distribution (:class:`~matloop.models.predictive.PredictiveDistribution`);
        ``mean_std``: the ``predict(X, return_std=True)`` already computed for these rows (saves a pass)."""
        mean, std = self.predict(X, return_std=True) if mean_std is None else mean_std
        return self.residuals_.distribution(mean, std, self.bounds_)

    def predict_interval(self, X, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
        """Central ``1 - alpha`` interval of the predictive distribution (inside the bounds)."""
        return self.predict_distribution(X).interval(1 - alpha)

    def predict_quantiles(self, X, quantiles) -> np.ndarray:
        """Predictive quantiles, shape ``(n, len(quantiles))``."""
        return self.predict_distribution(X).ppf(np.atleast_1d(quantiles))


class AutoModel(ResidualDistributionMixin, RegressorMixin, BaseEstimator):
    """Cross-validated model selection and ensembling with calibrated uncertainty.

    Parameters
    ----------
    candidates : dict of name -> estimator, optional
        Regressors with ``predict(X, return_std=True)`` (default: :func:`default_candidates`).
    time_budget : float
        Seconds for the whole fit, the final refit included. Candidates run cheapest first; one whose
        projected cross-validation and refit would not fit in what is left is skipped (the first always
        runs), and when the budget is short only the ensemble's members are refitted.
    cv : int or None
        Folds of the internal cross-validation (default: 5, or 3 above 1,000 rows).
    cv_repeats : int or "auto"
        Repeats of that cross-validation with different shuffles; the ensemble is chosen on all
        of them. ``"auto"``: 2 up to 1,000 rows, where one split's noise decides the choice (Matbench
        steels: 84.7 vs 85.8 MPa over the 5 outer folds), else 1.
    redundancy : float
        Drop a feature whose |Spearman| with a more important one exceeds this (1 keeps all).
    gp_max_rows : int
        The Gaussian process is a candidate only up to this many rows.
    ensemble_rounds : int
        Rounds of greedy ensemble selection.
    log_target : "auto", bool
        Also try the forests and the GP on ``log(y)`` (:class:`LogTargetRegressor`): ``"auto"``
        when the target is positive and right-skewed (skewness above 1).
    random_state : int or None
    n_jobs : int or None
        Threads for the tree ensembles (their fitting releases the GIL; results do not depend on it).
    max_features : "auto" or int
        Most input columns the models see after the redundancy filter, the most important kept.
        ``"auto"``: all of them unless the table is wide (more than ``WIDE_FEATURES`` columns, e.g.
        1,241 molecular descriptors and fingerprint bits) and the plan's projected cost exceeds half
        the time budget; then as many as fit (at least ``MIN_WIDE_FEATURES``).
    bounds : "auto", None or (lower, upper)
        Known bounds of the target (either side None). ``"auto"``: a lower bound of 0 when every
        training value is non-negative. Predictions and intervals are kept inside them.

    Attributes
    ----------
    oof_predictions_ : dict
        Out-of-fold predictions of every scored variant (what the ensemble was chosen on).
    variants_ : dict
        Each scored variant (e.g. ``"et_median"``) -> (refitted candidate, point estimate).
    cv_scores_ : dict
        Out-of-fold MAE of every candidate that was scored (and of the ensemble).
    weights_ : dict
        Ensemble weight of each selected candidate.
    selected_features_ : ndarray of int
        Input columns the models use.
    std_scale_ : float
        Calibration factor applied to the ensemble std.
    bounds_ : tuple
        ``(lower, upper)`` used, None for an open side.
    residuals_ : ResidualDistribution
        The normalised out-of-fold residuals behind :meth:`predict_distribution`.
    """

    _calibrates_itself = True

    def __init__(self, candidates: dict | None = None, time_budget: float = 600.0, cv: int | None = None,
                 cv_repeats: int | str = "auto", redundancy: float = 0.98, gp_max_rows: int = 1000,
                 ensemble_rounds: int = 20, log_target: str | bool = "auto", random_state: int | None = 0,
                 bounds: str | tuple | None = "auto", n_jobs: int | None = 1, max_features: str | int = "auto"):
        self.candidates = candidates
        self.time_budget = time_budget
        self.cv = cv
        self.cv_repeats = cv_repeats
        self.redundancy = redundancy
        self.gp_max_rows = gp_max_rows
        self.ensemble_rounds = ensemble_rounds
        self.log_target = log_target
        self.random_state = random_state
        self.bounds = bounds
        self.n_jobs = n_jobs
        self.max_features = max_features

    # ------------------------------------------------------------------ features
    def _select_features(self, Xc: np.ndarray, y: np.ndarray) -> np.ndarray:
        d = Xc.shape[1]
        if self.redundancy >= 1 or d < 2:
            return np.arange(d)
        t0 = time.perf_counter()
        # a wide table is ranked with fewer columns per split: same forest size, a fraction of the cost
        order = rank_features(Xc, y, random_state=0, n_trees=50, n_jobs=self.n_jobs,
                              max_features=0.5 if d <= WIDE_FEATURES else 0.1)
        rank_seconds = (time.perf_counter() - t0) * (5 if d > WIDE_FEATURES else 1)  # as at 0.5 per split
        rank = spearmanr(Xc[:, order]).statistic if d > 2 else np.corrcoef(Xc[:, order].T)
        rank = np.atleast_2d(np.nan_to_num(np.abs(rank)))
        keep: list[int] = []
        for j in range(d):
            if all(rank[j, i] <= self.redundancy for i in keep):
                keep.append(j)
        cap = self._feature_cap(len(keep), d, rank_seconds)
        return np.sort(order[keep][:cap])

    def _feature_cap(self, n_kept: int, d: int, rank_seconds: float) -> int:
        """How many of the kept columns the models see (see ``max_features``).

        The default plan costs about ``PLAN_COST`` times the ranking forest (50 trees, half the
        columns per split) on the same rows, scaled by the share of columns kept; a wide table whose
        plan would take more than half the budget keeps the most important columns that fit.
        """
        if self.max_features != "auto":
            return max(1, int(self.max_features))
        if n_kept <= WIDE_FEATURES:
            return n_kept
        projected = PLAN_COST * rank_seconds * n_kept / d
        if projected <= 0.5 * self.time_budget:
            return n_kept
        return max(MIN_WIDE_FEATURES, int(n_kept * 0.5 * self.time_budget / projected))

    # ------------------------------------------------------------------ fit
    def candidate_models(self, y) -> dict:
        """The candidates :meth:`fit` cross-validates for target ``y``: the user's, or the defaults with the
        Gaussian process left out above ``gp_max_rows`` rows, log-target variants where the target suits them, and
        the hurdle model where many rows sit exactly on the lower bound (:func:`detect_bounds` with ``bounds``)."""
        y = np.asarray(y, dtype=float)
        lower = detect_bounds(y, self.bounds)[0]
        cands = dict(self.candidates) if self.candidates is not None else default_candidates(self.random_state)
        if len(y) > self.gp_max_rows:
            cands.pop("gp", None)
        if self.log_target == "auto" and suits_log_target(y) or self.log_target is True:
            cands.update({f"{name}_log": LogTargetRegressor(est) for name, est in list(cands.items())
                          if name in LOG_FAMILIES})
        if self.candidates is None and suits_hurdle(y, lower):
            # many rows exactly on the lower bound (metals' band gaps): the two-part model, scored by the
            # same CV as the rest; right after the cheap forests, so that a short budget keeps it
            items = list(cands.items())
            at = next((i + 1 for i, (name, _) in enumerate(items) if name == "et"), len(items))
            items.insert(at, ("hurdle", HurdleRegressor(zero=lower, random_state=self.random_state)))
            cands = dict(items)
        return cands

    def fit(self, X, y) -> AutoModel:
        """Select features, cross-validate candidates, build the ensemble, refit all."""
        with threadpool_limits(1, user_api="blas"):  # small matrices: threads only add overhead
            return self._fit(X, y)

    def _fit(self, X, y) -> AutoModel:
        X = check_features(self, X, reset=True)
        y = check_target(y, X.shape[0])
        self.bounds_ = detect_bounds(y, self.bounds)
        start = time.perf_counter()
        n = len(y)
        self.cleaner_ = FeatureCleaner().fit(X)
        Xc = self.cleaner_._transform_array(X)
        self.selected_features_ = self._select_features(Xc, y)
        Xs = Xc[:, self.selected_features_]
        cands = self.candidate_models(y)
        k = self.cv or (5 if n <= 1000 else 3)
        k = max(2, min(k, n // 2))
        repeats = max(1, int(self._repeats(n)))
        folds = [(r, tr, te) for r in range(repeats) for tr, te in
                 KFold(k, shuffle=True, random_state=None if self.random_state is None else self.random_state + r)
                 .split(Xs)]
        oof_mean, oof_std, self.cv_scores_, self.cv_seconds_ = {}, {}, {}, {}
        self.variants_ = {}
        progress.say(f"AutoModel: {len(cands)} candidates, {k}-fold CV x{repeats} on {n} rows, {Xs.shape[1]} features")
        refit_share = k / (k - 1)  # a refit on all rows, relative to one fold's fit
        fold_seconds: dict[str, float] = {}  # each finished candidate's mean time per fold
        for name, est in progress.steps(list(cands.items()), "candidate", describe=lambda item: item[0]):
            self._set_jobs(est)
            t0 = time.perf_counter()
            reserved = refit_share * sum(fold_seconds.values())  # the refits still to come
            if fold_seconds:
                guess = fold_seconds[next(iter(fold_seconds))] * RELATIVE_COST.get(name.removesuffix("_log"), 1.0)
                if t0 - start + reserved + guess * (len(folds) + refit_share) > self.time_budget:
                    progress.say(f"  skipped {name}: its projected time exceeds what is left of the "
                                 f"{self.time_budget:g} s budget")
                    continue
            points = _point_estimates(est)
            mean, std = np.empty((len(points), repeats, n)), np.empty((len(points), repeats, n))
            finished = 0
            for i, (r, tr, te) in enumerate(folds):
                m = clone(est).fit(Xs[tr], y[tr])
                for p, point in enumerate(points):
                    mean[p, r, te], std[p, r, te] = _predict_at(m, point, Xs[te])
                finished = i + 1
                now = time.perf_counter()
                projected = (now - t0) / (i + 1) * (len(folds) - i - 1 + refit_share)
                if now - start + reserved + projected <= self.time_budget:
                    continue
                if oof_mean:
                    progress.say(f"  stopped {name}: its projected time exceeds what is left of the "
                                 f"{self.time_budget:g} s budget")
                    break
                if repeats > 1 and finished == k:
                    # the first candidate alone would overrun: one shuffle of the folds, not several
                    progress.say(f"  one repeat of the {k}-fold CV instead of {repeats}: the budget is short")
                    repeats, folds = 1, folds[:k]
                    mean, std = mean[:, :1], std[:, :1]
                    break
            if finished == len(folds):
                fold_seconds[name] = (time.perf_counter() - t0) / len(folds)
                for p, point in enumerate(points):
                    variant = name if point is None else f"{name}_{point}"
                    self.variants_[variant] = (name, point)
                    # repeats side by side: the ensemble is chosen on every repeat's out-of-fold rows
                    oof_mean[variant], oof_std[variant] = mean[p].ravel(), std[p].ravel()
                    self.cv_scores_[variant] = float(np.mean(np.abs(mean[p] - y)))
                self.cv_seconds_[name] = time.perf_counter() - t0
                progress.say(f"CV MAE {self.cv_scores_[name]:.4g} ({self.cv_seconds_[name]:.0f} s)")
        if not oof_mean:
            raise RuntimeError("no candidate finished its cross-validation within the time budget")
        y_rep = np.tile(y, repeats)
        self.weights_ = self._greedy_ensemble(oof_mean, y_rep)
        ens_mean, ens_std = self._combine({m: oof_mean[m] for m in self.weights_},
                                          {m: oof_std[m] for m in self.weights_})
        z = (y_rep - ens_mean) / np.maximum(ens_std, 1e-12)
        self.std_scale_ = float(np.sqrt(np.mean(z**2))) if np.all(np.isfinite(z)) else 1.0
        self.residuals_ = ResidualDistribution().fit(clip_to_bounds(ens_mean, self.bounds_),
                                                     ens_std * self.std_scale_, y_rep, lower=self.bounds_[0])
        self.cv_scores_["ensemble"] = float(np.mean(np.abs(ens_mean - y_rep)))
        self.cv_repeats_ = repeats
        self.oof_predictions_ = {m: v.reshape(repeats, n).mean(axis=0) for m, v in oof_mean.items()}
        self.oof_prediction_ = ens_mean.reshape(repeats, n).mean(axis=0)
        self.oof_std_ = (ens_std * self.std_scale_).reshape(repeats, n).mean(axis=0)
        progress.say(f"AutoModel: ensemble {', '.join(self.weights_)}; refitting {len(self.cv_seconds_)} "
                     "candidates on all rows")
        members = {self.variants_[m][0] for m in self.weights_}
        self.estimators_ = {}
        for name in sorted(self.cv_seconds_, key=lambda c: c not in members):  # members first
            now = time.perf_counter()
            if name not in members and now - start + refit_share * fold_seconds[name] > self.time_budget:
                continue  # a single model for member_predictions, not worth overrunning the budget for
            self._set_jobs(cands[name])
            progress.say(f"refitting {name} on all {n} rows")
            self.estimators_[name] = clone(cands[name]).fit(Xs, y)
        self.variants_ = {v: (c, p) for v, (c, p) in self.variants_.items() if c in self.estimators_}
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _set_jobs(self, est) -> None:
        """Give every tree ensemble inside ``est`` ``n_jobs`` threads (the default 1 changes nothing)."""
        if self.n_jobs in (None, 1):
            return
        params = est.get_params(deep=True)
        est.set_params(**{key: self.n_jobs for key in params if key.split("__")[-1] == "n_jobs"})

    def _repeats(self, n: int) -> int:
        if self.cv_repeats == "auto":
            return 2 if n <= 1000 else 1
        return int(self.cv_repeats)

    def _greedy_ensemble(self, oof: dict[str, np.ndarray], y: np.ndarray) -> dict[str, float]:
        names = list(oof)
        P = np.stack([oof[m] for m in names])
        counts = np.zeros(len(names))
        current = np.zeros_like(y)
        for r in range(int(self.ensemble_rounds)):
            trial = (current * r + P) / (r + 1)
            j = int(np.argmin(np.mean(np.abs(trial - y), axis=1)))
            counts[j] += 1
            current = trial[j]
        return {names[j]: float(counts[j] / counts.sum()) for j in np.flatnonzero(counts)}

    def _combine(self, means: dict, stds: dict) -> tuple[np.ndarray, np.ndarray]:
        w = np.array([self.weights_[m] for m in means])
        M = np.stack(list(means.values()))
        S = np.stack(list(stds.values()))
        mean = w @ M
        var = w @ (S**2) + w @ ((M - mean) ** 2)
        return mean, np.sqrt(var)

    # ------------------------------------------------------------------ predict
    def _features(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = check_features(self, X, reset=False)
        return self.cleaner_._transform_array(X)[:, self.selected_features_]

    def predict(self, X, return_std: bool = False):
        """Ensemble mean inside the bounds (and calibrated std)."""
        Xs = self._features(X)
        preds = {m: self._predict_variant(m, Xs) for m in self.weights_}
        mean, std = self._combine({m: p[0] for m, p in preds.items()}, {m: p[1] for m, p in preds.items()})
        mean = clip_to_bounds(mean, getattr(self, "bounds_", None))
        return (mean, std * self.std_scale_) if return_std else mean

    def member_predictions(self, X) -> pd.DataFrame:
        """Each refitted candidate's own prediction (single-model baselines at no extra cost)."""
        Xs = self._features(X)
        return pd.DataFrame({m: self._predict_variant(m, Xs)[0] for m in self.variants_})

    def _predict_variant(self, variant: str, Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        name, point = self.variants_[variant]
        return _predict_at(self.estimators_[name], point, Xs)

    @property
    def feature_importances_(self) -> np.ndarray:
        """Weighted mean importance of the tree members, mapped back to the input columns."""
        imp = np.zeros(self.n_features_in_)
        total = 0.0
        for m, w in self.weights_.items():
            fi = getattr(self.estimators_[self.variants_[m][0]], "feature_importances_", None)
            if fi is not None:
                imp[self.cleaner_.keep_[self.selected_features_]] += w * np.asarray(fi)
                total += w
        return imp / total if total else imp

