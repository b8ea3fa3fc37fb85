"""Diffraction patterns as features: one grid, background removed, smoothed, normalised, peaks found.

Patterns from different instruments differ in range, step and wavelength. Everything here works on
one common grid (2θ at a stated wavelength, or Q = 4π sin θ / λ in Å⁻¹, which does not depend on the
wavelength), as a 2-D array with one row per pattern, so each step is one vectorised call over all
patterns:

1. :func:`common_grid` / :func:`resample`: the range all patterns cover, at the coarsest median step
   among them (no pattern is interpolated finer than it was measured), linear interpolation.
2. :func:`remove_background`: a rolling-ball-like estimate (grey opening by a window wider than the
   peaks, then a moving average), subtracted; default window 3° 2θ (or 0.2 Å⁻¹), wider than the peaks
   of thin films and powders (FWHM 0.05–0.5°) and narrower than amorphous humps.
3. :func:`smooth`: Savitzky–Golay (window 7 points, order 2), which keeps peak heights and widths
   better than a moving average.
4. :func:`normalise`: each pattern divided by its highest point (relative intensities are what
   identify a phase; absolute counts depend on time, slit and sample).
5. :func:`find_peaks`: local maxima with a prominence of at least 3 % of the highest peak, with their
   positions, heights and full widths at half maximum (scipy.signal).

:class:`PatternFeaturizer` (the processed curve on the grid, for convolutional networks and NMF) and
:class:`PeakFeaturizer` (the strongest peaks and the highest intensity in fixed bins, for forests)
follow scikit-learn's transformer contract and report their settings in :meth:`describe`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from matloop.errors import InputError
from matloop.io.patterns import Pattern
from matloop.represent.estimator import LightTransformer

__all__ = ["Grid", "PatternFeaturizer", "PeakFeaturizer", "common_grid", "find_peaks", "normalise",
           "preprocess", "q_to_two_theta", "remove_background", "resample", "smooth", "two_theta_to_q"]

CITATIONS = (
    "Savitzky & Golay, Anal. Chem. 36, 1627 (1964) (smoothing)",
    "Oviedo et al., npj Comput. Mater. 5, 60 (2019) (XRD classification from thin-film patterns)",
)


def two_theta_to_q(two_theta: np.ndarray, wavelength: float) -> np.ndarray:
    """Q = 4π sin(θ) / λ in Å⁻¹ from 2θ in degrees and λ in Å."""
    return 4 * np.pi * np.sin(np.radians(np.asarray(two_theta, dtype=float)) / 2) / wavelength


def q_to_two_theta(q: np.ndarray, wavelength: float) -> np.ndarray:
    """2θ in degrees from Q in Å⁻¹; NaN where Q is beyond 4π/λ (not reachable at this wavelength)."""
    s = np.asarray(q, dtype=float) * wavelength / (4 * np.pi)
    with np.errstate(invalid="ignore"):
        return np.where(np.abs(s) <= 1, np.degrees(2 * np.arcsin(np.clip(s, -1, 1))), np.nan)


@dataclass(frozen=True)
class Grid:
    """An evenly spaced axis: ``start`` to ``stop`` by ``step`` in ``unit`` (``2theta`` at ``wavelength`` Å, or ``q``)."""

    start: float
    stop: float
    step: float
    unit: str = "2theta"
    wavelength: float | None = 1.5406

    @property
    def points(self) -> np.ndarray:
        n = int(np.floor((self.stop - self.start) / self.step + 1e-9)) + 1
        return self.start + self.step * np.arange(n)

    def to_dict(self) -> dict:
        return {"start": self.start, "stop": self.stop, "step": self.step, "unit": self.unit,
                "wavelength": self.wavelength}


def _axis(pattern: Pattern, unit: str, wavelength: float | None) -> np.ndarray:
    """The pattern's axis in ``unit`` (2θ at ``wavelength``), converting through Q where needed."""
    if pattern.unit == unit and (unit == "q" or pattern.wavelength == wavelength or wavelength is None):
        return pattern.x
    if pattern.unit == "2theta":
        if pattern.wavelength is None:
            raise InputError(f"{pattern.source}: 2θ without a wavelength cannot be converted")
        q = two_theta_to_q(pattern.x, pattern.wavelength)
    else:
        q = pattern.x
    if unit == "q":
        return q
    if wavelength is None:
        raise InputError("a 2θ grid needs a wavelength")
    return q_to_two_theta(q, wavelength)


def common_grid(patterns: Sequence[Pattern], unit: str = "2theta", wavelength: float | None = 1.5406,
                step: float | None = None) -> Grid:
    """The range every pattern covers, at ``step`` (default: the coarsest median step among them)."""
    axes = [_axis(p, unit, wavelength) for p in patterns]
    axes = [a[np.isfinite(a)] for a in axes]
    lo, hi = max(a[0] for a in axes), min(a[-1] for a in axes)
    if not hi > lo:
        raise InputError(f"the patterns share no common range ({unit}: the latest start {lo:.4g} is after the "
                         f"earliest end {hi:.4g}); give the grid explicitly")
    step = float(step) if step else float(max(np.median(np.diff(a)) for a in axes))
    return Grid(float(lo), float(hi), step, unit, wavelength if unit == "2theta" else None)


def resample(patterns: Sequence[Pattern], grid: Grid) -> np.ndarray:
    """Intensities on ``grid`` (one row per pattern; 0 outside a pattern's measured range)."""
    points = grid.points
    out = np.empty((len(patterns), len(points)))
    for i, pattern in enumerate(patterns):
        axis = _axis(pattern, grid.unit, grid.wavelength)
        keep = np.isfinite(axis)
        out[i] = np.interp(points, axis[keep], pattern.y[keep], left=0.0, right=0.0)
    return out


def remove_background(Y: np.ndarray, window: int) -> np.ndarray:
    """Subtract a rolling-ball-like background: grey opening (min then max filter) then a moving average."""
    from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d

    window = max(int(window), 3)
    opened = maximum_filter1d(minimum_filter1d(Y, window, axis=1, mode="nearest"), window, axis=1, mode="nearest")
    background = uniform_filter1d(opened, window, axis=1, mode="nearest")
    return np.clip(Y - np.minimum(background, Y), 0.0, None)


def smooth(Y: np.ndarray, window: int = 7, order: int = 2) -> np.ndarray:
    """Savitzky–Golay smoothing along each pattern (window in points, odd)."""
    from scipy.signal import savgol_filter

    window = max(int(window) | 1, order + 2 | 1)
    if Y.shape[1] <= window:
        return Y.copy()
    return savgol_filter(Y, window, order, axis=1, mode="interp")


def normalise(Y: np.ndarray) -> np.ndarray:
    """Each pattern divided by its maximum (all-zero patterns stay zero)."""
    top = Y.max(axis=1, keepdims=True)
    return np.divide(Y, top, out=np.zeros_like(Y), where=top > 0)


def preprocess(Y: np.ndarray, grid: Grid, background: float | None = None, smooth_window: int | None = 7,
               scale: bool = True) -> np.ndarray:
    """Background (window in axis units; None = the default, 0 = none), smoothing, normalisation."""
    if background is None:
        background = 3.0 if grid.unit == "2theta" else 0.2
    out = np.asarray(Y, dtype=float)
    if background:
        out = remove_background(out, int(round(background / grid.step)))
    if smooth_window:
        out = np.clip(smooth(out, smooth_window), 0.0, None)
    return normalise(out) if scale else out


def find_peaks(y: np.ndarray, x: np.ndarray, prominence: float = 0.03) -> pd.DataFrame:
    """Peaks of one processed pattern: ``position``, ``height``, ``fwhm`` (axis units), strongest first."""
    from scipy.signal import find_peaks as _find
    from scipy.signal import peak_widths

    top = float(np.max(y)) if len(y) else 0.0
    if top <= 0:
        return pd.DataFrame({"position": [], "height": [], "fwhm": []})
    at, _ = _find(y, prominence=prominence * top)
    widths = peak_widths(y, at, rel_height=0.5)[0] * float(np.mean(np.diff(x))) if len(at) else np.array([])
    table = pd.DataFrame({"position": x[at], "height": y[at], "fwhm": widths})
    return table.sort_values("height", ascending=False, kind="stable").reset_index(drop=True)


def _as_patterns(X) -> list[Pattern]:
    values = X.iloc[:, 0].tolist() if isinstance(X, pd.DataFrame) else list(X)
    if all(isinstance(v, Pattern) for v in values):
        return values
    from matloop.io.patterns import read_patterns

    return read_patterns([str(v) for v in values])


class PatternFeaturizer(LightTransformer):
    """The processed pattern on a common grid: one feature per grid point (``I(2θ=10.02)``).

    Parameters
    ----------
    unit : {"2theta", "q"}
        Axis of the grid; ``q`` compares patterns measured at different wavelengths.
    wavelength : float
        Å, for a 2θ grid (Cu Kα1 by default).
    grid : dict or None
        ``{"start", "stop", "step"}``; None: the range all training patterns share (:func:`common_grid`).
    background : float or None
        Background window in axis units (None: 3° 2θ or 0.2 Å⁻¹; 0: keep the background).
    smooth_window : int
        Savitzky–Golay window in points (0: no smoothing).
    """

    def __init__(self, unit: str = "2theta", wavelength: float = 1.5406, grid: dict | None = None,
                 background: float | None = None, smooth_window: int = 7):
        self.unit, self.wavelength, self.grid = unit, wavelength, grid
        self.background, self.smooth_window = background, smooth_window

    def fit(self, X, y=None):
        patterns = _as_patterns(X)
        if self.grid:
            self.grid_ = Grid(float(self.grid["start"]), float(self.grid["stop"]), float(self.grid["step"]),
                              self.unit, self.wavelength if self.unit == "2theta" else None)
        else:
            self.grid_ = common_grid(patterns, self.unit, self.wavelength)
        return self

    def transform_array(self, X) -> np.ndarray:
        patterns = _as_patterns(X)
        return preprocess(resample(patterns, self.grid_), self.grid_, self.background, self.smooth_window)

    def transform(self, X) -> pd.DataFrame:
        return pd.DataFrame(self.transform_array(X), columns=self.get_feature_names_out())

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        label = "2θ" if self.grid_.unit == "2theta" else "Q"
        return np.array([f"I({label}={v:.4g})" for v in self.grid_.points], dtype=object)

    def describe(self) -> str:
        g = self.grid_
        unit = f"2θ (λ = {g.wavelength} Å)" if g.unit == "2theta" else "Q (Å⁻¹)"
        bg = self.background if self.background is not None else (3.0 if g.unit == "2theta" else 0.2)
        return (f"{len(g.points)} points of {unit} from {g.start:.4g} to {g.stop:.4g} by {g.step:.4g}; "
                f"background window {bg:g}, Savitzky-Golay window {self.smooth_window}, scaled to the highest point")

    def citations(self) -> tuple[str, ...]:
        return CITATIONS


class PeakFeaturizer(PatternFeaturizer):
    """Peak features: the ``n_peaks`` strongest peaks (position, height, FWHM; 0 when fewer) and the
    highest processed intensity in bins of ``bin_width`` axis units over the grid (position-tolerant,
    for forests). Parameters as :class:`PatternFeaturizer`, plus ``n_peaks``, ``bin_width`` and
    ``prominence`` (fraction of the highest peak)."""

    def __init__(self, unit: str = "2theta", wavelength: float = 1.5406, grid: dict | None = None,
                 background: float | None = None, smooth_window: int = 7, n_peaks: int = 10,
                 bin_width: float | None = None, prominence: float = 0.03):
        super().__init__(unit, wavelength, grid, background, smooth_window)
        self.n_peaks, self.bin_width, self.prominence = n_peaks, bin_width, prominence

    def _bins(self) -> np.ndarray:
        width = self.bin_width or (1.0 if self.grid_.unit == "2theta" else 0.05)
        return np.arange(self.grid_.start, self.grid_.stop + width, width)

    def transform_array(self, X) -> np.ndarray:
        return self.features_of_processed(super().transform_array(X))

    def features_of_processed(self, processed: np.ndarray) -> np.ndarray:
        """Peak and bin features of patterns already resampled and processed on this featurizer's grid."""
        x = self.grid_.points
        edges = self._bins()
        which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
        binned = np.zeros((len(processed), len(edges) - 1))
        for b in range(len(edges) - 1):
            cols = which == b
            if cols.any():
                binned[:, b] = processed[:, cols].max(axis=1)
        peaks = np.zeros((len(processed), 3 * self.n_peaks))
        for i, row in enumerate(processed):
            table = find_peaks(row, x, self.prominence).head(self.n_peaks)
            k = len(table)
            peaks[i, 0:3 * k:3], peaks[i, 1:3 * k:3], peaks[i, 2:3 * k:3] = table["position"], table["height"], table["fwhm"]
        return np.hstack([peaks, binned])

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        label = "2θ" if self.grid_.unit == "2theta" else "Q"
        names = [f"peak {i} {what}" for i in range(1, self.n_peaks + 1) for what in ("position", "height", "fwhm")]
        edges = self._bins()
        names += [f"max I({label} {a:.4g}-{b:.4g})" for a, b in zip(edges[:-1], edges[1:], strict=True)]
        return np.array(names, dtype=object)
