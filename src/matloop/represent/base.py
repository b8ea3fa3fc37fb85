"""Common machinery of composition featurizers: input coercion, chunking, names, citations."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from matloop.io.formula import Compositions, parse_formulas

CHUNK_ROWS = 100_000  # rows featurized at once: bounds peak memory on huge columns


def as_compositions(X, column: str = "formula") -> tuple[Compositions, pd.Index]:
    """Coerce formulas (list, array, Series, one-column DataFrame) or Compositions.

    Returns the compositions and the index to give the output (the input's own when it has one).
    Bad formulas raise :class:`matloop.InputError` listing every bad row.
    """
    if isinstance(X, Compositions):
        return X, pd.RangeIndex(len(X))
    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise ValueError(
                f"composition featurizers take one column of formulas, got {X.shape[1]} columns "
                f"({list(X.columns)[:5]}); select the formula column first"
            )
        column = str(X.columns[0])
        X = X.iloc[:, 0]
    if isinstance(X, pd.Series):
        return parse_formulas(X.to_numpy(dtype=object), column=column), X.index
    values = np.asarray(X, dtype=object).reshape(-1)
    return parse_formulas(values, column=column), pd.RangeIndex(len(values))


class CompositionFeaturizer(TransformerMixin, BaseEstimator):
    """Base class: subclasses implement ``_feature_names`` and ``_featurize(comps) -> ndarray``.

    Featurizers are stateless: ``fit`` only records the input width, so they are safe to use in
    pipelines and cross-validation. ``transform`` returns a DataFrame with one column per feature.
    """

    #: references to cite when publishing results built on this featurizer
    CITATIONS: tuple[str, ...] = ()

    def fit(self, X=None, y=None):
        """No-op (kept for the scikit-learn API); returns self."""
        self.n_features_in_ = 1
        return self

    def transform(self, X) -> pd.DataFrame:
        """Featurize formulas (or Compositions) into a DataFrame, one row per input."""
        comps, index = as_compositions(X)
        names = self.get_feature_names_out()
        out = np.empty((len(comps), len(names)))
        for start in range(0, len(comps), CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, len(comps))
            out[start:stop] = self._featurize(comps.take(np.arange(start, stop)))
        return pd.DataFrame(out, columns=names, index=index)

    def get_feature_names_out(self, input_features: Iterable[str] | None = None) -> np.ndarray:
        """Feature names, stable across versions (matminer's names where we reproduce matminer)."""
        return np.asarray(self._feature_names(), dtype=object)

    def feature_labels(self) -> list[str]:
        """Human-readable labels for plots and reports (default: the feature names)."""
        return list(self.get_feature_names_out())

    def citations(self) -> list[str]:
        """References for this featurizer's method and data."""
        return list(self.CITATIONS)

    def _feature_names(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _featurize(self, comps: Compositions) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        return tags
