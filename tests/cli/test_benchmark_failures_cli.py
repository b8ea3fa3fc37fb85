"""``matloop benchmark campaign`` with --failed-if and --target-order (the bundled vapdiff_crystal set,
cut), a text target without an order (exit 2, no traceback), and the hypervolume plot of several goals."""

import json

import numpy as np
import pandas as pd
import pytest

from matloop.cli.main import main
from matloop.datasets import load

ORDER = "clear_solution,fine_powder,small_crystallites,large_crystallites"
RULE = "crystal_score == 'clear_solution'"


@pytest.fixture(scope="module")
def vapdiff(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vapdiff")
    load("vapdiff_crystal").frame.iloc[::6].to_csv(folder / "v.csv", index=False)
    return folder


def test_failed_if_on_benchmark_campaign(vapdiff, capsys):
    out = vapdiff / "v.json"
    assert main(["benchmark", "campaign", str(vapdiff / "v.csv"), "--target", "crystal_score", "--maximize",
                 "--failed-if", RULE, "--target-order", ORDER, "--strategies", "default", "no-feasibility", "random",
                 "--runs", "1", "--budget", "10", "--batch", "4", "--initial", "2", "--json", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    frame = pd.read_csv(vapdiff / "v.csv")
    n_failed = int((frame["crystal_score"] == "clear_solution").sum())
    assert f"pool {len(frame)} experiments ({n_failed} failed" in printed and "failed_mean" in printed
    payload = json.loads(out.read_text())
    assert payload["failed_if"] == RULE and payload["n_failed_pool"] == n_failed
    assert {r["strategy"] for r in payload["summary"]} == {"default", "no-feasibility", "random"}
    assert len(payload["mean_failures"]["default"]) == 10
    assert any(r["column"] == "organic" and r["kind"] == "label" for r in payload["encoding"])
    assert all(r["column"] != "crystal_score" for r in payload["encoding"])  # an outcome, never an input


@pytest.mark.parametrize("extra, message", [
    ([], "holds text labels, not numbers: give their order"),
    (["--target-order", "clear_solution,large_crystallites"], "outside --target-order"),
    (["--target-order", "a"], "at least 2 distinct labels"),
])
def test_text_targets_exit_2(vapdiff, capsys, extra, message):
    assert main(["benchmark", "campaign", str(vapdiff / "v.csv"), "--target", "crystal_score", "--maximize",
                 "--runs", "1", "--budget", "4", *extra, "-q"]) == 2
    assert message in capsys.readouterr().err


def test_several_goals_plot_has_the_random_baseline(tmp_path, capsys):
    from matloop.design.goals import Goal
    from matloop.design.multi_simulate import random_baseline

    f = load("redoxmers").frame.iloc[::40].reset_index(drop=True)
    f.to_csv(tmp_path / "r.csv", index=False)
    png = tmp_path / "hv.png"
    assert main(["benchmark", "campaign", str(tmp_path / "r.csv"), "--goal", "ered:min", "--goal", "gsol:min",
                 "--goal", "abs_lam_diff:min", "--strategies", "parego", "--runs", "1", "--budget", "6", "--initial",
                 "4", "--plot", str(png), "-q"]) == 0
    assert png.stat().st_size > 1000
    goals = [Goal("ered", "min"), Goal("gsol", "min")]
    base = random_baseline(f[["ered", "gsol"]].to_numpy(), goals, 2, runs=20)
    assert len(base) == len(f) and base[-1] == pytest.approx(1.0) and (np.diff(base) >= -1e-12).all()


def test_suggest_refuses_a_text_goal(vapdiff, capsys, tmp_path):
    """Measured text labels are not "not measured": suggest exits 2 instead of proposing them again."""
    f = pd.read_csv(vapdiff / "v.csv")
    f.loc[40:, "crystal_score"] = np.nan
    f.to_csv(tmp_path / "pool.csv", index=False)
    assert main(["suggest", str(tmp_path / "pool.csv"), "--target", "crystal_score", "--maximize", "--failed-if",
                 RULE, "-o", str(tmp_path / "n.csv")]) == 2
    err = capsys.readouterr().err
    assert "holds text in" in err and "add a numeric score column" in err
