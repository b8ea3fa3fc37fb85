"""Formation-energy correction and E_hull std (matloop.design.stability_calibration) on generated errors,
and the shipped calibration file (its provenance and the correction it holds)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from matloop.design import stability_calibration as sc

ELEMENTS = ["O", "S", "Fe", "Ni", "Cu", "Al", "Ti", "Zn"]


def _compositions(n: int, seed: int) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        picks = rng.choice(ELEMENTS, size=int(rng.integers(2, 4)), replace=False)
        out.append({str(el): float(rng.integers(1, 5)) for el in picks})
    return out


def _frac(comp: dict[str, float], el: str) -> float:
    return comp.get(el, 0.0) / sum(comp.values())


def test_correction_round_trip_and_error():
    corr = sc.Correction("per_element", -0.1, {"O": -0.3, "Fe": 0.2}, 0.1)
    again = sc.Correction.from_dict(corr.to_dict())
    assert again == corr
    # amounts are normalised: Fe2O3 = 0.4 Fe + 0.6 O
    assert corr.error({"Fe": 2, "O": 3}) == pytest.approx(-0.1 + 0.4 * 0.2 + 0.6 * -0.3)
    assert corr.apply(-1.0, {"Fe": 2, "O": 3}) == pytest.approx(-1.0 - corr.error({"Fe": 2, "O": 3}))
    assert corr.error({"Cu": 1.0}) == pytest.approx(-0.1)  # an element not fitted: the mean term only
    assert sc.Correction.from_dict(None).error({"Fe": 1}) == 0.0 and sc.Correction.from_dict({}).kind == "none"
    assert "+0.150" in sc.Correction("bias", -0.15).describe()
    with pytest.raises(ValueError, match="correction kind"):
        sc.fit_correction([{"Fe": 1}], [0.1], "spline")


def test_per_element_shift_is_found_and_chosen():
    """Errors made of an oxygen reference shift: the per-element correction recovers it and wins CV."""
    comps = _compositions(150, 0)
    rng = np.random.default_rng(1)
    errors = np.array([-0.1 - 0.4 * _frac(c, "O") for c in comps]) + rng.normal(0, 0.02, len(comps))
    fitted = sc.fit_correction(comps, errors, "per_element", alpha=0.01)
    assert fitted.per_element["O"] - np.mean([fitted.per_element[e] for e in ELEMENTS if e != "O"]) == \
        pytest.approx(-0.4, abs=0.05)
    oof = sc.cross_validate(comps, errors, folds=5, seed=0)
    chosen, maes = sc.choose_correction(errors, oof)
    assert chosen[0] == "per_element" and maes[f"per_element:{chosen[1]:g}"] < 0.03 < maes["bias"] < maes["none"]
    assert all(np.isfinite(p).all() for p in oof.values())


def test_a_constant_error_chooses_the_simple_bias():
    """A constant error plus noise: the per-element fits are no better, so parsimony keeps the bias."""
    comps = _compositions(120, 2)
    errors = -0.15 + np.random.default_rng(3).normal(0, 0.05, len(comps))
    chosen, maes = sc.choose_correction(errors, sc.cross_validate(comps, errors, seed=0))
    assert chosen[0] in ("bias", "median") and maes["none"] > 0.12
    assert sc.fit_correction(comps, errors, "bias").bias == pytest.approx(errors.mean())
    assert sc.fit_correction(comps, errors, "median").bias == pytest.approx(np.median(errors))


def test_fit_std_matches_the_noise():
    """E_hull = truth + normal noise of 0.1: the Brier-optimal std is near 0.1, the Brier below the extremes."""
    rng = np.random.default_rng(4)
    true = rng.uniform(-0.4, 0.6, 3000)
    pred = true + rng.normal(0, 0.1, true.size)
    std, score = sc.fit_std(pred, true < 0.1, 0.1)
    assert 0.07 <= std <= 0.14
    assert score < sc.brier(sc.p_stable(pred, 0.02, 0.1), true < 0.1)
    assert score < sc.brier(sc.p_stable(pred, 0.6, 0.1), true < 0.1)
    assert sc.p_stable(np.array([0.1, np.nan]), 0.05, 0.1).tolist() == [0.5, 0.0]


def test_shipped_calibration_has_provenance_and_a_correction():
    from matloop.design.stability import load_calibration, load_correction

    cal = load_calibration()
    assert cal["e_hull_std"] > 0 and math.isfinite(cal["e_hull_std"])
    assert cal["n"] == len(cal["compounds"]) >= 50 and len(set(cal["compounds"])) == cal["n"]
    assert {"potential", "date", "source", "seed", "cv_mae"} <= set(cal) and "chgnet" in cal["potential"]
    corr = load_correction()
    assert corr.kind == cal["correction"]["kind"] and corr.kind in ("none", "bias", "median", "per_element")
