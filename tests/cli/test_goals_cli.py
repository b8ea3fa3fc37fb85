"""``--goal`` on suggest, campaign and benchmark campaign, on a small cut of the bundled redoxmers set
(four label columns, three goals to minimise); and a second objective never silently dropped."""

import re

import numpy as np
import pandas as pd
import pytest

from matloop.cli.main import main
from matloop.datasets import load

GOALS = ["--goal", "abs_lam_diff:min", "--goal", "ered:min", "--goal", "gsol:min"]


@pytest.fixture(scope="module")
def redox(tmp_path_factory):
    """Every 12th redoxmers row; goals blank after the first 24 (the candidates); gsol missing on 4 rows."""
    folder = tmp_path_factory.mktemp("redox")
    frame = load("redoxmers").frame.iloc[::12].reset_index(drop=True)
    full = frame.copy()
    frame.loc[24:, ["abs_lam_diff", "ered", "gsol"]] = np.nan
    frame.loc[3:6, "gsol"] = np.nan  # measured on some rows only: data, not an error
    frame.to_csv(folder / "pool.csv", index=False)
    return folder, full


def test_suggest_with_three_goals(redox, capsys):
    folder, _ = redox
    out = folder / "next.csv"
    assert main(["suggest", str(folder / "pool.csv"), *GOALS, "--batch", "3", "-o", str(out), "-q"]) == 0
    s = pd.read_csv(out)
    labels = ["r1_label", "r3_label", "r4_label", "r5_label"]
    assert list(s.columns[:4]) == labels
    for col in ["abs_lam_diff_pred", "abs_lam_diff_std", "ered_pred", "gsol_std", "p_nondominated", "ehvi", "reason"]:
        assert col in s.columns
    assert len(s) == 3 and s[["abs_lam_diff", "ered", "gsol"]].isna().all().all()
    assert not s[labels].duplicated().any()
    printed = capsys.readouterr().out
    assert "minimise abs_lam_diff; minimise ered; minimise gsol" in printed and "hypervolume" in printed


def test_parego_with_a_constraint(redox):
    folder, _ = redox
    out = folder / "next_parego.csv"
    assert main(["suggest", str(folder / "pool.csv"), "--goal", "ered:min", "--goal", "gsol:min", "--scalarize",
                 "parego", "--constraint", "abs_lam_diff < 40", "--batch", "2", "-o", str(out), "-q"]) == 0
    s = pd.read_csv(out)
    assert "p_feasible" in s.columns and s["reason"].str.contains("ParEGO").all()


@pytest.mark.parametrize("args, message", [
    (["--target", "ered", "--target", "gsol", "--minimize"], "give one --goal per objective"),
    (["--target", "ered,gsol", "--maximize"], "2 targets (ered, gsol)"),
    (["--target", "ered", "--target", "gsol"], "no goal"),
    (["--target", "ered", "--goal", "gsol:min"], "does not match the goals"),
    (["--goal", "ered:min", "--minimize"], "cannot be combined with --goal"),
    (["--target", "ered", "--minimize", "--scalarize", "parego"], "--scalarize trades off several goals"),
    (["--goal", "ered:min", "--goal", "ered:max"], "the same column"),
])
def test_inconsistent_goals_exit_2(redox, capsys, args, message):
    folder, _ = redox
    assert main(["suggest", str(folder / "pool.csv"), *args, "-o", str(folder / "x.csv")]) == 2
    assert message in capsys.readouterr().err
    assert not (folder / "x.csv").exists()


def test_a_bad_goal_exits_2_naming_it(redox, capsys):
    folder, _ = redox
    with pytest.raises(SystemExit) as exc:
        main(["suggest", str(folder / "pool.csv"), "--goal", "ered:smallest", "-o", str(folder / "x.csv")])
    assert exc.value.code == 2
    assert "neither max, min nor a range" in capsys.readouterr().err


def test_campaign_with_goals(redox, capsys, tmp_path):
    folder, full = redox
    db = str(tmp_path / "c.db")
    assert main(["campaign", "new", "redox", "--pool", str(folder / "pool.csv"), *GOALS, "--db", db, "-q"]) == 0
    created = capsys.readouterr().out
    assert "Pareto front" in created and "hypervolume" in created
    nxt = tmp_path / "next.csv"
    assert main(["campaign", "suggest", "redox", "--batch", "3", "-o", str(nxt), "--db", db, "-q"]) == 0
    batch = pd.read_csv(nxt)
    assert {"ered_pred", "ehvi", "p_nondominated"} <= set(batch.columns)
    labels = ["r1_label", "r3_label", "r4_label", "r5_label"]
    results = batch[labels].merge(full, on=labels, how="left")
    results.loc[0, "gsol"] = np.nan  # one goal not measured yet on one row
    results.to_csv(tmp_path / "results.csv", index=False)
    capsys.readouterr()
    assert main(["campaign", "record", "redox", str(tmp_path / "results.csv"), "--db", db]) == 0
    assert "recorded 8 new measurements (3 experiments, one measurement per goal)" in capsys.readouterr().out
    assert main(["campaign", "status", "redox", "--db", db]) == 0
    status = capsys.readouterr().out
    assert "measured:     27 candidates" in status and "front 1:" in status
    assert "3 results recorded since" in status  # three result rows, eight goal values
    report = tmp_path / "report.html"
    assert main(["campaign", "report", "redox", "-o", str(report), "--db", db, "-q"]) == 0
    assert "Pareto fronts, pairwise" in report.read_text()


def test_one_goal_is_the_single_objective_path(tmp_path):
    rng = np.random.default_rng(0)
    f = pd.DataFrame({"temperature": rng.uniform(300, 900, 30).round(1), "time": rng.uniform(1, 10, 30).round(2)})
    f["yield"] = (-((f["temperature"] - 700) / 200) ** 2 - ((f["time"] - 3) / 3) ** 2).round(4)
    f.loc[12:, "yield"] = np.nan
    f.to_csv(tmp_path / "p.csv", index=False)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    common = ["--batch", "3", "--model", "rf", "-q"]
    assert main(["suggest", str(tmp_path / "p.csv"), "--goal", "yield:max", "-o", str(a), *common]) == 0
    assert main(["suggest", str(tmp_path / "p.csv"), "--target", "yield", "--maximize", "-o", str(b), *common]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(a), pd.read_csv(b))
    assert "prediction" in pd.read_csv(a).columns


def test_campaign_with_one_goal_and_a_constraint(redox, tmp_path, capsys):
    folder, _ = redox
    db = str(tmp_path / "k.db")
    assert main(["campaign", "new", "k", "--pool", str(folder / "pool.csv"), "--goal", "ered:min", "--goal",
                 "gsol:min", "--constraint", "abs_lam_diff < 40", "--db", db, "-q"]) == 0
    nxt = tmp_path / "k.csv"
    assert main(["campaign", "suggest", "k", "--batch", "2", "-o", str(nxt), "--db", db, "-q"]) == 0
    batch = pd.read_csv(nxt)
    assert "p_feasible" in batch.columns and batch["reason"].str.contains("constraints met").all()
    cols = list(batch.columns)  # an outcome, not an input: a blank column to fill in, before matloop's own
    assert batch["abs_lam_diff"].isna().all() and cols.index("abs_lam_diff") < cols.index("ered_pred")


def test_two_goal_campaign_report_before_any_experiment(redox, tmp_path):
    folder, _ = redox
    pool = pd.read_csv(folder / "pool.csv").drop(columns=["abs_lam_diff"])
    pool.to_csv(tmp_path / "two.csv", index=False)
    db = str(tmp_path / "two.db")
    assert main(["campaign", "new", "two", "--pool", str(tmp_path / "two.csv"), "--goal", "ered:min", "--goal",
                 "gsol:-0.8..-0.7", "--db", db, "-q"]) == 0
    out = tmp_path / "two.html"
    assert main(["campaign", "report", "two", "-o", str(out), "--db", db, "-q"]) == 0
    html = out.read_text()
    assert "Pareto front of the measured materials" in html and "Pareto-optimal materials" in html


def test_one_goal_with_an_outcome_constraint_measured_on_some_rows(redox, tmp_path, capsys):
    """The constraint's column is blank where the goal is (not measured yet): an outcome, not an input."""
    folder, _ = redox
    pool = pd.read_csv(folder / "pool.csv").drop(columns=["gsol"])
    pool.to_csv(tmp_path / "one.csv", index=False)
    out = tmp_path / "one_next.csv"
    assert main(["suggest", str(tmp_path / "one.csv"), "--target", "ered", "--minimize", "--constraint",
                 "abs_lam_diff > 37", "--batch", "3", "-o", str(out), "-q"]) == 0
    s = pd.read_csv(out)
    assert len(s) == 3 and s["p_feasible"].between(0, 1).all() and s["p_feasible"].lt(1).any()
    assert s["reason"].str.contains("P(constraints met)", regex=False).all()
    printed = capsys.readouterr().out
    done = pool.dropna(subset=["ered"])
    feasible = done[~(done["abs_lam_diff"] < 37)]  # the best measured (and the incumbent) meets the constraint
    assert len(feasible) < len(done) and done["ered"].min() < feasible["ered"].min()
    best = float(re.search(r"best measured: (\S+) .*meet the constraints", printed).group(1))
    assert best == pytest.approx(feasible["ered"].min(), rel=1e-5)
    db = str(tmp_path / "one.db")
    assert main(["campaign", "new", "one", "--pool", str(tmp_path / "one.csv"), "--target", "ered", "--minimize",
                 "--constraint", "abs_lam_diff > 37", "--db", db, "-q"]) == 0
    assert main(["campaign", "suggest", "one", "--batch", "2", "-o", str(tmp_path / "c.csv"), "--db", db, "-q"]) == 0
    reasons = pd.read_csv(tmp_path / "c.csv")["reason"]  # one goal: improvement over the best, not a front
    assert reasons.str.contains("expected improvement over the best measured").all()
    assert not reasons.str.contains("hypervolume|front").any()
    capsys.readouterr()
    assert main(["campaign", "status", "one", "--db", db]) == 0
    status = capsys.readouterr().out
    assert "minimise ered; subject to abs_lam_diff > 37" in status
    assert float(re.search(r"best value:\s+(\S+)", status).group(1)) == pytest.approx(best, rel=1e-5)  # as suggest


@pytest.mark.parametrize("command", ["suggest", "campaign"])
def test_a_missing_constraint_column_is_named_as_a_constraint(redox, tmp_path, capsys, command):
    folder, _ = redox
    goal = ["--goal", "ered:min", "--goal", "gsol:min", "--constraint", "abs_lam_dif < 40"]
    argv = (["suggest", str(folder / "pool.csv"), *goal, "-o", str(tmp_path / "x.csv")] if command == "suggest" else
            ["campaign", "new", "m", "--pool", str(folder / "pool.csv"), *goal, "--db", str(tmp_path / "m.db")])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "constraint column 'abs_lam_dif' not found (did you mean 'abs_lam_diff'?)" in err


def test_an_outcome_left_unnamed_is_pointed_out(redox, tmp_path, capsys):
    """Two goals measured on the first rows, one named: the other is blank on most rows, as an outcome is."""
    folder, _ = redox
    assert main(["suggest", str(folder / "pool.csv"), "--target", "ered", "--minimize",
                 "-o", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert "'abs_lam_diff', 'gsol' are empty on the candidates or most rows, as an outcome not measured yet would be" in err
    assert "row" in err and "abs_lam_diff" in err  # the rows are still listed


def test_a_goal_known_before_the_experiment(tmp_path, capsys):
    """'cost' computed from the recipe has a value on every row: suggest takes it as given at each candidate
    (std 0, 'known' in the reason) and ranks the rows whose yield is blank; a campaign refuses it, saying why."""
    rng = np.random.default_rng(0)
    f = pd.DataFrame({"temperature": np.repeat([40.0, 60, 80, 100], 6), "loading": np.tile([0.5, 1, 1.5, 2, 2.5, 3], 4)})
    f["cost"] = 10 * f["loading"] + 0.05 * f["temperature"]
    f["yield"] = np.nan
    done = [0, 5, 9, 14, 20]
    f.loc[done, "yield"] = (30 + 10 * f.loc[done, "loading"] + rng.normal(0, 2, 5)).round(1)
    f.to_csv(tmp_path / "t.csv", index=False)
    goals = ["--goal", "yield:max", "--goal", "cost:min"]
    assert main(["suggest", str(tmp_path / "t.csv"), *goals, "--batch", "3", "-o", str(tmp_path / "n.csv")]) == 0
    io = capsys.readouterr()
    assert "'cost' has a value on every row: known before the experiment" in io.err
    out = pd.read_csv(tmp_path / "n.csv")
    assert len(out) == 3 and out["yield"].isna().all() and (out["cost_std"] == 0).all()
    assert np.allclose(out["cost_pred"], out["cost"]) and out["reason"].str.contains(r"cost [\d.]+ \(known\)").all()
    assert main(["campaign", "new", "c", "--pool", str(tmp_path / "t.csv"), *goals, "--db", str(tmp_path / "c.db")]) == 2
    assert "the goal 'cost' has a value on every row of the pool table" in capsys.readouterr().err
    f["yield"] = 1.0  # every goal known everywhere: nothing to measure
    f.to_csv(tmp_path / "t.csv", index=False)
    assert main(["suggest", str(tmp_path / "t.csv"), *goals, "-o", str(tmp_path / "n.csv")]) == 2
    assert "every goal has a value on every row" in capsys.readouterr().err
