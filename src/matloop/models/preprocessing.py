"""Feature cleaning used inside every matloop model: impute, drop useless columns, scale.

Featurizers produce matrices with missing values (an element without a tabulated property, a
structure a descriptor cannot handle) and with columns that are constant over a small data set.
Each model cleans its own input with a :class:`FeatureCleaner` fitted on the training data only,
so the same statistics are reused at prediction time and nothing leaks from test rows.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from matloop.models.base import check_features


class FeatureCleaner(TransformerMixin, BaseEstimator):
    """Median imputation, removal of constant and all-missing columns, optional standardisation.

    Parameters
    ----------
    scale : bool, default=False
        Standardise the kept columns to zero mean and unit variance (training statistics).
        Trees do not need it; Gaussian processes and neural networks do.

    Attributes
    ----------
    keep_ : ndarray of int
        Indices of the input columns that are kept. Columns that are entirely missing or
        constant in the training data carry no information and are dropped. If every column
        would be dropped, the first one is kept so that downstream models still get a matrix.
    medians_ : ndarray
        Training median of each kept column, used to fill missing values.
    mean_, scale_ : ndarray or None
        Standardisation statistics of the kept columns (``None`` unless ``scale``).
    """

    def __init__(self, scale: bool = False):
        self.scale = scale

    def fit(self, X, y=None) -> FeatureCleaner:
        """Learn medians, kept columns and scaling from the training matrix ``X``."""
        X = check_features(self, X, reset=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column: median is NaN
            medians = np.nanmedian(X, axis=0) if X.shape[0] else np.zeros(X.shape[1])
        all_missing = np.isnan(medians)
        medians = np.where(all_missing, 0.0, medians)
        filled = np.where(np.isnan(X), medians, X)
        constant = np.ptp(filled, axis=0) == 0 if X.shape[0] else np.ones(X.shape[1], bool)
        keep = ~all_missing & ~constant
        if not keep.any():
            keep[0] = True
        self.keep_ = np.flatnonzero(keep)
        self.medians_ = medians[self.keep_]
        if self.scale:
            kept = filled[:, self.keep_]
            self.mean_ = kept.mean(axis=0)
            std = kept.std(axis=0)
            self.scale_ = np.where(std > 0, std, 1.0)
        else:
            self.mean_ = None
            self.scale_ = None
        return self

    def transform(self, X) -> np.ndarray:
        """Select the kept columns, fill missing values with training medians, scale."""
        check_is_fitted(self)
        X = check_features(self, X, reset=False)
        return self._transform_array(X)

    def _transform_array(self, X: np.ndarray) -> np.ndarray:
        """Transform an already validated float matrix (used by the models, which validate once)."""
        kept = X[:, self.keep_]
        missing = np.isnan(kept)
        if missing.any():
            kept = np.where(missing, self.medians_, kept)
        if self.scale:
            kept = (kept - self.mean_) / self.scale_
        return np.ascontiguousarray(kept, dtype=np.float64)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the kept columns."""
        check_is_fitted(self)
        if input_features is None:
            input_features = getattr(self, "feature_names_in_", None)
        if input_features is None:
            input_features = [f"x{j}" for j in range(self.n_features_in_)]
        return np.asarray(input_features, dtype=object)[self.keep_]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def fit_cleaner(X: np.ndarray, scale: bool) -> tuple[FeatureCleaner, np.ndarray]:
    """Fit a cleaner on an already validated training matrix; return it and the cleaned matrix."""
    cleaner = FeatureCleaner(scale=scale).fit(X)
    return cleaner, cleaner._transform_array(X)
