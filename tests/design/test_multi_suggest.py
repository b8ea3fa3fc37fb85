"""Several goals: exact hypervolume gains from boxes, batches that spread along the front, partial
targets, ParEGO, Chimera and constraints (generated problems with a known front)."""

import numpy as np
import pandas as pd
import pytest

from matloop.design.goals import Goal
from matloop.design.multi_suggest import front_of, output_columns, rank_multi, suggest_multi
from matloop.design.multiobjective import (
    dominated_boxes,
    hvi_from_boxes,
    hypervolume,
    hypervolume_improvement,
    pareto_mask,
)
from matloop.errors import InputError
from matloop.io.dataset import Dataset


@pytest.mark.parametrize("m", [2, 3, 4])
def test_boxes_give_the_exact_hypervolume_and_gains(m):
    rng = np.random.default_rng(m)
    front = rng.random((12, m))
    front = np.vstack([front, front[:2]])  # duplicates and dominated points are fine
    ref = np.full(m, -0.1)
    lows, highs = dominated_boxes(front, ref)
    assert np.prod(highs - lows, axis=1).sum() == pytest.approx(hypervolume(front, ref), rel=1e-12)
    Y = rng.random((40, m)) * 1.3 - 0.1
    assert np.allclose(hvi_from_boxes(Y, ref, lows, highs), hypervolume_improvement(Y, front, ref), atol=1e-12)


def _trade_off(n=15, n_measured=12, seed=0):
    """x0 trades goal a against goal b; x1 = 1 is the Pareto front."""
    g = np.linspace(0, 1, n)
    X = np.array([(a, b) for a in g for b in g])
    Y = np.column_stack([X[:, 0] + 0.3 * X[:, 1], 1 - X[:, 0] + 0.3 * X[:, 1]])
    meas = np.random.default_rng(seed).choice(len(X), n_measured, replace=False)
    cand = np.setdiff1d(np.arange(len(X)), meas)
    return X, Y, meas, cand


def test_the_batch_covers_the_front_not_one_corner():
    X, Y, meas, cand = _trade_off()
    goals = [Goal("a", "max"), Goal("b", "max")]
    r = rank_multi(X[meas], Y[meas], X[cand], pd.DataFrame(X[cand], columns=["x0", "x1"]), goals, batch=4)
    chosen = r.chosen
    assert list(chosen.columns) == ["x0", "x1", *output_columns(goals)]
    assert (chosen["x1"] >= 0.85).all()  # every pick on (or next to) the true front
    assert chosen["x0"].max() - chosen["x0"].min() >= 0.5  # spread along it
    assert len(set(r.chosen_positions)) == 4
    assert chosen["p_nondominated"].between(0, 1).all() and (chosen["ehvi"] >= 0).all()
    assert chosen["reason"].str.contains("hypervolume").all()
    assert chosen["reason"].iloc[1].count("given the 1 pick above") == 1


def test_parego_and_chimera():
    X, Y, meas, cand = _trade_off()
    frame = pd.DataFrame(X[cand], columns=["x0", "x1"])
    par = rank_multi(X[meas], Y[meas], X[cand], frame, [Goal("a"), Goal("b")], batch=4, scalarize="parego").chosen
    assert len(par) == 4 and (par["x1"] >= 0.7).all()
    # Chimera: goal a first with a tight tolerance, so the picks maximise a; b only breaks ties
    chi = rank_multi(X[meas], Y[meas], X[cand], frame, [Goal("a", tolerance=0.05), Goal("b")], batch=3,
                     scalarize="chimera").chosen
    assert (chi["x0"] >= 0.7).all()
    assert chi["reason"].str.contains("Chimera").all()


def test_a_window_goal_and_a_constraint():
    X, Y, meas, cand = _trade_off()
    frame = pd.DataFrame(X[cand], columns=["x0", "x1"])
    # b must land in [0.9, 1.0]: with b = 1 - x0 + 0.3 x1 that favours small x0 on the front
    r = rank_multi(X[meas], Y[meas], X[cand], frame, [Goal("a"), Goal("b", "range", 0.9, 1.0)], batch=3)
    assert len(r.chosen) == 3
    cons = [(X[meas], X[meas, 0], None, 0.4, "x0")]  # x0 < 0.4 (measured on the same rows)
    c = rank_multi(X[meas], Y[meas], X[cand], frame, [Goal("a"), Goal("b")], batch=3, constraints=cons).chosen
    assert (c["x0"] <= 0.5).all() and "p_feasible" in c and c["reason"].str.contains("constraints met").all()


def test_targets_measured_on_some_rows_are_data():
    X, Y, meas, cand = _trade_off(n_measured=20)
    frame = pd.DataFrame(X, columns=["x0", "x1"])
    frame["a"], frame["b"] = np.nan, np.nan
    frame.loc[meas, "a"] = Y[meas, 0]
    frame.loc[meas[:6], "b"] = Y[meas[:6], 1]  # b measured on 6 rows only
    ds = Dataset(frame=frame, input=None, kind="parameters", targets=["a", "b"])
    out = suggest_multi(ds, [Goal("a"), Goal("b")], batch=3)
    assert out[["a", "b"]].isna().all().all()  # only rows with no goal measured are candidates
    assert out.attrs["n_measured"] == 20 and out.attrs["n_candidates"] == len(X) - 20
    assert np.isfinite(out["b_pred"]).all()
    frame.loc[meas[1:6], "b"] = np.nan  # one measurement of b: no model of b yet, so a space-filling batch
    cold = suggest_multi(Dataset(frame=frame, input=None, kind="parameters", targets=["a", "b"]),
                         [Goal("a"), Goal("b")], batch=3)
    assert len(cold) == 3 and cold["reason"].str.contains(r"space-filling batch .*b \(1\)").all()
    assert cold["b_pred"].isna().all()


def test_front_of_measured_values():
    Y = np.array([[1.0, 5.0], [2.0, 4.0], [1.5, 3.0], [3.0, np.nan]])
    f = front_of(Y, [Goal("a", "max"), Goal("b", "min")])
    # maximise a, minimise b: (1.5, 3) and (2, 4) are on the front; (1, 5) is dominated; a blank is not
    assert f.mask.tolist() == [False, True, True, False]
    assert f.hypervolume > 0
    assert pareto_mask(np.array([[2.0, -4.0], [1.5, -3.0]])).all()


def test_multi_benchmark_curves():
    from matloop.design.multi_simulate import hypervolume_fraction, multi_benchmark

    X, Y, _, _ = _trade_off(n=8)
    goals = [Goal("a"), Goal("b")]
    assert hypervolume_fraction(Y, goals)(np.arange(len(Y))) == pytest.approx(1.0)
    res = multi_benchmark(X, Y, goals, ["default", "random"], runs=2, n_initial=4, budget=10, batch=3)
    for name in ("default", "random"):
        c = res.curves[name]
        assert c.shape == (2, 10) and np.all(np.diff(c, axis=1) >= -1e-12) and c.max() <= 1 + 1e-12
    np.testing.assert_allclose(res.curves["default"][:, :4], res.curves["random"][:, :4])  # the same start
    assert set(res.summary()["strategy"]) == {"default", "random"}
    with pytest.raises(InputError, match="unknown strategies"):
        multi_benchmark(X, Y, goals, ["gp-ei"], runs=1, n_initial=4, budget=6)
