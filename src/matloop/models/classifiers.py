"""Classifiers whose probabilities mean what they say.

Tree ensembles rank well but their raw probabilities are not calibrated (forests push them away
from 0 and 1; class weights shift them). Here each model is wrapped in scikit-learn's
``CalibratedClassifierCV``: in each of ``cv`` stratified folds the ensemble is trained on the
other folds and a calibrator (isotonic regression, or Platt's sigmoid) is fitted on the held-out
fold; predictions average the ``cv`` calibrated models. ``method="auto"`` uses the sigmoid below
1,000 rows (isotonic regression overfits small calibration sets) and isotonic above.

Class imbalance: ``class_weight="balanced"`` (default) re-weights the training of the trees so the
rare class shapes the splits; since the calibrator is fitted on unweighted held-out rows, the
probabilities stay calibrated for the real class frequencies.

Uncertainty of the probability, :meth:`predict_std`:

* ``"trees"`` (forest default): spread of the individual trees' probabilities (model
  disagreement, useful to choose what to measure next);
* ``"folds"`` (boosting default): spread of the ``cv`` calibrated fold models' probabilities;
* ``"bernoulli"``: ``sqrt(p (1 - p))``, the std of the outcome itself.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from matloop.errors import InputError, error_table
from matloop.models.base import check_features, column_or_1d_warn
from matloop.models.preprocessing import fit_cleaner

CALIBRATION_METHODS = ("auto", "isotonic", "sigmoid")
ISOTONIC_MIN_ROWS = 1000


def _check_labels(y, n_samples: int) -> np.ndarray:
    y = column_or_1d_warn(y)
    name = str(y.name) if isinstance(y, pd.Series) and y.name is not None else "target"
    values = np.asarray(y)
    if values.ndim != 1 or len(values) != n_samples:
        raise ValueError(f"labels must be one column as long as X ({n_samples} rows), got shape {values.shape}")
    missing = np.array(pd.isna(pd.Series(values, dtype=object)), dtype=bool)  # a copy: written below
    if values.dtype.kind == "f":
        missing |= np.isinf(values)
    missing = np.flatnonzero(missing)
    if missing.size:
        records = [{"row": int(i) + 1, "column": name, "value": values[i], "reason": "missing or infinite class label"}
                   for i in missing]
        raise InputError("class labels are missing or infinite", error_table(records))
    check_classification_targets(values)
    return values


def _label(value) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


class _CalibratedEnsembleClassifier(ClassifierMixin, BaseEstimator):
    """Shared fit/predict of the calibrated classifiers; subclasses build the ensemble."""

    _default_std = "folds"

    def fit(self, X, y) -> _CalibratedEnsembleClassifier:
        """Fit ``cv`` ensemble+calibrator pairs on stratified folds."""
        X = check_features(self, X, reset=True)
        y = _check_labels(y, X.shape[0])
        if self.method not in CALIBRATION_METHODS:
            raise ValueError(f"method must be one of {CALIBRATION_METHODS}, got {self.method!r}")
        classes, counts = np.unique(y, return_counts=True)
        if len(classes) < 2:
            raise ValueError(f"needs samples of at least 2 classes to fit; got 1 class ({_label(classes[0])})")
        if counts.min() < 2:
            rare = ", ".join(_label(c) for c in classes[counts < 2])
            raise InputError(f"every class needs at least 2 samples for cross-validated calibration; "
                             f"class {rare} has 1 sample")
        rng = check_random_state(self.random_state)
        self.method_ = self.method
        if self.method == "auto":
            self.method_ = "isotonic" if X.shape[0] >= ISOTONIC_MIN_ROWS else "sigmoid"
        n_folds = int(min(self.cv, counts.min()))
        self.cleaner_, Xc = fit_cleaner(X, scale=False)
        folds = StratifiedKFold(n_folds, shuffle=True, random_state=rng.randint(np.iinfo(np.int32).max))
        self.calibrated_ = CalibratedClassifierCV(self._ensemble(rng.randint(np.iinfo(np.int32).max)),
                                                  method=self.method_, cv=folds)
        with self._thread_limit():
            self.calibrated_.fit(Xc, y)
        self.classes_ = self.calibrated_.classes_
        if hasattr(self, "max_iter"):
            self.n_iter_ = max(int(c.estimator.n_iter_) for c in self.calibrated_.calibrated_classifiers_)
        return self

    def _thread_limit(self):
        return contextlib.nullcontext()

    def _clean(self, X) -> np.ndarray:
        check_is_fitted(self)
        return self.cleaner_._transform_array(check_features(self, X, reset=False))

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated class probabilities, columns in the order of ``classes_``."""
        Xc = self._clean(X)
        with self._thread_limit():
            return self.calibrated_.predict_proba(Xc)

    def predict(self, X) -> np.ndarray:
        """Most probable class (by the calibrated probabilities, i.e. for the real class frequencies)."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def predict_std(self, X, kind: str | None = None) -> np.ndarray:
        """Std of the predicted probability: positive class ``classes_[1]`` if binary, else per class.

        ``kind`` is ``"trees"`` (forest only), ``"folds"`` or ``"bernoulli"``; ``None`` uses the
        model's default (see module docstring).
        """
        kind = kind or self._default_std
        Xc = self._clean(X)
        with self._thread_limit():
            if kind == "bernoulli":
                p = self.calibrated_.predict_proba(Xc)
                std = np.sqrt(p * (1 - p))
            elif kind == "folds":
                std = np.std([c.predict_proba(Xc) for c in self.calibrated_.calibrated_classifiers_], axis=0)
            elif kind == "trees" and hasattr(self, "_tree_probabilities"):
                std = np.std(self._tree_probabilities(Xc), axis=0)
            else:
                raise ValueError(f"unknown or unsupported std kind {kind!r} for {type(self).__name__}")
        return std[:, 1] if len(self.classes_) == 2 else std

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class CalibratedForestClassifier(_CalibratedEnsembleClassifier):
    """Random forest classifier with cross-validated isotonic or sigmoid calibration.

    Parameters
    ----------
    n_estimators : int, default=300
    method : {"auto", "isotonic", "sigmoid"}, default="auto"
        Calibrator; ``"auto"``: sigmoid below 1,000 rows, isotonic from 1,000.
    cv : int, default=5
        Calibration folds (reduced to the size of the rarest class if that is smaller).
    max_features : float, str or None, default="sqrt"
    min_samples_leaf : int, default=1
    class_weight : "balanced", "balanced_subsample", dict or None, default="balanced"
    random_state : int, RandomState or None
    n_jobs : int or None, default=1
        Threads for the trees.

    Attributes
    ----------
    classes_ : ndarray
    calibrated_ : sklearn.calibration.CalibratedClassifierCV
    method_ : str
        Calibrator actually used.
    """

    _default_std = "trees"

    def __init__(self, n_estimators: int = 300, *, method: str = "auto", cv: int = 5,
                 max_features: float | str | None = "sqrt", min_samples_leaf: int = 1,
                 class_weight: str | dict | None = "balanced", random_state=None, n_jobs: int | None = 1):
        self.n_estimators = n_estimators
        self.method = method
        self.cv = cv
        self.max_features = max_features
        self.min_samples_leaf = min_samples_leaf
        self.class_weight = class_weight
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _ensemble(self, seed: int) -> RandomForestClassifier:
        return RandomForestClassifier(n_estimators=self.n_estimators, max_features=self.max_features,
                                      min_samples_leaf=self.min_samples_leaf, class_weight=self.class_weight,
                                      random_state=seed, n_jobs=self.n_jobs)

    def _tree_probabilities(self, Xc: np.ndarray) -> np.ndarray:
        """Probabilities of every tree of every fold's forest: (trees, points, classes)."""
        X32 = np.asarray(Xc, dtype=np.float32)
        out = []
        for calibrated in self.calibrated_.calibrated_classifiers_:
            forest = calibrated.estimator
            columns = np.searchsorted(self.classes_, forest.classes_)
            for tree in forest.estimators_:
                p = np.zeros((len(X32), len(self.classes_)))
                p[:, columns] = tree.predict_proba(X32, check_input=False)
                out.append(p)
        return np.asarray(out)


class CalibratedBoostingClassifier(_CalibratedEnsembleClassifier):
    """Histogram gradient-boosting classifier with cross-validated calibration.

    Parameters as :class:`CalibratedForestClassifier` where shared; ``learning_rate``,
    ``max_iter``, ``max_leaf_nodes`` and ``min_samples_leaf`` go to
    ``HistGradientBoostingClassifier``; ``n_threads`` limits its OpenMP threads (default 1,
    see :class:`matloop.models.boosting.GradientBoostingEnsembleRegressor`).
    """

    def __init__(self, *, method: str = "auto", cv: int = 5, learning_rate: float = 0.05, max_iter: int = 200,
                 max_leaf_nodes: int = 15, min_samples_leaf: int = 5, class_weight: str | dict | None = "balanced",
                 n_threads: int | None = 1, random_state=None):
        self.method = method
        self.cv = cv
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.class_weight = class_weight
        self.n_threads = n_threads
        self.random_state = random_state

    def _ensemble(self, seed: int) -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(learning_rate=self.learning_rate, max_iter=self.max_iter,
                                              max_leaf_nodes=self.max_leaf_nodes,
                                              min_samples_leaf=self.min_samples_leaf,
                                              class_weight=self.class_weight, early_stopping=False,
                                              random_state=seed)

    def _thread_limit(self):
        if self.n_threads is None:
            return contextlib.nullcontext()
        return threadpool_limits(limits=int(self.n_threads), user_api="openmp")
