"""The progress of a campaign with several goals: hypervolume of the measured front vs experiments,
with the same experiments in a random order as the baseline (not the first goal's best so far)."""

import numpy as np
import pandas as pd
import pytest

from matloop.design.campaign import Campaign
from matloop.design.campaign_multi import front_table, goals_progress
from matloop.design.goals import Goal
from matloop.io.dataset import Dataset
from matloop.report.campaign import campaign_report


def _campaign(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (40, 2)).round(4)
    f = pd.DataFrame(x, columns=["x0", "x1"])
    f["a"] = (x[:, 0] + 0.3 * x[:, 1]).round(4)
    f["b"] = (1 - x[:, 0] + 0.3 * x[:, 1]).round(4)
    full = f.copy()
    f.loc[6:, ["a", "b"]] = np.nan
    ds = Dataset(frame=f, input=None, kind="parameters", targets=["a", "b"], parameters=["x0", "x1"])
    goals = [Goal("a"), Goal("b")]
    camp = Campaign.create("g", str(tmp_path / "g.db"), goals[0].objective, "a", pool=ds, goals=goals)
    for rows in ([10, 11, 12], [20, 21], [30, 31, 32, 33]):  # three rounds of results
        camp.record(full.iloc[rows].reset_index(drop=True), source="results.csv")
    camp.record(full.iloc[[34]].assign(b=np.nan).reset_index(drop=True), source="partial.csv")  # b not yet measured
    return camp


def test_hypervolume_progress(tmp_path):
    camp = _campaign(tmp_path)
    prog = goals_progress(camp)
    assert prog["experiment"].tolist() == list(range(11))  # start + 10 candidates measured in the campaign
    hv = prog["hypervolume"].to_numpy()
    assert (np.diff(hv) >= -1e-12).all() and hv[-1] > hv[0]
    assert hv[-1] == pytest.approx(front_table(camp)[1])  # the same scaling as the status's hypervolume
    assert prog["random_order"].iloc[0] == pytest.approx(hv[0]) and prog["random_order"].iloc[-1] == pytest.approx(hv[-1])
    assert prog["n_complete"].tolist()[-1] == 6 + 9  # the partly measured candidate is not on any front


def test_report_draws_hypervolume_not_the_first_goal(tmp_path):
    camp = _campaign(tmp_path)
    report = campaign_report(camp, interpret=False)
    html = report.to_html()
    assert "Hypervolume of the measured front after each experiment" in html
    assert "after 10 experiments" in html and "random order" in html
    names = [getattr(f, "name", None) or (f[0] if isinstance(f, tuple) else None) for f in getattr(report, "figures", [])]
    if names:
        assert "hypervolume-progress" in names and "best-so-far" not in names


def test_status_gives_the_start_front_on_todays_scale(tmp_path):
    """A result that widens a goal's range rescales the hypervolume, so status also gives the start
    table's front on the same scale: the campaign's gain is read from one status, never from two."""
    camp = _campaign(tmp_path)
    prog = goals_progress(camp)
    st = camp.status()
    assert st.hypervolume == pytest.approx(prog["hypervolume"].iloc[-1])
    assert st.hypervolume_start == pytest.approx(prog["hypervolume"].iloc[0]) and st.hypervolume_start < st.hypervolume
    gain = (st.hypervolume - st.hypervolume_start) / st.hypervolume_start
    assert f"the start table's front on this scale: {st.hypervolume_start:.4g} ({gain:+.0%} since)" in str(st)
