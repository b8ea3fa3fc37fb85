"""Several goals with outcome constraints and Chimera tolerances: a measured row that breaks a constraint
is data but never on the front (suggest and campaign status), and ``@TOL`` selects Chimera and is shown
(generated problems with a known front)."""

import numpy as np
import pandas as pd

from matloop.cli.main import main
from matloop.design.goals import Goal
from matloop.design.multi_options import default_scalarize, goals_words, violations
from matloop.design.multi_suggest import rank_multi


def test_violations_reads_measured_values_only():
    frame = pd.DataFrame({"d": [1.0, 9.0, np.nan, 8.0], "e": [0.0, 0.0, 0.0, 5.0]})
    assert violations(frame, ["d < 8"]).tolist() == [False, True, False, False]  # the bound itself is allowed
    assert violations(frame, ["d < 8", "1 <= e <= 4"]).tolist() == [True, True, True, True]
    assert not violations(frame, None).any()


def test_an_infeasible_row_is_not_on_the_front():
    g = np.linspace(0, 1, 12)
    X = np.array([(a, b) for a in g for b in g])
    Y = np.column_stack([X[:, 0] + 0.3 * X[:, 1], 1 - X[:, 0] + 0.3 * X[:, 1], X[:, 1]])
    meas = np.random.default_rng(0).choice(len(X), 15, replace=False)
    cand = np.setdiff1d(np.arange(len(X)), meas)
    Xm, Ym = X[meas].copy(), Y[meas].copy()
    Ym[0] = Y.max(axis=0) + 1.0  # a measured row better than anything possible on every goal...
    bad = np.zeros(len(meas), dtype=bool)
    bad[0] = True  # ...that breaks a constraint
    goals = [Goal("a", "max"), Goal("b", "max"), Goal("c", "max")]
    frame = pd.DataFrame(X[cand], columns=["x0", "x1"])
    blind = rank_multi(Xm, Ym, X[cand], frame, goals, batch=2).chosen
    aware = rank_multi(Xm, Ym, X[cand], frame, goals, batch=2, infeasible=bad).chosen
    assert blind["p_nondominated"].max() < 0.5  # everything looks (likely) dominated by the unusable row
    assert aware["p_nondominated"].min() > blind["p_nondominated"].max() + 0.3 and (aware["ehvi"] > 0).all()


def test_tolerances_select_chimera_and_are_shown():
    goals = [Goal("a", "max", tolerance=0.2), Goal("b", "min")]
    assert default_scalarize(goals, None) == "chimera" and default_scalarize(goals, "ehvi") == "ehvi"
    assert default_scalarize([Goal("a"), Goal("b")], None) is None
    words = goals_words(goals, "chimera", ["d < 8"])
    assert "Chimera hierarchy" in words and "within 0.2 of its observed range" in words
    assert words.endswith("subject to d < 8")
    assert "apply to --scalarize chimera only, not parego" in goals_words(goals, "parego")


def _table(path, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((60, 2))
    f = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "a": x[:, 0] + 0.3 * x[:, 1], "b": 1 - x[:, 0] + 0.3 * x[:, 1],
                      "c": x[:, 1] + 0.1 * x[:, 0], "d": 10 * x[:, 1]})
    f.loc[12:, ["a", "b", "c", "d"]] = np.nan
    f.loc[0, ["x0", "x1", "a", "b", "c", "d"]] = [0.5, 1.0, 9.0, 9.0, 9.0, 20.0]  # best on all, breaks d < 8
    f.to_csv(path, index=False)
    return f


def test_campaign_status_front_leaves_out_rows_breaking_a_constraint(tmp_path, capsys):
    _table(tmp_path / "t.csv").drop(columns="d").to_csv(tmp_path / "no_d.csv", index=False)
    db = str(tmp_path / "c.db")
    goals = ["--goal", "a:max", "--goal", "b:max@0.1", "--goal", "c:max"]
    assert main(["campaign", "new", "k", "--db", db, "--pool", str(tmp_path / "no_d.csv"), *goals, "-q"]) == 0
    plain = capsys.readouterr().out
    assert "Pareto front: 1 rows" in plain  # the row best on every goal is the whole front
    assert "in this order (Chimera hierarchy)" in plain  # @TOL: Chimera
    assert main(["campaign", "new", "kc", "--db", db, "--pool", str(tmp_path / "t.csv"), *goals,
                 "--constraint", "d < 8", "-q"]) == 0
    out = capsys.readouterr().out
    assert "subject to d < 8" in out and "Pareto front: 1 rows" not in out
    assert "x0 = 0.5, x1 = 1," not in out  # the row breaking the constraint is not on the front
    assert main(["suggest", str(tmp_path / "t.csv"), *goals, "--constraint", "d < 8", "--scalarize", "ehvi",
                 "--batch", "2", "-o", str(tmp_path / "n.csv"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "(the @TOL tolerances apply to --scalarize chimera only, not ehvi); subject to d < 8" in out
    chosen = pd.read_csv(tmp_path / "n.csv")
    assert len(chosen) == 2 and (chosen["p_nondominated"] > 0.2).all()  # not all dominated by the unusable row


def test_goal_warp_is_a_bijection_and_ehvi_samples_in_its_space(monkeypatch):
    from matloop.design import multi_options
    from matloop.design.multi_options import GoalWarp

    rng = np.random.default_rng(0)
    for y in (rng.lognormal(size=30), -rng.exponential(size=30), rng.normal(size=30)):
        w = GoalWarp(y)
        assert 0.0 <= w.lam <= 2.0 and np.allclose(w.inverse(w.forward(y)), y)
        back = w.inverse(np.linspace(-20, 20, 101))
        assert np.isfinite(back).all() and np.all(np.diff(back) >= 0)  # monotone, bounded extrapolation
        assert back.max() <= y.max() + np.ptp(y) + 1e-9
    x = rng.random((80, 2))
    Y = np.column_stack([np.exp(8 * x[:, 0]), 1 - x[:, 0] + x[:, 1]])  # goal a heavy-tailed (skewness > 1)
    frame = pd.DataFrame(x[20:], columns=["x0", "x1"])
    goals = [Goal("a", "max"), Goal("b", "max")]
    monkeypatch.setattr(multi_options, "WARP_SKEW", 1.0)
    r = rank_multi(x[:20], Y[:20], x[20:], frame, goals, batch=2, model="fastgp")
    assert "warp" in r.model_name and np.isfinite(r.chosen[["a_pred", "a_std", "ehvi"]].to_numpy()).all()
    assert (r.chosen["a_pred"] > 0).all()  # back in the goal's own units
    monkeypatch.setattr(multi_options, "WARP_SKEW", None)
    assert "warp" not in rank_multi(x[:20], Y[:20], x[20:], frame, goals, batch=1, model="fastgp").model_name
