"""Random forest and extra-trees regressors that say how sure they are.

The variance of a bagged ensemble is estimated from its own bootstrap, without refitting:

* ``"ij"``: bias-corrected infinitesimal jackknife (Wager, Hastie & Efron 2014, JMLR 15:1625,
  eq. 7): ``V = sum_i Cov_b(N_bi, t_b(x))**2 - n/B * var_b(t_b(x))``;
* ``"jackknife"`` (alias ``"jab"``): bias-corrected jackknife-after-bootstrap (eq. 6):
  ``V = (n-1)/n * sum_i (mean_{b: N_bi=0} t_b(x) - mean_b t_b(x))**2 - (e-1) n/B * var_b(t_b(x))``;
* ``"combined"``: the mean of the two, as Wager et al. suggest and Citrine's lolo does;
* ``"trees"``: the spread of the individual trees (a cruder, larger estimate).

Here ``t_b(x)`` is tree ``b``'s prediction, ``N_bi`` how often training row ``i`` is in tree
``b``'s bootstrap sample. We draw the bootstrap ourselves (as in-bag counts passed to each tree as
sample weights, exactly how scikit-learn's forests train), so the counts are exact and stored.
All estimates are matrix products over (trees x training rows) and (trees x query points).

These estimate how much the prediction would change with another training set of the same size;
they do not see measurement noise or systematic bias. A per-point noise term is therefore added
from the out-of-bag residuals (each row predicted by the trees that did not see it): a small
forest models the squared residual as a function of the features (``noise="local"``; or a
constant, ``noise="oob"``), scaled so that the residuals divided by the predicted std have unit
mean square (:func:`matloop.models.base.calibrate_noise_scale`; the model variance at a training
row leaves out that row's own term, to mimic an unseen point). The std is never zero.
"""

from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, clone
from sklearn.tree import DecisionTreeRegressor, ExtraTreeRegressor
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from matloop.models.base import (
    MIN_RELATIVE_NOISE_VARIANCE,
    UncertaintyRegressorMixin,
    calibrate_noise_scale,
    check_features,
    check_min_samples,
    check_target,
)
from matloop.models.preprocessing import fit_cleaner

UNCERTAINTY_METHODS = ("ij", "jackknife", "jab", "combined", "trees")
NOISE_METHODS = ("local", "oob", "none")
POINT_ESTIMATES = ("mean", "median")
_CHUNK_ELEMENTS = 2_000_000  # size of the (training rows x query points) blocks


def bootstrap_counts(n_samples: int, n_trees: int, rng: np.random.RandomState) -> np.ndarray:
    """In-bag counts ``N[b, i]`` of ``n_trees`` bootstrap samples of ``n_samples`` rows."""
    draws = rng.randint(0, n_samples, size=(n_trees, n_samples))
    flat = (draws + (np.arange(n_trees) * n_samples)[:, None]).ravel()
    return np.bincount(flat, minlength=n_trees * n_samples).reshape(n_trees, n_samples).astype(np.uint16)


def ij_variance(counts: np.ndarray, tree_predictions: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """Bias-corrected infinitesimal-jackknife variance at each query point.

    ``counts`` is (trees, training rows), ``tree_predictions`` is (trees, query points).
    ``exclude[j]``, if given, is a training row whose own term is left out for query point ``j``
    (used when the query points are training rows, to mimic an unseen point).
    """
    n_trees, n_samples = counts.shape
    centred_counts = counts - counts.mean(axis=0)
    out = np.empty(tree_predictions.shape[1])
    for sl in _chunks(n_samples, tree_predictions.shape[1]):
        t = tree_predictions[:, sl]
        tc = t - t.mean(axis=0)
        cov = centred_counts.T @ tc / n_trees  # (training rows, query points)
        total = np.einsum("ij,ij->j", cov, cov)
        if exclude is not None:
            total -= cov[exclude[sl], np.arange(cov.shape[1])] ** 2
        out[sl] = total - n_samples / n_trees * np.mean(tc**2, axis=0)
    return out


def jackknife_variance(counts: np.ndarray, tree_predictions: np.ndarray,
                       exclude: np.ndarray | None = None) -> np.ndarray:
    """Bias-corrected jackknife-after-bootstrap variance at each query point.

    Training rows that are in every tree's bootstrap (possible only with very few trees) have no
    leave-one-out mean and are skipped. ``exclude`` as in :func:`ij_variance`.
    """
    n_trees, n_samples = counts.shape
    out_of_bag = (counts == 0).astype(np.float64)
    n_oob = out_of_bag.sum(axis=0)
    usable = n_oob > 0
    weights = out_of_bag[:, usable] / n_oob[usable]  # (trees, usable rows): leave-one-out means
    position = np.full(n_samples, -1)
    position[usable] = np.arange(usable.sum())
    out = np.empty(tree_predictions.shape[1])
    for sl in _chunks(n_samples, tree_predictions.shape[1]):
        t = tree_predictions[:, sl]
        mean = t.mean(axis=0)
        diff = weights.T @ t - mean  # (usable rows, query points)
        total = np.einsum("ij,ij->j", diff, diff)
        if exclude is not None:
            pos = position[exclude[sl]]
            own = np.where(pos >= 0, diff[np.maximum(pos, 0), np.arange(diff.shape[1])], 0.0)
            total -= own**2
        spread = np.mean((t - mean) ** 2, axis=0)
        out[sl] = (n_samples - 1) / n_samples * total - (np.e - 1) * n_samples / n_trees * spread
    return out


def _chunks(n_samples: int, n_points: int):
    step = max(1, _CHUNK_ELEMENTS // max(n_samples, 1))
    for start in range(0, n_points, step):
        yield slice(start, min(start + step, n_points))


def fit_noise_model(X: np.ndarray, squared_residuals: np.ndarray,
                    rng: np.random.RandomState) -> tuple[RandomForestRegressor, np.ndarray]:
    """A smooth model of the squared held-out residual as a function of the features.

    A forest of 50 trees with large leaves (5 rows) averages neighbouring squared residuals;
    its own out-of-bag predictions give the held-out noise shape at the training rows, on which
    the noise scale is then calibrated. Returns the model and that shape.
    """
    model = RandomForestRegressor(50, max_features=0.33, min_samples_leaf=5, noise="none",
                                  random_state=rng.randint(np.iinfo(np.int32).max))
    model.fit(X, squared_residuals)
    shape = model.oob_prediction_.copy()
    missing = ~np.isfinite(shape)
    if missing.any():
        shape[missing] = model.predict(X[missing])
    return model, shape


def _fit_tree(tree, X: np.ndarray, y: np.ndarray, weights: np.ndarray):
    return tree.fit(X, y, sample_weight=weights, check_input=False)


class _UncertainForest(UncertaintyRegressorMixin, BaseEstimator):
    """Bagged trees with bootstrap-based variance plus an out-of-bag noise term."""

    _tree_class: type = DecisionTreeRegressor

    def __init__(self, n_estimators: int = 300, *, uncertainty: str = "ij", max_features: float | str | None = 0.33,
                 min_samples_leaf: int = 1, max_depth: int | None = None, noise: str | float | None = "local",
                 point: str = "mean", random_state=None, n_jobs: int | None = 1):
        self.n_estimators = n_estimators
        self.uncertainty = uncertainty
        self.max_features = max_features
        self.min_samples_leaf = min_samples_leaf
        self.max_depth = max_depth
        self.noise = noise
        self.point = point
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y) -> _UncertainForest:
        """Grow ``n_estimators`` trees on bootstrap samples and estimate the noise term."""
        X = check_features(self, X, reset=True)
        y = check_target(y, X.shape[0])
        check_min_samples(X.shape[0])
        if self.uncertainty not in UNCERTAINTY_METHODS:
            raise ValueError(f"uncertainty must be one of {UNCERTAINTY_METHODS}, got {self.uncertainty!r}")
        if self.point not in POINT_ESTIMATES:
            raise ValueError(f"point must be one of {POINT_ESTIMATES}, got {self.point!r}")
        if int(self.n_estimators) < 2:
            raise ValueError(f"n_estimators must be at least 2 to estimate a variance, got {self.n_estimators}")
        rng = check_random_state(self.random_state)
        self.cleaner_, Xc = fit_cleaner(X, scale=False)
        Xc = Xc.astype(np.float32)
        n = Xc.shape[0]
        counts = bootstrap_counts(n, int(self.n_estimators), rng)
        seeds = rng.randint(np.iinfo(np.int32).max, size=int(self.n_estimators))
        template = self._tree_class(max_features=self.max_features, min_samples_leaf=self.min_samples_leaf,
                                    max_depth=self.max_depth)
        trees = [clone(template).set_params(random_state=int(s)) for s in seeds]
        self.estimators_ = Parallel(n_jobs=self.n_jobs, prefer="threads")(
            delayed(_fit_tree)(tree, Xc, y, counts[b].astype(np.float64)) for b, tree in enumerate(trees))
        self.inbag_counts_ = counts
        self._fit_noise(Xc, y, rng)
        return self

    def _fit_noise(self, Xc: np.ndarray, y: np.ndarray, rng: np.random.RandomState) -> None:
        """Out-of-bag predictions, residuals and the noise term (see module docstring)."""
        counts = self.inbag_counts_
        tree_pred = self._tree_predictions(Xc)
        oob = counts == 0
        n_oob = oob.sum(axis=0)
        has_oob = n_oob > 0
        self.oob_prediction_ = np.where(has_oob, (tree_pred * oob).sum(axis=0) / np.maximum(n_oob, 1), np.nan)
        floor = MIN_RELATIVE_NOISE_VARIANCE * max(float(np.var(y)), 1e-12)
        self.noise_model_ = None
        self.noise_floor_ = floor
        if self.noise is None or self.noise == "none" or not isinstance(self.noise, str):
            fixed = 0.0 if self.noise is None or self.noise == "none" else float(self.noise) ** 2
            self.noise_scale_ = max(fixed, floor)
            self.noise_std_ = float(np.sqrt(self.noise_scale_))
            return
        if self.noise not in NOISE_METHODS:
            raise ValueError(f"noise must be one of {NOISE_METHODS}, None or a number, got {self.noise!r}")
        rows = np.flatnonzero(has_oob)
        residuals = y[rows] - self.oob_prediction_[rows]
        shape = np.ones(rows.size)
        if self.noise == "local" and rows.size >= 4:
            self.noise_model_, shape = fit_noise_model(Xc[rows], residuals**2, rng)
        self.noise_floor_ = max(floor, 0.1 * float(np.mean(residuals**2)) if rows.size else floor)
        sub = np.arange(rows.size)
        if rows.size > 1000:  # the scale is one number: 1,000 rows estimate it well and keep fit fast
            sub = np.sort(rng.choice(rows.size, 1000, replace=False))
        model_var = self._variance(tree_pred[:, rows[sub]], exclude=rows[sub])
        self.noise_scale_ = calibrate_noise_scale(residuals[sub], model_var, self._clip_shape(shape[sub]), floor)
        self.noise_std_ = float(np.sqrt(np.mean(self._noise_variance(Xc))))

    def _clip_shape(self, shape: np.ndarray) -> np.ndarray:
        if self.noise_model_ is None:
            return np.ones_like(shape)
        return np.maximum(shape, self.noise_floor_)

    def _noise_variance(self, Xc: np.ndarray) -> np.ndarray:
        """Noise variance at each point: a constant, or the scaled local squared-residual model."""
        if self.noise_model_ is None:
            return np.full(Xc.shape[0], self.noise_scale_)
        shape = self.noise_model_.predict(Xc)
        return self.noise_scale_ * self._clip_shape(shape)

    def _tree_predictions(self, Xc: np.ndarray) -> np.ndarray:
        X32 = np.ascontiguousarray(Xc, dtype=np.float32)
        if self.n_jobs in (None, 1):
            rows = [tree.predict(X32, check_input=False) for tree in self.estimators_]
        else:
            rows = Parallel(n_jobs=self.n_jobs, prefer="threads")(
                delayed(tree.predict)(X32, check_input=False) for tree in self.estimators_)
        return np.asarray(rows, dtype=np.float64)

    def _variance(self, tree_pred: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
        """Model (sampling) variance from the per-tree predictions, never negative."""
        counts = self.inbag_counts_
        method = "jackknife" if self.uncertainty == "jab" else self.uncertainty
        if method == "trees":
            if exclude is None:
                var = tree_pred.var(axis=0)
            else:  # at training rows use the trees that did not see the row
                oob = counts[:, exclude] == 0
                k = np.maximum(oob.sum(axis=0), 1)
                mean = (tree_pred * oob).sum(axis=0) / k
                var = (((tree_pred - mean) ** 2) * oob).sum(axis=0) / k
        elif method == "ij":
            var = ij_variance(counts, tree_pred, exclude)
        elif method == "jackknife":
            var = jackknife_variance(counts, tree_pred, exclude)
        else:
            var = 0.5 * (ij_variance(counts, tree_pred, exclude) + jackknife_variance(counts, tree_pred, exclude))
        return np.maximum(var, 0.0)

    def _predict_mean_var(self, X: np.ndarray, return_var: bool):
        Xc = self.cleaner_._transform_array(X)
        tree_pred = self._tree_predictions(Xc)
        mean = np.median(tree_pred, axis=0) if self.point == "median" else tree_pred.mean(axis=0)
        if not return_var:
            return mean, None
        return mean, self._variance(tree_pred) + self._noise_variance(Xc)

    @property
    def feature_importances_(self) -> np.ndarray:
        """Mean impurity importance of each input feature (zero for columns the cleaner dropped)."""
        check_is_fitted(self)
        importances = np.zeros(self.n_features_in_)
        mean = np.mean([t.feature_importances_ for t in self.estimators_], axis=0)
        importances[self.cleaner_.keep_] = np.maximum(mean, 0.0)  # round-off can leave -1e-17 on weighted trees
        return importances


class RandomForestRegressor(_UncertainForest):
    """Random forest with infinitesimal-jackknife / jackknife-after-bootstrap uncertainty.

    Parameters
    ----------
    n_estimators : int, default=300
        Number of trees. The variance estimates are bias-corrected for the finite number of
        trees, but need a few hundred to be stable.
    uncertainty : {"ij", "jackknife", "jab", "combined", "trees"}, default="ij"
        Variance estimator (see the module docstring).
    max_features : float, str or None, default=0.33
        Features tried per split. One third (Breiman's recommendation for regression) was the
        most accurate choice for Magpie features in 5-fold CV with 200 trees: Matbench steels
        MAE 115.4 MPa (sqrt 117.3, 0.5 115.9, all 115.7), expt_gap (1,500 rows) 0.551 eV
        (sqrt 0.555, 0.5 0.554, all 0.552); it also fits several times faster than all features.
    min_samples_leaf : int, default=1
        Fully grown trees, as bagging intends; the noise term covers the noise.
    max_depth : int or None, default=None
    noise : "local", "oob", "none", None or float, default="local"
        Noise term, calibrated on out-of-bag residuals: ``"local"`` shapes it by a forest model
        of the squared residuals (larger where the model fits worse: this is what makes the std
        rank the errors in-distribution), ``"oob"`` is constant; ``"none"``/``None`` only a tiny
        floor; a number is a fixed noise std.
    point : {"mean", "median"}, default="mean"
        The point prediction: the mean of the trees (the usual forest), or their median, which
        minimises the absolute error when the trees disagree asymmetrically: near a mass of
        identical targets (band gaps of metals, all exactly 0) or on a skewed target. The
        variance is the same either way.
    random_state : int, RandomState or None
    n_jobs : int or None, default=1
        Threads for growing and evaluating trees (no processes, so no multiprocessing hangs).

    Attributes
    ----------
    estimators_ : list of DecisionTreeRegressor
    inbag_counts_ : ndarray of shape (n_estimators, n_samples)
        How often each training row is in each tree's bootstrap sample.
    oob_prediction_ : ndarray of shape (n_samples,)
        Out-of-bag prediction of each training row (NaN if it is in every bootstrap).
    noise_std_ : float
        Root-mean-square noise term over the training rows (added in quadrature to the model std).
    noise_model_ : RandomForestRegressor or None
        The model of the squared out-of-bag residuals (``noise="local"``).
    """

    _tree_class = DecisionTreeRegressor


class ExtraTreesRegressor(_UncertainForest):
    """Extremely randomised trees with the same uncertainty estimates as the random forest.

    Unlike scikit-learn's ``ExtraTreesRegressor`` the trees are grown on bootstrap samples: the
    variance estimators need the in-bag counts (without a bootstrap every count is 1 and the
    estimates are zero). Parameters and attributes as :class:`RandomForestRegressor`
    (``estimators_`` are ``ExtraTreeRegressor``), except ``max_features``, which defaults to all
    features as in Geurts et al. (2006): split points are already random, and fewer candidate
    features made the trees too weak on Friedman #1 (MAE 2.14 vs 1.72) and Matbench expt_gap
    (0.557 vs 0.551 eV, 1,500 rows, 5-fold CV), with a small gain on steels (110.9 vs 112.3 MPa).
    """

    _tree_class = ExtraTreeRegressor

    def __init__(self, n_estimators: int = 300, *, uncertainty: str = "ij", max_features: float | str | None = 1.0,
                 min_samples_leaf: int = 1, max_depth: int | None = None, noise: str | float | None = "local",
                 point: str = "mean", random_state=None, n_jobs: int | None = 1):
        super().__init__(n_estimators, uncertainty=uncertainty, max_features=max_features,
                         min_samples_leaf=min_samples_leaf, max_depth=max_depth, noise=noise, point=point,
                         random_state=random_state, n_jobs=n_jobs)
