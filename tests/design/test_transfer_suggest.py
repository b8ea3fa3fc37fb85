"""--transfer auto in suggest and campaign: the pre-trained library's values join composition features."""

import numpy as np
import pytest

import matloop.datasets as datasets
import matloop.design.history as history
from matloop.design.acquisition import Objective
from matloop.design.campaign import Campaign
from matloop.design.suggest import suggest
from matloop.errors import InputError
from matloop.io.dataset import Dataset


@pytest.fixture
def gaps(monkeypatch):
    monkeypatch.setattr(history, "TRANSFER_LOOKUP", False)  # the networks only: no database loading in a test
    ds = datasets.load("matbench_expt_gap")
    f = ds.frame.iloc[:600:20].reset_index(drop=True).copy()  # 30 rows
    truth = f[ds.targets[0]].to_numpy(dtype=float).copy()
    f.loc[20:, ds.targets[0]] = np.nan
    return Dataset(frame=f, input=ds.input, kind="composition", targets=ds.targets), truth


def test_transfer_features_carry_band_gap_knowledge(gaps):
    ds, truth = gaps
    X = history.transfer_features("auto", ds.frame[ds.input])
    assert X.shape == (30, 19) and np.isfinite(X).all()
    from scipy.stats import spearmanr

    assert max(abs(spearmanr(X[:, j], truth)[0]) for j in range(X.shape[1])) > 0.5  # band-gap sources


def test_suggest_and_campaign_with_transfer(gaps, tmp_path):
    ds, _ = gaps
    out = suggest(ds, Objective("max"), batch=3, model="rf", transfer="auto")
    assert len(out) == 3 and out["prediction"].notna().all()
    camp = Campaign.create("g", str(tmp_path / "c.db"), Objective("max"), ds.targets[0], pool=ds)
    assert len(camp.suggest(batch=2, model="rf", transfer="auto")) == 2


def test_transfer_needs_compositions():
    f = datasets.load("liang_p3ht").frame.head(20)
    ds = Dataset(frame=f, input=None, kind="parameters", targets=["Conductivity (measured) (S/cm)"])
    with pytest.raises(InputError, match="formula column"):
        suggest(ds, Objective("max"), transfer="auto")
