"""Which columns of a pattern table a curve model reads, and the grid they lie on.

The pattern classifiers (:class:`~matloop.models.diffraction_cnn.PatternCNNClassifier`,
:class:`~matloop.models.pattern_match.PatternMatchClassifier`) read the resampled curve, the
``I(2θ=...)`` / ``I(Q=...)`` columns of :class:`~matloop.represent.pattern_features.PatternFeatureSet`,
and skip the peak features beside it. They remember those columns and the grid at fit time (as plain
lists, so that the model saves without pickle), and refuse a table of another width.
"""

from __future__ import annotations

import numpy as np


class CurveInputMixin:
    """``_select(X, fit)``: the curve columns as a float array; ``_grid()``: their grid, or ``None``."""

    def _select(self, X, fit: bool = False) -> np.ndarray:
        import pandas as pd

        from matloop.represent.pattern_features import curve_columns, grid_from_columns

        if fit:
            self.n_features_in_ = int(np.shape(X)[1])
            cols = curve_columns(X.columns) if isinstance(X, pd.DataFrame) else np.array([], dtype=int)
            self.columns_ = cols if len(cols) else np.arange(self.n_features_in_)
            self.grid_ = None
            if isinstance(X, pd.DataFrame) and len(cols) > 1:
                g = grid_from_columns(X.columns)
                self.grid_ = [g.start, g.stop, g.step, g.unit]
        if int(np.shape(X)[1]) != self.n_features_in_:
            raise ValueError(f"X has {np.shape(X)[1]} features; the model was fitted on {self.n_features_in_}")
        values = X.to_numpy(dtype=float) if isinstance(X, pd.DataFrame) else np.asarray(X, dtype=float)
        return np.nan_to_num(values[:, self.columns_])

    def _grid(self):
        from matloop.io.patterns import CU_KALPHA1
        from matloop.represent.diffraction import Grid

        if self.grid_ is None:
            return None
        start, stop, step, unit = self.grid_
        return Grid(float(start), float(stop), float(step), str(unit), CU_KALPHA1 if unit == "2theta" else None)
