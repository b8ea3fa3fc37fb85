"""Common machinery of composition featurizers: input coercion, chunking, names, citations.

The base class follows scikit-learn's transformer contract without importing scikit-learn
(:class:`matloop.represent.estimator.LightTransformer`): ``matloop featurize`` and scripts that only
featurize start 0.7 s faster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from matloop.errors import InputError
from matloop.io.formula import Compositions, parse_formulas
from matloop.io.rows import source_rows
from matloop.represent.api import FeaturizerAPI
from matloop.represent.estimator import LightTransformer

if TYPE_CHECKING:  # pandas is imported by the methods that build frames: `matloop featurize` on a formula
    import pandas as pd  # list computes features without loading it (cli/commands/_featurize_fast.py)

CHUNK_ROWS = 100_000  # rows featurized at once: bounds peak memory on huge columns


def as_compositions(X, column: str = "formula") -> tuple[Compositions, pd.Index]:
    """Coerce formulas (list, array, Series, one-column DataFrame) or Compositions.

    Returns the compositions and the index to give the output (the input's own when it has one).
    Bad formulas raise :class:`matloop.InputError` listing every bad row.
    """
    import pandas as pd

    if isinstance(X, Compositions):
        return X, pd.RangeIndex(len(X))
    values, index, column = formula_values(X, column)
    return parse_formulas(values, column=column), index


def formula_values(X, column: str = "formula") -> tuple[np.ndarray, pd.Index, str]:
    """The formula strings of ``X`` as an object array, the output index and the column name."""
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise ValueError(
                f"composition featurizers take one column of formulas, got {X.shape[1]} columns "
                f"({list(X.columns)[:5]}); select the formula column first"
            )
        column = str(X.columns[0])
        X = X.iloc[:, 0]
    if isinstance(X, pd.Series):
        return X.to_numpy(dtype=object), X.index, column if X.name is None else str(X.name)
    values = np.asarray(X, dtype=object).reshape(-1)
    return values, pd.RangeIndex(len(values)), column


def slice_compositions(comps: Compositions, start: int, stop: int) -> Compositions:
    """Rows ``start:stop`` of ``comps`` as views (no copy, unlike ``Compositions.take``)."""
    lo, hi = int(comps.indptr[start]), int(comps.indptr[stop])
    return Compositions(comps.indptr[start : stop + 1] - lo, comps.z[lo:hi], comps.amount[lo:hi])


class CompositionFeaturizer(FeaturizerAPI, LightTransformer):
    """Base class: subclasses implement ``_feature_names`` and ``_featurize(comps) -> ndarray``.

    Featurizers are stateless: ``fit`` only records the input width, so they are safe to use in
    pipelines and cross-validation. ``transform`` returns a DataFrame with one column per feature.
    A scikit-learn transformer (``get_params``, ``set_params``, ``clone``, pipelines, ``set_output``)
    that does not import scikit-learn; it is not a ``sklearn.base.BaseEstimator`` subclass.
    """

    def fit(self, X=None, y=None):
        """No-op (kept for the scikit-learn API); returns self."""
        self.n_features_in_ = 1
        return self

    def transform(self, X) -> pd.DataFrame:
        """Featurize formulas (or Compositions) into a DataFrame, one row per input.

        Formulas are parsed and featurized in chunks of ``CHUNK_ROWS`` rows written straight into
        the output array, so peak memory is the output plus one chunk's temporaries. Bad formulas
        raise :class:`matloop.InputError` listing every bad row of the whole input.
        """
        import pandas as pd

        names = self.get_feature_names_out()
        if isinstance(X, Compositions):
            comps, index, values, column = X, pd.RangeIndex(len(X)), None, ""
        else:
            values, index, column = formula_values(X)
        n = len(index)
        labels = source_rows(X, n)  # the user's file rows when X comes from a Dataset
        out = np.empty((n, len(names)))
        problems = []
        for start in range(0, n, CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, n)
            if values is None:
                chunk = slice_compositions(comps, start, stop)
            else:
                chunk, table = parse_formulas(values[start:stop], column=column,
                                              rows=labels[start:stop], errors="collect")
                if len(table):
                    problems.append(table)
                if problems:  # the call fails: keep reading, to report every bad row at once
                    continue
            if not self._featurize_into(chunk, out[start:stop]):
                out[start:stop] = self._featurize(chunk)
        if problems:
            raise InputError(f"Could not read column '{column}'", pd.concat(problems, ignore_index=True))
        return pd.DataFrame(out, columns=names, index=index, copy=False)

    def _featurize(self, comps: Compositions) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _featurize_into(self, comps: Compositions, out: np.ndarray) -> bool:
        """Optional fast path: write the features into ``out`` (C-contiguous) and return True.

        The default returns False, and ``transform`` then copies the result of ``_featurize``.
        """
        return False

    def _featurize_columns_into(self, comps: Compositions, out: np.ndarray) -> bool:
        """Optional: the features of ``_featurize_into`` transposed, one feature per row of ``out``
        (shape ``(n_features, n)``), for column stores (``matloop featurize`` to Parquet); True when
        written. The default returns False and the caller transposes ``_featurize_into``'s result.
        """
        return False

