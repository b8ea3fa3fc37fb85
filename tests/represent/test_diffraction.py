"""Pattern processing and simulation: axis conversion, grids, background, peaks, Bragg positions, augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from matloop.io.patterns import Pattern
from matloop.represent.diffraction import (
    Grid,
    PatternFeaturizer,
    PeakFeaturizer,
    common_grid,
    find_peaks,
    preprocess,
    q_to_two_theta,
    resample,
    two_theta_to_q,
)
from matloop.represent.diffraction_sim import Augmentation, augment, render_peaks

CU, MO = 1.5406, 0.7093


def _gauss(x, centre, fwhm, height=1.0):
    return height * np.exp(-4 * np.log(2) * ((x - centre) / fwhm) ** 2)


def test_two_theta_and_q():
    d = 3.1355  # Si (111)
    q = two_theta_to_q(28.443, CU)
    assert q == pytest.approx(2 * np.pi / d, rel=1e-3)
    assert q_to_two_theta(q, CU) == pytest.approx(28.443)
    assert np.isnan(q_to_two_theta(20.0, CU))  # beyond 4π/λ


def test_common_grid_and_resample():
    a = Pattern(np.arange(10, 60, 0.02), np.ones(2500))
    b = Pattern(np.arange(5, 50, 0.04), np.ones(1125))
    grid = common_grid([a, b])
    assert grid.start == pytest.approx(10) and grid.stop == pytest.approx(49.96) and grid.step == pytest.approx(0.04)
    Y = resample([a, b], grid)
    assert Y.shape == (2, len(grid.points)) and np.allclose(Y, 1)


def test_q_grid_merges_wavelengths():
    qs = np.linspace(1.0, 4.0, 3000)
    peak_q = 2.5
    patterns = [Pattern(q_to_two_theta(qs, wl), _gauss(qs, peak_q, 0.02), wavelength=wl) for wl in (CU, MO)]
    grid = common_grid(patterns, unit="q")
    Y = resample(patterns, grid)
    at = grid.points[Y.argmax(axis=1)]
    assert np.allclose(at, peak_q, atol=grid.step)


def test_background_removed_and_peaks_found():
    x = np.arange(10, 70, 0.02)
    y = 50 + 0.5 * x + _gauss(x, 25.0, 0.2, 100) + _gauss(x, 41.0, 0.4, 40)
    grid = Grid(10, 69.98, 0.02)
    processed = preprocess(y[None, :], grid)[0]
    assert processed.max() == pytest.approx(1.0) and processed[(x > 30) & (x < 38)].max() < 0.02
    peaks = find_peaks(processed, x)
    assert peaks["position"].round(1).tolist()[:2] == [25.0, 41.0]
    assert peaks["fwhm"][0] == pytest.approx(0.2, rel=0.15) and peaks["height"][1] == pytest.approx(0.4, rel=0.1)


def test_featurizers_shapes_and_names():
    x = np.arange(10, 60, 0.05)
    patterns = [Pattern(x, 5 + _gauss(x, c, 0.3, 100)) for c in (20, 30, 40)]
    f = PatternFeaturizer().fit(patterns)
    out = f.transform(patterns)
    assert out.shape == (3, len(f.grid_.points)) and out.columns[0].startswith("I(2θ=10")
    assert "background window 3" in f.describe()
    p = PeakFeaturizer(n_peaks=2, bin_width=10).fit(patterns)
    table = p.transform(patterns)
    assert table["peak 1 position"].round(0).tolist() == [20, 30, 40]
    assert table.shape[1] == 6 + 5 and table["peak 2 height"].eq(0).all()


def test_render_peaks_scherrer_width():
    grid = Grid(20, 40, 0.005)
    narrow = render_peaks(np.array([30.0]), np.array([1.0]), grid, size_nm=100, instrument_fwhm=0.0, eta=0.0)
    wide = render_peaks(np.array([30.0]), np.array([1.0]), grid, size_nm=10, instrument_fwhm=0.0, eta=0.0)
    fwhm = [find_peaks(c, grid.points)["fwhm"][0] for c in (narrow, wide)]
    expected_10nm = np.degrees(0.9 * CU / (100 * np.cos(np.radians(15))))  # Scherrer at 10 nm
    assert fwhm[1] == pytest.approx(expected_10nm, rel=0.05) and fwhm[0] == pytest.approx(expected_10nm / 10, rel=0.1)


def test_bragg_peaks_of_rock_salt():
    pytest.importorskip("pymatgen.analysis.diffraction.xrd")
    from pymatgen.core import Lattice, Structure

    from matloop.represent.diffraction_sim import peak_lists, simulate_patterns

    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    tt, intensity = peak_lists([nacl])[0]
    d = 5.64 / np.sqrt([3, 4, 8])  # (111), (200), (220)
    expected = np.degrees(2 * np.arcsin(CU / (2 * d)))
    for e in expected:
        assert np.min(np.abs(tt - e)) < 0.01
    assert tt[np.argmax(intensity)] == pytest.approx(expected[1], abs=0.01)  # (200) is the strongest
    grid = Grid(20, 60, 0.02)
    curve = simulate_patterns([nacl], grid)[0]
    assert grid.points[curve.argmax()] == pytest.approx(expected[1], abs=0.05) and curve.max() == pytest.approx(1)


def test_augmentation_is_physical_and_reproducible():
    grid = Grid(20, 60, 0.02)
    base = render_peaks(np.array([30.0, 45.0]), np.array([1.0, 0.5]), grid)[None, :]
    base /= base.max()
    out, source = augment(base, grid, 20, np.random.default_rng(0))
    again, _ = augment(base, grid, 20, np.random.default_rng(0))
    assert out.shape == (20, base.shape[1]) and (source == 0).all() and np.array_equal(out, again)
    assert out.min() >= 0 and np.allclose(out.max(axis=1), 1)
    shifts = []
    for seed in range(10):
        strained, _ = augment(base, grid, 1, np.random.default_rng(seed),
                              Augmentation(strain=0.01, size_nm=None, texture=0, noise=0, background=0))
        shifts.append(grid.points[strained[0].argmax()] - 30.0)
    assert max(np.abs(shifts)) <= 0.32 and max(np.abs(shifts)) > 0.1  # |Δ2θ| <= 2 ε tan θ = 0.31° at 30°
