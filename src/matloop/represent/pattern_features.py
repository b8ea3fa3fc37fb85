"""The ``pattern`` input kind's default features: the processed curve and its peak features together.

``matloop fit patterns.csv --target space_group`` featurizes each pattern file once into one frame
that serves both candidate models of :class:`matloop.models.pattern_auto.PatternAutoClassifier`:

- ``I(2θ=...)`` columns: the processed pattern on the common grid
  (:class:`~matloop.represent.diffraction.PatternFeaturizer`), for the 1-D CNN
  (:class:`~matloop.models.diffraction_cnn.PatternCNNClassifier`);
- the peak columns of :class:`~matloop.represent.diffraction.PeakFeaturizer` (strongest peaks and
  binned maxima), for the forest.

The reading settings (``unit``, ``wavelength``, ``skip_invalid``) are parameters, so a saved model
reads new files exactly as the training files were read. The grid is kept as plain numbers
(``grid_start_``, ``grid_stop_``, ``grid_step_``) so that the fitted featurizer saves without pickle.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from matloop.io.patterns import CU_KALPHA1, Pattern
from matloop.represent.estimator import LightTransformer

__all__ = ["CURVE_PREFIX", "PatternFeatureSet", "curve_columns", "grid_from_columns"]

#: feature names of the processed curve start with this
CURVE_PREFIX = "I("


def curve_columns(columns) -> np.ndarray:
    """Positions of the processed-curve columns (``I(2θ=...)``) among feature names."""
    return np.array([j for j, c in enumerate(columns) if str(c).startswith(CURVE_PREFIX)], dtype=int)


def grid_from_columns(columns):
    """The :class:`~matloop.represent.diffraction.Grid` encoded by ``I(2θ=10.02)``-style names."""
    from matloop.represent.diffraction import Grid

    names = [str(c) for c in columns if str(c).startswith(CURVE_PREFIX)]
    unit = "q" if names and names[0].startswith("I(Q=") else "2theta"
    x = np.array([float(n.split("=", 1)[1].rstrip(")")) for n in names])
    step = float((x[-1] - x[0]) / (len(x) - 1)) if len(x) > 1 else 1.0  # names are rounded: keep the count
    return Grid(float(x[0]), float(x[0] + step * (len(x) - 1)), step, unit, CU_KALPHA1 if unit == "2theta" else None)


class PatternFeatureSet(LightTransformer):
    """Processed curve plus peak features of diffraction patterns (file paths or :class:`Pattern`).

    Parameters
    ----------
    unit : {"2theta", "q"}
        How the files' first column is read (2θ in degrees, or Q in Å⁻¹); also the grid's axis.
    wavelength : float
        Å, of 2θ files (Cu Kα1 by default); ``.xrdml`` files state their own.
    skip_invalid : bool
        Drop bad data lines of a file (reported when the table is read) instead of failing.
    n_peaks, bin_width : int, float or None
        As :class:`~matloop.represent.diffraction.PeakFeaturizer`.
    """

    def __init__(self, unit: str = "2theta", wavelength: float = CU_KALPHA1, skip_invalid: bool = False,
                 n_peaks: int = 10, bin_width: float | None = None):
        self.unit, self.wavelength, self.skip_invalid = unit, wavelength, skip_invalid
        self.n_peaks, self.bin_width = n_peaks, bin_width

    def _patterns(self, X) -> list[Pattern]:
        values = X.iloc[:, 0].tolist() if isinstance(X, pd.DataFrame) else list(X)
        if all(isinstance(v, Pattern) for v in values):
            return values
        from matloop.io.patterns import read_patterns
        from matloop.io.rows import source_rows

        rows = source_rows(X, len(values))
        return read_patterns([str(v) for v in values], rows=rows, unit=self.unit, wavelength=self.wavelength,
                             column=str(getattr(X, "name", None) or "file"), skip_invalid=self.skip_invalid)

    def _featurizers(self):
        from matloop.represent.diffraction import PatternFeaturizer, PeakFeaturizer

        grid = {"start": self.grid_start_, "stop": self.grid_stop_, "step": self.grid_step_}
        wl = self.wavelength if self.wavelength else CU_KALPHA1
        curve = PatternFeaturizer(self.unit, wl, grid)
        peaks = PeakFeaturizer(self.unit, wl, grid, n_peaks=self.n_peaks, bin_width=self.bin_width)
        return curve.fit([]), peaks.fit([])

    def fit(self, X, y=None) -> PatternFeatureSet:
        """The grid: the median start, stop and step of the training patterns (a pattern measured over a
        narrower range, e.g. a zoom on one peak, is zero outside it and reported, instead of shrinking
        every pattern to the range all share)."""
        from matloop.progress import say
        from matloop.represent.diffraction import _axis
        from matloop.represent.pattern_dask import current_scheduler

        wl = self.wavelength if self.unit == "2theta" else None
        scheduler = current_scheduler()
        if scheduler is not None and not self._given(X):  # files read on the cluster: only their ranges come back
            summary = self._summaries(X, scheduler, wl)
        else:
            patterns = self._patterns(X)
            axes = [a[np.isfinite(a)] for a in (_axis(p, self.unit, wl) for p in patterns)]
            summary = [(a[0], a[-1], np.median(np.diff(a)), p.source) for p, a in zip(patterns, axes, strict=True)]
        start = float(np.median([s[0] for s in summary]))
        stop = float(np.median([s[1] for s in summary]))
        step = float(np.median([s[2] for s in summary]))
        if not stop > start + 2 * step:
            from matloop.errors import InputError

            raise InputError(f"the patterns share no usable range ({start:.4g} to {stop:.4g})")
        self.grid_start_, self.grid_stop_, self.grid_step_ = start, stop, step
        partial = [s[3] for s in summary if s[0] > start + 1e-9 + step or s[1] < stop - 1e-9 - step]
        self.n_partial_ = len(partial)
        if partial:
            say(f"{len(partial)} of {len(summary)} patterns do not cover the whole grid ({start:.4g} to {stop:.4g}); "
                "they are zero outside their own range: " + ", ".join(str(s).rsplit("/", 1)[-1] for s in partial[:5])
                + (" ..." if len(partial) > 5 else ""))
        return self

    @staticmethod
    def _given(X) -> bool:
        values = X.iloc[:, 0].tolist() if isinstance(X, pd.DataFrame) else list(X)
        return all(isinstance(v, Pattern) for v in values)

    def _summaries(self, X, scheduler, wavelength) -> list[tuple]:
        from matloop.io.rows import source_rows
        from matloop.represent.pattern_dask import axis_summaries

        values = X.iloc[:, 0].tolist() if isinstance(X, pd.DataFrame) else list(X)
        options = {"unit": self.unit, "wavelength": self.wavelength, "skip_invalid": self.skip_invalid,
                   "column": str(getattr(X, "name", None) or "file")}
        return axis_summaries([str(v) for v in values], source_rows(X, len(values)), options, self.unit, wavelength,
                              scheduler)

    def transform(self, X) -> pd.DataFrame:
        """The features of every pattern; on the Dask cluster of an enclosing
        :func:`matloop.represent.feature_cache.options` block (``scheduler``) in batches, with the same result."""
        from matloop.represent.pattern_dask import current_scheduler, transform_patterns

        scheduler = current_scheduler()
        if scheduler is not None and not self._given(X):
            return transform_patterns(self, X, scheduler=scheduler)
        return self.transform_here(X)

    def transform_here(self, X) -> pd.DataFrame:
        """:meth:`transform` in this process."""
        from matloop.represent.diffraction import preprocess, resample

        patterns = self._patterns(X)
        curve, peaks = self._featurizers()
        processed = preprocess(resample(patterns, curve.grid_), curve.grid_, curve.background, curve.smooth_window)
        peak_part = peaks.features_of_processed(processed)  # the same grid and processing: no second pass
        names = [*curve.get_feature_names_out(), *peaks.get_feature_names_out()]
        return pd.DataFrame(np.hstack([processed, peak_part]), columns=names)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        curve, peaks = self._featurizers()
        return np.array([*curve.get_feature_names_out(), *peaks.get_feature_names_out()], dtype=object)

    def describe(self) -> str:
        curve, _ = self._featurizers()
        return curve.describe() + f"; plus the {self.n_peaks} strongest peaks and binned maxima"

    def citations(self) -> tuple[str, ...]:
        from matloop.represent.diffraction import CITATIONS

        return CITATIONS
