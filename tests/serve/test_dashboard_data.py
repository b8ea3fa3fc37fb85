"""The numbers behind the dashboard's plots (matloop.serve.dashboard_data), checked against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")

from matloop.serve import service  # noqa: E402
from matloop.serve.dashboard_data import _expected_best_random_order, page_data, plot_data  # noqa: E402
from matloop.serve.db import open_db  # noqa: E402


@pytest.mark.parametrize("start", [None, 0.3])
def test_random_order_baseline_is_the_exact_mean_over_every_order(start):
    scores = np.random.default_rng(4).normal(size=6)
    got = _expected_best_random_order(start, scores)
    orders = [np.maximum.accumulate(np.maximum(p, -np.inf if start is None else start))
              for p in itertools.permutations(scores)]
    assert got == pytest.approx(np.mean(orders, axis=0))
    assert got[-1] == pytest.approx(max(scores.max(), start or -np.inf))


def _table(n=40, seed=2):
    rng = np.random.default_rng(seed)
    f = pd.DataFrame({"temperature": rng.uniform(300, 900, n).round(1), "time": rng.uniform(1, 10, n).round(2)})
    f["hardness"] = (10 - ((f["temperature"] - 700) / 100) ** 2 - (f["time"] - 3) ** 2 / 4).round(3)
    f["cost"] = (f["temperature"] / 100 + f["time"]).round(2)
    return f


def test_one_goal_progress_parity_and_tables(tmp_path):
    db = open_db(str(tmp_path / "l.db"))
    full = _table()
    pool = full.drop(columns="cost")
    pool.loc[4:, "hardness"] = np.nan
    service.create_campaign(db, "one", ["hardness:max"], pool)
    rows = pd.DataFrame(service.suggest(db, "one", 3, "robot")["rows"])[["temperature", "time"]]
    measured = rows.merge(full[["temperature", "time", "hardness"]], on=["temperature", "time"])
    service.record_results(db, "one", measured, "robot")
    camp = service.open_campaign(db, "one")
    plots = plot_data(camp)
    prog = plots["progress"]
    start_best = full["hardness"].iloc[:4].max()
    assert prog["x"] == [0, 1, 2, 3] and prog["best"][0] == pytest.approx(start_best)
    assert prog["best"][-1] == pytest.approx(max(start_best, measured["hardness"].max()))
    assert np.all(np.diff(prog["best"]) >= 0) and prog["baseline"][-1] == pytest.approx(prog["best"][-1])
    assert len(plots["parity"]["points"]) == 3 and plots["front"] is None
    for p in plots["parity"]["points"]:
        assert p["low"] < p["predicted"] < p["high"]
    page = page_data(camp)
    assert page["suggestions"]["columns"][-1] == "state" and len(page["suggestions"]["rows"]) == 3
    assert {r[-1] for r in page["suggestions"]["rows"]} == {"measured"} and page["pending"] == []
    assert len(page["history"]["rows"]) == 4 + 3
    db.close()


def test_several_goals_hypervolume_curve_and_front(tmp_path):
    db = open_db(str(tmp_path / "l.db"))
    full = _table()
    pool = full.copy()
    pool.loc[5:, ["hardness", "cost"]] = np.nan
    service.create_campaign(db, "two", ["hardness:max", "cost:min"], pool)
    service.record_results(db, "two", full.iloc[5:15], "robot")
    camp = service.open_campaign(db, "two")
    plots = plot_data(camp)
    prog = plots["progress"]
    assert prog["kind"] == "hypervolume" and prog["x"] == list(range(11))
    assert np.all(np.diff(prog["best"]) >= -1e-12)  # a front never loses volume
    assert prog["baseline"][0] == prog["best"][0] and prog["baseline"][-1] == pytest.approx(prog["best"][-1])
    status = service.campaign_status(db, "two")
    assert prog["best"][-1] == pytest.approx(status["hypervolume"])  # the same scaling as the status
    front = plots["front"]["points"]
    assert len(front) == 15 and sum(p["front"] for p in front) == len(status["front"])
    db.close()


def test_several_goals_get_one_parity_panel_each_with_that_goals_predictions(tmp_path):
    db = open_db(str(tmp_path / "l.db"))
    full = _table()
    pool = full.copy()
    pool.loc[8:, ["hardness", "cost"]] = np.nan
    service.create_campaign(db, "two", ["hardness:max", "cost:min"], pool)
    got = pd.DataFrame(service.suggest(db, "two", 3, "robot")["rows"])
    measured = got[["temperature", "time"]].merge(full, on=["temperature", "time"])
    service.record_results(db, "two", measured, "robot")
    plots = plot_data(service.open_campaign(db, "two"))
    assert [q["label"] for q in plots["parities"]] == ["hardness", "cost"] and plots["parity"] == plots["parities"][0]
    for q in plots["parities"]:
        col = q["label"]
        assert len(q["points"]) == 3
        want = got.merge(full, on=["temperature", "time"]).sort_values(f"{col}_pred")
        assert [p["predicted"] for p in q["points"]] == pytest.approx(want[f"{col}_pred"].tolist())
        assert [p["measured"] for p in q["points"]] == pytest.approx(want[col].tolist())
        assert all(p["low"] < p["predicted"] < p["high"] for p in q["points"])
    db.close()


def test_a_range_goal_is_drawn_as_its_distance_with_a_random_baseline(tmp_path):
    db = open_db(str(tmp_path / "l.db"))
    full = _table()
    pool = full.drop(columns="cost")
    pool.loc[4:, "hardness"] = np.nan
    service.create_campaign(db, "win", ["hardness:5..6"], pool)
    service.record_results(db, "win", full.iloc[4:12][["temperature", "time", "hardness"]], "robot")
    prog = plot_data(service.open_campaign(db, "win"))["progress"]
    y = full["hardness"].to_numpy()
    dist = np.where(y < 5, 5 - y, np.where(y > 6, y - 6, 0.0))
    assert "distance" in prog["label"] and prog["x"] == list(range(9))
    assert prog["best"][0] == pytest.approx(dist[:4].min())
    assert prog["best"] == pytest.approx(np.minimum.accumulate(np.r_[dist[:4].min(), dist[4:12]]).tolist())
    assert None not in prog["baseline"] and prog["baseline"][0] == prog["best"][0]
    assert np.all(np.diff(prog["baseline"]) <= 1e-12) and prog["baseline"][-1] == pytest.approx(prog["best"][-1])
    orders = [np.minimum.accumulate(np.minimum(p, dist[:4].min())) for p in itertools.permutations(dist[4:10])]
    assert prog["values"][1:] == pytest.approx(dist[4:12].tolist())
    assert len(orders) == 720  # the baseline is exact: brute force on the first six experiments' values
    exact = _expected_best_random_order(-dist[:4].min(), -dist[4:10])
    assert -exact == pytest.approx(np.mean(orders, axis=0))
    db.close()
