"""Gaussian process regression with an ARD Matern kernel and learned noise.

The kernel is ``C * Matern(nu=5/2, one length scale per feature) + White``: ARD (automatic
relevance determination) lets the GP learn which features matter, the white term learns the
noise, and the predicted std includes that noise. Features are imputed and standardised, targets
standardised (``normalize_y``), hyper-parameters fitted by maximum marginal likelihood with a
few random restarts.

Two choices keep it honest on materials data:

* **Feature pre-selection.** ARD over 150+ Magpie features on 300 points has more length scales
  than the data can determine (it overfits the marginal likelihood and is slow). When there are
  more than ``n_features`` (default 20) usable columns we keep the ``n_features`` most important
  by a quick random forest's impurity importance (``feature_selection="importance"``, default;
  robust to scale and to non-linear relevance), or by mutual information (``"mutual_info"``),
  or project on the leading whitened principal components (``"pca"``; loses interpretability).
* **Size.** An exact GP costs O(n^3) time and O(n^2) memory. Beyond ``max_train`` (default 2,000)
  training rows we fit on a random subset of ``max_train`` rows, with a warning: the other rows
  are ignored (their information is lost, the uncertainty is that of the smaller set). For
  larger data prefer the forests.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestRegressor as SklearnForest
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import mutual_info_regression
from sklearn.gaussian_process import GaussianProcessRegressor as SklearnGP
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
from sklearn.utils import check_random_state

from matloop.models.base import UncertaintyRegressorMixin, check_features, check_min_samples, check_target
from matloop.models.preprocessing import fit_cleaner

FEATURE_SELECTIONS = ("importance", "mutual_info", "pca", None)


class GaussianProcessRegressor(UncertaintyRegressorMixin, BaseEstimator):
    """Exact GP with ARD Matern kernel and white noise on standardised, pre-selected features.

    Parameters
    ----------
    n_features : int, default=20
        Keep at most this many features (or principal components) for the ARD kernel.
    feature_selection : {"importance", "mutual_info", "pca", None}, default="importance"
        How to reduce the features when there are more than ``n_features`` (see module docs);
        ``None`` keeps all (slow and prone to overfit with many features).
    max_train : int, default=2000
        Largest number of training rows used; a random subset is taken beyond it (warning).
    nu : float, default=2.5
        Matern smoothness (1.5, 2.5 or ``inf`` for the squared exponential).
    n_restarts : int, default=1
        Random restarts of the marginal-likelihood optimiser (each costs about one more fit).
    random_state : int, RandomState or None

    Attributes
    ----------
    selected_features_ : ndarray of int or None
        Input columns used (``None`` with PCA or when all usable columns are kept).
    gp_ : sklearn.gaussian_process.GaussianProcessRegressor
        The fitted GP; ``gp_.kernel_`` holds the learned length scales and noise.
    n_train_used_ : int
        Training rows actually used (``min(n, max_train)``).
    """

    def __init__(self, n_features: int = 20, *, feature_selection: str | None = "importance", max_train: int = 2000,
                 nu: float = 2.5, n_restarts: int = 1, random_state=None):
        self.n_features = n_features
        self.feature_selection = feature_selection
        self.max_train = max_train
        self.nu = nu
        self.n_restarts = n_restarts
        self.random_state = random_state

    def fit(self, X, y) -> GaussianProcessRegressor:
        """Clean, select features, subsample if needed and fit the kernel hyper-parameters."""
        X = check_features(self, X, reset=True)
        y = check_target(y, X.shape[0])
        check_min_samples(X.shape[0])
        if self.feature_selection not in FEATURE_SELECTIONS:
            raise ValueError(f"feature_selection must be one of {FEATURE_SELECTIONS}, got {self.feature_selection!r}")
        rng = check_random_state(self.random_state)
        self.cleaner_, Xc = fit_cleaner(X, scale=True)
        self._fit_reduction(Xc, y, rng)
        Z = self._reduce(Xc)
        rows = np.arange(len(y))
        if len(y) > self.max_train:
            warnings.warn(f"GaussianProcessRegressor: {len(y)} training rows exceed max_train={self.max_train}; "
                          f"fitting on a random subset of {self.max_train} rows (an exact GP costs O(n^3)). "
                          "Raise max_train or use a forest to use all rows.", UserWarning, stacklevel=2)
            rows = np.sort(rng.choice(len(y), self.max_train, replace=False))
        self.n_train_used_ = int(rows.size)
        d = Z.shape[1]
        # standardised units: length scales beyond 1e3 mean "irrelevant", noise above 1 "all noise"
        kernel = (ConstantKernel(1.0, (1e-2, 1e4))
                  * Matern(length_scale=np.full(d, np.sqrt(d)), length_scale_bounds=(1e-2, 1e3), nu=self.nu)
                  + WhiteKernel(noise_level=0.1, noise_level_bounds=(1e-6, 1.0)))
        self.gp_ = SklearnGP(kernel=kernel, normalize_y=True, n_restarts_optimizer=self.n_restarts,
                             random_state=rng.randint(np.iinfo(np.int32).max))
        with warnings.catch_warnings():
            # hyper-parameters at a bound (an irrelevant feature, no noise) are expected, not a problem
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.gp_.fit(Z[rows], y[rows])
        return self

    def _fit_reduction(self, Xc: np.ndarray, y: np.ndarray, rng: np.random.RandomState) -> None:
        self.selected_features_ = None
        self.pca_ = None
        self._columns = np.arange(Xc.shape[1])
        k = int(self.n_features)
        if self.feature_selection is None or Xc.shape[1] <= k:
            return
        seed = rng.randint(np.iinfo(np.int32).max)
        if self.feature_selection == "pca":
            self.pca_ = PCA(n_components=min(k, Xc.shape[0]), whiten=True, random_state=seed).fit(Xc)
            return
        if self.feature_selection == "importance":
            forest = SklearnForest(n_estimators=100, max_features=0.33, min_samples_leaf=2, random_state=seed)
            scores = forest.fit(Xc, y).feature_importances_
        else:
            scores = mutual_info_regression(Xc, y, random_state=seed)
        self._columns = np.sort(np.argsort(-scores, kind="stable")[:k])
        self.selected_features_ = self.cleaner_.keep_[self._columns]

    def _reduce(self, Xc: np.ndarray) -> np.ndarray:
        if self.pca_ is not None:
            return self.pca_.transform(Xc)
        return Xc[:, self._columns]

    def _predict_mean_var(self, X: np.ndarray, return_var: bool):
        Z = self._reduce(self.cleaner_._transform_array(X))
        if not return_var:
            return self.gp_.predict(Z), None
        mean, std = self.gp_.predict(Z, return_std=True)
        return mean, std**2
