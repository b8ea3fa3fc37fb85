import numpy as np
import pytest

from matloop.design.acquisition import Objective
from matloop.design.multiobjective import (
    ChimeraGoal,
    chimera,
    expected_hypervolume_improvement,
    hypervolume,
    hypervolume_improvement,
    pareto_mask,
    parse_constraint,
    probability_of_feasibility,
)


def test_pareto_mask_matches_brute_force():
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(300, 3))
    brute = np.array([not np.any(np.all(Y >= y, axis=1) & np.any(Y > y, axis=1)) for y in Y])
    assert np.array_equal(pareto_mask(Y), brute)


def test_hypervolume_2d_union_of_rectangles():
    Y = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [1.5, 1.5]])
    assert hypervolume(Y, np.zeros(2)) == pytest.approx(3 + 2 + 1)


def test_hypervolume_3d_matches_monte_carlo():
    rng = np.random.default_rng(1)
    Y = rng.uniform(0.2, 1.0, size=(12, 3))
    pts = rng.uniform(0, 1, size=(200000, 3))
    dominated = np.zeros(len(pts), dtype=bool)
    for y in Y:
        dominated |= np.all(pts <= y, axis=1)
    assert hypervolume(Y, np.zeros(3)) == pytest.approx(dominated.mean(), abs=0.005)


def test_hypervolume_improvement_and_ehvi_prefer_points_beyond_the_front():
    front = np.array([[1.0, 3.0], [3.0, 1.0]])
    new = np.array([[2.5, 2.5], [0.5, 0.5]])
    hvi = hypervolume_improvement(new, front, np.zeros(2))
    assert hvi[0] == pytest.approx(7.25 - 5.0) and hvi[1] == 0.0
    ehvi = expected_hypervolume_improvement(new, np.full((2, 2), 0.1), front, np.zeros(2))
    assert ehvi[0] > 1.5 and ehvi[1] < 1e-6


def test_chimera_respects_the_hierarchy():
    goals = [ChimeraGoal(Objective("max"), 0.2), ChimeraGoal(Objective("min"), 0.0)]
    Y = np.array([[10.0, 5.0],   # best on goal 1, poor on goal 2
                  [9.5, 1.0],    # within tolerance on goal 1, best on goal 2 -> winner
                  [2.0, 0.0]])   # fails goal 1 tolerance despite perfect goal 2
    merit = chimera(Y, goals)
    assert np.argmax(merit) == 1 and np.argmin(merit) == 2


def test_constraints():
    assert parse_constraint("density < 8") == ("density", None, 8.0)
    assert parse_constraint("gap >= 1.1") == ("gap", 1.1, None)
    assert parse_constraint("1 <= gap <= 2") == ("gap", 1.0, 2.0)
    with pytest.raises(ValueError, match="cannot read constraint"):
        parse_constraint("density about 8")
    p = probability_of_feasibility(np.array([6.0, 8.0, 10.0]), np.ones(3), high=8.0)
    assert p[0] > 0.97 and p[1] == pytest.approx(0.5) and p[2] < 0.03


def test_constraint_columns_keep_their_spaces():
    """'purity (%) > 60' names the column 'purity (%)' (spaces were stripped: 'purity(%)', not found)."""
    from matloop.design.multiobjective import parse_constraint

    assert parse_constraint("purity (%) > 60") == ("purity (%)", 60.0, None)
    assert parse_constraint("  1 <= band gap (eV) <= 2.5 ") == ("band gap (eV)", 1.0, 2.5)
    assert parse_constraint("density<8") == ("density", None, 8.0)
    assert parse_constraint("x >= -1e-3") == ("x", -0.001, None)
    for bad in ("< 8", "density <", "density < x", "a = 3"):
        with pytest.raises(ValueError):
            parse_constraint(bad)
