"""Simulated diffraction patterns from structures, and physics-informed augmentation.

:func:`simulate_patterns` computes each structure's Bragg peaks with pymatgen's ``XRDCalculator``
(kinematic intensities with atomic scattering factors, Lorentz-polarisation and multiplicities) and
draws them on a :class:`~matloop.represent.diffraction.Grid` with pseudo-Voigt profiles whose width
comes from the crystallite size (Scherrer: FWHM = K λ / (L cos θ), K = 0.9) plus the instrument's.

:func:`augment` makes physically plausible variants of patterns, after Oviedo et al., npj Comput.
Mater. 5, 60 (2019), whose thin-film perovskite classifier was trained on patterns perturbed this
way. Every effect is a pure, vectorised function with stated parameter ranges
(:class:`Augmentation`), and the random generator is passed in:

- **strain** ε ∈ [-1 %, +1 %]: the lattice spacing scales by (1 + ε), so every peak moves to
  2θ' = 2 arcsin(sin θ / (1 + ε)) (in Q: Q' = Q / (1 + ε));
- **crystallite size** L ∈ [10, 100] nm: extra Gaussian broadening by Scherrer's width at the
  pattern's centre (stick patterns: per peak);
- **texture** (preferred orientation) amplitude τ ∈ [0, 0.5]: intensities scaled by a smooth random
  factor in [1 - τ, 1 + τ] along the axis (stick patterns: per peak), as March–Dollase-type texture
  changes peak ratios without moving peaks;
- **noise**: Poisson counting noise at a random count level plus Gaussian read noise (σ up to 1 % of
  the highest peak);
- **background**: a random smooth background (exponential decay plus a broad amorphous hump) up to
  5 % of the highest peak.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from matloop.represent.diffraction import Grid, q_to_two_theta, two_theta_to_q

__all__ = ["Augmentation", "augment", "peak_lists", "render_peaks", "simulate_patterns"]

SCHERRER_K = 0.9


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the physical perturbations (each drawn uniformly per pattern); 0 switches one off.

    Parameters
    ----------
    strain : float
        Largest |ε| (lattice strain, fraction): peaks shift by up to this relative change of d.
    size_nm : tuple of float
        Crystallite size range in nm for Scherrer broadening (``None``: no extra broadening).
    texture : float
        Largest texture amplitude τ: intensities scaled by factors in [1 - τ, 1 + τ].
    noise : float
        Largest Gaussian noise σ relative to the highest point; Poisson noise is added too when > 0.
    background : float
        Largest background height relative to the highest point.
    """

    strain: float = 0.01
    size_nm: tuple[float, float] | None = (10.0, 100.0)
    texture: float = 0.5
    noise: float = 0.01
    background: float = 0.05


def peak_lists(structures: Sequence, wavelength: float = 1.5406, two_theta_range: tuple[float, float] = (5, 90)
               ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Bragg peaks (2θ in degrees, intensity scaled to 100) of each structure (pymatgen ``XRDCalculator``)."""
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    calculator = XRDCalculator(wavelength=wavelength)
    out = []
    for structure in structures:
        pattern = calculator.get_pattern(structure, scaled=True, two_theta_range=two_theta_range)
        out.append((np.asarray(pattern.x, dtype=float), np.asarray(pattern.y, dtype=float)))
    return out


def _scherrer_fwhm(two_theta: np.ndarray, wavelength: float, size_nm: np.ndarray | float) -> np.ndarray:
    """FWHM in degrees 2θ from the crystallite size (nm) by Scherrer's equation."""
    theta = np.radians(two_theta) / 2
    return np.degrees(SCHERRER_K * wavelength / (np.asarray(size_nm) * 10.0 * np.cos(theta)))


def render_peaks(positions: np.ndarray, intensities: np.ndarray, grid: Grid, size_nm: float | None = 50.0,
                 instrument_fwhm: float = 0.05, eta: float = 0.5) -> np.ndarray:
    """Peaks (2θ in degrees at ``grid.wavelength``, or Q) drawn with pseudo-Voigt profiles on ``grid``."""
    x = grid.points
    pos = np.asarray(positions, dtype=float)
    if grid.unit == "q":  # widths are physical in 2θ; convert the peak and the axis
        wl = 1.5406
        centre_tt = q_to_two_theta(pos, wl)
        fwhm_tt = instrument_fwhm + (_scherrer_fwhm(centre_tt, wl, size_nm) if size_nm else 0.0)
        fwhm = two_theta_to_q(centre_tt + fwhm_tt / 2, wl) - two_theta_to_q(centre_tt - fwhm_tt / 2, wl)
    else:
        fwhm = instrument_fwhm + (_scherrer_fwhm(pos, grid.wavelength or 1.5406, size_nm) if size_nm else 0.0)
    fwhm = np.broadcast_to(np.asarray(fwhm, dtype=float), pos.shape)
    d = x[None, :] - pos[:, None]
    hw = fwhm[:, None] / 2
    gauss = np.exp(-np.log(2) * (d / hw) ** 2)
    lorentz = 1.0 / (1.0 + (d / hw) ** 2)
    return (np.asarray(intensities, dtype=float)[:, None] * (eta * lorentz + (1 - eta) * gauss)).sum(axis=0)


def simulate_patterns(structures: Sequence, grid: Grid, size_nm: float | None = 50.0,
                      instrument_fwhm: float = 0.05) -> np.ndarray:
    """One simulated pattern per structure on ``grid`` (rows scaled to a maximum of 1)."""
    wl = grid.wavelength or 1.5406
    if grid.unit == "q":
        tt_range = (max(float(q_to_two_theta(grid.start, wl)) - 2, 0.5), min(float(q_to_two_theta(grid.stop, wl)) + 2, 179))
    else:
        tt_range = (max(grid.start - 2, 0.5), min(grid.stop + 2, 179))
    out = []
    for tt, intensity in peak_lists(structures, wl, tt_range):
        pos = two_theta_to_q(tt, wl) if grid.unit == "q" else tt
        curve = render_peaks(pos, intensity, grid, size_nm, instrument_fwhm)
        out.append(curve / curve.max() if curve.max() > 0 else curve)
    return np.array(out).reshape(len(out), len(grid.points))


def _shift_axis(x: np.ndarray, grid: Grid, strain: np.ndarray) -> np.ndarray:
    """Where each grid point's intensity comes from when the lattice is strained by ``strain`` (n, 1)."""
    if grid.unit == "q":
        return x[None, :] * (1 + strain)
    s = np.sin(np.radians(x) / 2)[None, :] * (1 + strain)
    return np.degrees(2 * np.arcsin(np.clip(s, -1, 1)))


def augment(Y: np.ndarray, grid: Grid, n_copies: int, rng: np.random.Generator,
            settings: Augmentation = Augmentation()) -> tuple[np.ndarray, np.ndarray]:
    """``n_copies`` perturbed variants of every row of ``Y`` (patterns on ``grid``); returns the new
    patterns (scaled to a maximum of 1) and, for each, the index of the row it came from."""
    Y = np.asarray(Y, dtype=float)
    source = np.repeat(np.arange(len(Y)), n_copies)
    base = Y[source]
    n, x = len(base), grid.points
    out = base.copy()
    if settings.strain:  # peak shift: sample the original at the strained positions
        strain = rng.uniform(-settings.strain, settings.strain, size=(n, 1))
        origin = _shift_axis(x, grid, strain)
        out = np.vstack([np.interp(origin[i], x, out[i], left=0.0, right=0.0) for i in range(n)])
    if settings.size_nm:
        from scipy.ndimage import gaussian_filter1d

        sizes = rng.uniform(*settings.size_nm, size=n)
        centre = float(np.mean(x)) if grid.unit == "2theta" else float(q_to_two_theta(np.mean(x), 1.5406))
        fwhm_deg = _scherrer_fwhm(np.full(n, centre), grid.wavelength or 1.5406, sizes)
        if grid.unit == "q":
            fwhm_deg = fwhm_deg * (4 * np.pi / 1.5406) * np.cos(np.radians(centre) / 2) * np.pi / 360
        sigma_pts = fwhm_deg / 2.3548 / grid.step
        out = np.vstack([gaussian_filter1d(out[i], s) if s > 0.3 else out[i] for i, s in enumerate(sigma_pts)])
    if settings.texture:  # a smooth random factor along the axis: peak ratios change, positions do not
        knots = np.linspace(x[0], x[-1], 8)
        amp = rng.uniform(0, settings.texture, size=(n, 1))
        factors = 1 + amp * rng.uniform(-1, 1, size=(n, len(knots)))
        out = out * np.vstack([np.interp(x, knots, f) for f in factors])
    out = out / np.maximum(out.max(axis=1, keepdims=True), 1e-12)
    if settings.background:
        height = rng.uniform(0, settings.background, size=(n, 1))
        t = (x - x[0]) / max(x[-1] - x[0], 1e-12)
        decay = np.exp(-t[None, :] * rng.uniform(1, 5, size=(n, 1)))
        hump = np.exp(-((t[None, :] - rng.uniform(0.1, 0.5, size=(n, 1))) / 0.15) ** 2)
        out = out + height * (0.6 * decay + 0.4 * hump)
    if settings.noise:
        counts = rng.uniform(200, 5000, size=(n, 1))
        out = rng.poisson(np.clip(out, 0, None) * counts) / counts
        out = out + rng.normal(0, 1, size=out.shape) * rng.uniform(0, settings.noise, size=(n, 1))
    out = np.clip(out, 0, None)
    return out / np.maximum(out.max(axis=1, keepdims=True), 1e-12), source
