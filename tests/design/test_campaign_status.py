"""How a campaign presents itself (issue 15): a labelled best setting (never an unlabelled vector),
status lines and an HTML table for Jupyter, and progress counted in experiments of the campaign, with
the measured rows given at creation shown as the start."""

import numpy as np
import pandas as pd
import pytest

from matloop.design.acquisition import Objective
from matloop.design.campaign import Campaign
from matloop.io.dataset import Dataset


@pytest.fixture
def campaign(tmp_path):
    rng = np.random.default_rng(0)
    f = pd.DataFrame({"temperature": rng.uniform(300, 900, 30).round(1), "time": rng.uniform(1, 10, 30).round(2)})
    f["yield"] = (-((f["temperature"] - 700) / 200) ** 2 - ((f["time"] - 3) / 3) ** 2).round(4)
    f.loc[10:, "yield"] = np.nan
    ds = Dataset(frame=f, input=None, kind="parameters", targets=["yield"])
    camp = Campaign.create("proc", str(tmp_path / "c.db"), Objective("max"), "yield", pool=ds)
    new = f.loc[10:12, ["temperature", "time"]].copy()
    new["yield"] = [5.0, -3.0, 1.0]  # experiment 1 beats everything given at the start
    camp.record(new, "batch1.csv")
    return camp, f


def test_status_labels_the_best_setting(campaign):
    camp, f = campaign
    st = camp.status()
    text = str(st)
    row = f.iloc[10]
    assert f"temperature = {row['temperature']:g}" in text and f"time = {row['time']:g}" in text
    assert "[" not in text  # no unlabelled vector such as [387.2,83.8]
    assert st.best == 5.0 and st.best_setting == {"temperature": row["temperature"], "time": row["time"]}
    assert (st.n_initial, st.n_experiments, st.n_measured) == (10, 3, 13)
    assert "10 measured in the start table" in text
    html = st._repr_html_()
    assert html.startswith("<table>") and "<th style='text-align:left'>best at</th>" in html and "temperature" in html


def test_history_counts_only_campaign_experiments(campaign):
    camp, _ = campaign
    hist = camp.history()
    assert hist["phase"].tolist() == ["start"] * 10 + ["campaign"] * 3
    assert hist["experiment"].tolist() == [0] * 10 + [1, 2, 3]
    assert hist["best_so_far"].iloc[-3:].tolist() == [5.0, 5.0, 5.0]


def test_report_shows_status_as_a_table_and_progress_from_the_start(campaign):
    from matloop.report.campaign import campaign_report

    camp, _ = campaign
    report = campaign_report(camp, interpret=False)
    html = report.to_html()
    assert '<dl class="settings"><dt>campaign</dt><dd>proc</dd>' in html and "<dt>best value</dt><dd>5</dd>" in html
    assert "<caption>The best candidate so far (maximise yield)</caption>" in html
    assert "<th>temperature</th>" in html and "<th>time</th>" in html
    takeaways = [t for _, _, t in report.figures]
    assert any("after 3 experiments in the campaign" in t and "reached at experiment 1" in t for t in takeaways)
    assert "<td>start</td>" in html


def test_a_long_front_is_cut_in_the_status_and_says_how_many_more():
    from matloop.design.campaign_status import FRONT_SHOWN, CampaignStatus

    lines = [f"x = {i}, a = {i}, b = {-i}" for i in range(FRONT_SHOWN + 3)]
    st = CampaignStatus("m", "a", "minimise a; maximise b", 100, 40, 0, 0, None, None, front=lines, hypervolume=0.5)
    text = str(st)
    assert f"{len(lines)} rows measured on every goal" in text
    assert f"x = {FRONT_SHOWN - 1}," in text and f"x = {FRONT_SHOWN}," not in text
    assert "3 more front rows" in text and "Pareto-optimal materials" in text
