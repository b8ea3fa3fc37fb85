"""--history: a transferred prior mean from related campaigns, element-aware alignment, the safeguard."""

import numpy as np
import pandas as pd
import pytest

import matloop.datasets as datasets
from matloop.design.acquisition import Objective
from matloop.design.campaign import Campaign
from matloop.design.history import (
    HistoryPrior,
    PriorMeanSurrogate,
    history_helps,
    history_records,
    history_tables,
)
from matloop.design.suggest import suggest
from matloop.errors import InputError
from matloop.io.dataset import Dataset


@pytest.fixture(scope="module")
def plates():
    a = datasets.load("oer_plate_3496").frame
    b = datasets.load("oer_plate_3851").frame
    return a, b


def test_plates_align_by_element_and_the_prior_transfers(plates):
    a, b = plates
    params = [c for c in a.columns if c != "overpotential"]
    prior = HistoryPrior(params, "overpotential").fit([(b.iloc[::2], "plate_3851.csv")])
    assert prior.elements == ["Ce", "Co", "Cu", "Fe", "La", "Mn", "Ni", "Ta"]
    assert prior.missing == [] and prior.n_rows == len(b.iloc[::2])
    h = prior.predict(a)
    from scipy.stats import spearmanr

    assert spearmanr(h, a["overpotential"])[0] > 0.5  # another plate's model ranks this plate's compositions
    assert "Ce/Co/Cu/Fe/La/Mn/Ni/Ta" in prior.describe()


def test_missing_columns_are_explicit():
    rng = np.random.default_rng(0)
    camp = ["temperature", "pressure"]
    hist = pd.DataFrame({"temperature": rng.uniform(0, 1, 50), "other": rng.uniform(0, 1, 50)})
    hist["y"] = hist["temperature"]
    prior = HistoryPrior(camp, "y").fit([(hist, "old.csv")])
    assert prior.shared == ["temperature"] and prior.missing == ["pressure"] and prior.unused == ["other"]
    assert "pressure" in prior.describe()
    with pytest.raises(InputError, match="share no input column"):
        HistoryPrior(["pressure"], "y").fit([(hist, "old.csv")])
    with pytest.raises(InputError, match="no column 'z'"):
        HistoryPrior(camp, "z").fit([(hist, "old.csv")])


def test_prior_mean_surrogate_learns_scale_and_offset():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (30, 2))
    h = X[:, 0]
    y = 3 * h + 10 + 0.01 * rng.normal(size=30)
    m = PriorMeanSurrogate("rf", random_state=0).fit(np.column_stack([X, h]), y)
    assert m.a_ == pytest.approx(3, rel=0.15) and m.b_ == pytest.approx(10, abs=0.3)
    m0 = PriorMeanSurrogate("rf", prior_std=0.5).fit(np.zeros((0, 3)), np.zeros(0))
    mean, std = m0.predict(np.column_stack([X, h]), return_std=True)
    assert np.allclose(mean, h) and np.allclose(std, 0.5)  # before any result: the history as it is


def test_safeguard_sets_bad_history_aside():
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 1, (40, 2))
    y = np.sin(6 * X[:, 0]) + X[:, 1]
    good, _ = history_helps(np.column_stack([X, y + 0.01 * rng.normal(size=40)]), y, base="rf")
    noise = np.column_stack([X, rng.normal(size=40)])
    bad, note = history_helps(noise, y, base="rf", margin=0.0)  # strict: any loss sets it aside
    assert good and not bad and "set aside" in note
    # the default margin keeps a history that costs less than 10 % (here the prior mean's scale ~ 0)
    assert history_helps(noise, y, base="rf")[0]
    assert history_helps(np.column_stack([X[:5], y[:5]]), y[:5])[0]  # too few rows to check: trusted


def test_safeguard_margin_keeps_a_history_only_slightly_worse():
    import re

    from matloop.design.history import SAFEGUARD_MARGIN

    rng = np.random.default_rng(4)
    X = rng.uniform(0, 1, (40, 2))
    y = np.sin(4 * X[:, 0]) + X[:, 1]
    near = np.column_stack([X, y + 0.3 * rng.normal(size=40)])  # a noisy history: about as good as none
    far = np.column_stack([X, y + 1.0 * rng.normal(size=40)])  # mostly noise: clearly worse
    strict, note = history_helps(near, y, base="rf", use="feature", margin=0.0)
    rh, rp = map(float, re.findall(r"RMSE ([0-9.e+-]+) with it, ([0-9.e+-]+) without", note)[0])
    assert 1.0 < rh / rp < 1.0 + SAFEGUARD_MARGIN  # the case the margin is for
    assert not strict and "set aside" in note
    assert history_helps(near, y, base="rf", use="feature")[0]  # the default margin keeps it
    kept, note = history_helps(far, y, base="rf", use="feature")
    assert not kept and "set aside" in note


def test_first_batch_with_history_is_space_filling_unless_the_history_ranks_it(plates):
    from matloop.design.history import apply_history
    from matloop.design.suggest import rank_candidates

    a, b = plates
    pool = a.copy()
    pool["overpotential"] = np.nan
    ds = Dataset(frame=pool, input=None, kind="parameters", targets=["overpotential"])
    out = suggest(ds, Objective("min"), batch=5, history=[(b, "plate_3851.csv")], model="rf")
    assert out.attrs.get("cold_start") and "history not used yet" in out.attrs["history"]
    assert out["reason"].str.contains("space-filling first batch").all()
    # on request the history ranks the first batch: good compositions of this plate
    params = [c for c in a.columns if c != "overpotential"]
    prior = HistoryPrior(params, "overpotential").fit([(b, "plate_3851.csv")])
    X = a[params].to_numpy(dtype=float)
    h = apply_history(prior, X[:0], np.zeros(0), a.iloc[:0], X, a, "rf", None, "fantasy", Objective("min"),
                      rank_first_batch=True)
    assert h["used"] and h["acquisition"] == "mei" and h["batch_method"] == "penalized"
    r = rank_candidates(h["X_train"], np.zeros(0), h["X_candidates"], a, Objective("min"), 5, h["acquisition"],
                        h["batch_method"], h["model"], 0)
    pct = a["overpotential"].rank(pct=True).to_numpy()[r.chosen_positions]
    assert pct.min() < 0.1 and pct.mean() < 0.45  # random picks: mean 0.5


def test_campaign_keeps_history_apart_from_its_measurements(tmp_path, plates):
    a, b = plates
    pool = a.head(300).copy()
    pool.loc[5:, "overpotential"] = np.nan
    ds = Dataset(frame=pool, input=None, kind="parameters", targets=["overpotential"])
    hist = b.head(200)
    camp = Campaign.create("p", str(tmp_path / "c.db"), Objective("min"), "overpotential", pool=ds,
                           history=[(hist, "plate_3851.csv")])
    st = camp.status()
    assert st.n_measured == 5 and st.n_candidates == 300  # history rows are neither results nor candidates
    stored = history_tables(Campaign("p", str(tmp_path / "c.db")).config["history"])
    assert stored[0][1] == "plate_3851.csv" and len(stored[0][0]) == 200
    pd.testing.assert_frame_equal(stored[0][0].astype(float), hist.reset_index(drop=True).astype(float))
    out = camp.suggest(batch=3, model="rf")
    assert out["reason"].str.contains("history").all() and len(camp.ledger.measurements()) == 5


def test_history_records_round_trip_empty_cells():
    f = pd.DataFrame({"x": [1.0, np.nan], "label": ["a", None], "y": [0.5, 0.7]})
    back = history_tables(history_records([(f, "h.csv")]))[0][0]
    assert back["x"].isna().tolist() == [False, True] and back["label"].tolist()[0] == "a"


def test_design_space_campaign_uses_history_by_element(tmp_path, plates):
    from matloop.design.space import DesignSpace

    _, b = plates
    spec = {"parameters": [{"name": "film", "type": "composition", "step": 0.05,
                            "elements": {"Ni": [0, 1], "Fe": [0, 1], "Co": [0, 1], "Mn": [0, 1]}}]}
    space = DesignSpace.from_dict(spec)
    camp = Campaign.create("s", str(tmp_path / "c.db"), Objective("min"), "overpotential", space=space,
                           space_spec=spec, history=[(b.iloc[::4], "plate_3851.csv")])
    start = space.round(space.sample(4, np.random.default_rng(0)))
    start["overpotential"] = 0.5 - 0.1 * start["Ni"] - 0.05 * start["Fe"]
    camp.record(start, "start.csv")
    out = camp.suggest(batch=3, model="rf")
    assert "Ce/Co/Cu/Fe/La/Mn/Ni/Ta" not in out.attrs["history"]  # the space's elements and the plate's
    assert "Co/Cu/Fe/Mn/Ni/Ta" in out.attrs["history"] and out["reason"].str.contains("history").all()
    assert space.feasible(out).all()
