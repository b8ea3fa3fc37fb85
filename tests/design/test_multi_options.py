"""Several goals with the single goal's options (design/multi_options.py): --acquisition on the
scalarised goals, a prior per goal from history tables, a second table of candidates, replicates."""

import numpy as np
import pandas as pd
import pytest

from matloop.design.goals import Goal
from matloop.design.multi_options import (
    goal_history,
    resolve_acquisition,
    sample_acquisition,
)
from matloop.design.multi_suggest import rank_multi, suggest_multi
from matloop.errors import InputError
from matloop.io.dataset import Dataset


def _trade_off(n=12, n_measured=14, seed=0):
    g = np.linspace(0, 1, n)
    X = np.array([(a, b) for a in g for b in g])
    Y = np.column_stack([X[:, 0] + 0.3 * X[:, 1], 1 - X[:, 0] + 0.3 * X[:, 1]])
    meas = np.random.default_rng(seed).choice(len(X), n_measured, replace=False)
    return X, Y, meas, np.setdiff1d(np.arange(len(X)), meas)


def test_acquisition_contract():
    assert resolve_acquisition(None, None) == (None, None)
    scal, note = resolve_acquisition(None, "ucb")
    assert scal == "parego" and "selects ParEGO" in note
    assert resolve_acquisition("chimera", "ei")[0] == "chimera"
    with pytest.raises(InputError, match="cannot be combined with --scalarize ehvi"):
        resolve_acquisition("ehvi", "ei")
    with pytest.raises(InputError, match="no meaning for several goals"):
        resolve_acquisition("parego", "novelty")


def test_sample_acquisitions_rank_as_their_names_say():
    rng = np.random.default_rng(1)
    # candidate 0: high mean, no spread; candidate 1: low mean, wide spread; candidate 2: poor
    V = np.column_stack([np.full(500, 1.0), rng.normal(0.5, 1.0, 500), np.full(500, -1.0)])
    best = np.full(500, 0.9)
    assert np.argmax(sample_acquisition("mei", V, best)) == 0
    assert np.argmax(sample_acquisition("mu", V, best)) == 1
    assert np.argmax(sample_acquisition("ucb", V, best)) == 1  # 0.5 + 2 * 1 > 1
    assert np.argmax(sample_acquisition("pi", V, best)) == 0  # improves in every sample
    ei = sample_acquisition("ei", V, best)
    assert ei[2] == 0 and ei[0] == pytest.approx(0.1) and ei[1] > ei[0]
    assert (sample_acquisition("thompson", V, best, np.random.default_rng(0)) >= 0).all()


def test_explicit_ei_is_parego_as_before_and_ucb_differs():
    X, Y, meas, cand = _trade_off()
    frame = pd.DataFrame(X[cand], columns=["x0", "x1"])
    goals = [Goal("a"), Goal("b")]
    plain = rank_multi(X[meas], Y[meas], X[cand], frame, goals, batch=3, scalarize="parego", model="rf")
    ei = rank_multi(X[meas], Y[meas], X[cand], frame, goals, batch=3, scalarize="parego", model="rf", acquisition="ei")
    assert list(plain.chosen_positions) == list(ei.chosen_positions)
    assert ei.acquisition == "parego-ei" and plain.acquisition == "parego"
    mu = rank_multi(X[meas], Y[meas], X[cand], frame, goals, batch=3, scalarize="chimera", model="rf", acquisition="mu")
    assert len(set(mu.chosen_positions)) == 3 and mu.acquisition == "chimera-mu"


def _table(seed=0, n=60, measured=20):
    rng = np.random.default_rng(seed)
    f = pd.DataFrame({"x": rng.uniform(0, 1, n).round(4), "z": rng.uniform(0, 1, n).round(4)})
    f["a"] = np.sin(6 * f["x"]) + 0.3 * f["z"]
    f["b"] = np.cos(5 * f["x"]) - 0.2 * f["z"]
    full = f.copy()
    f.loc[measured:, ["a", "b"]] = np.nan
    return f, full


def test_a_prior_per_goal_where_the_history_measures_it():
    f, full = _table()
    hist_f, hist_full = _table(seed=5, n=80, measured=80)
    history = [(hist_full.drop(columns=["b"]), "old.csv")]  # measures a only
    ds = Dataset(frame=f, input=None, kind="parameters", targets=["a", "b"], parameters=["x", "z"])
    goals = [Goal("a"), Goal("b", "min")]
    X = f[["x", "z"]].to_numpy()
    Y = f[["a", "b"]].to_numpy()
    measured = np.isfinite(Y).any(axis=1)
    feats, note = goal_history(ds, f, goals, history, X, Y, measured, ~measured, "rf", 0, ["a", "b"])
    assert feats[1] is None and "b: no history" in note
    assert feats[0] is not None and len(feats[0][0]) == measured.sum() and len(feats[0][1]) == (~measured).sum()
    assert np.corrcoef(feats[0][1], full.loc[~measured, "a"])[0, 1] > 0.8  # the history knows goal a
    # noise that shares nothing with the campaign is set aside by the cross-validated safeguard
    noise = hist_full.assign(a=np.random.default_rng(3).normal(size=80))
    feats, note = goal_history(ds, f, goals, [(noise, "noise.csv")], X, Y, measured, ~measured, "fastgp", 0,
                               ["a", "b"])
    assert feats[0] is None and "history set aside" in note


def test_candidates_from_a_second_table_and_replicates():
    f, full = _table()
    measured_part = f.iloc[:20]
    extra = full.iloc[20:].drop(columns=["a", "b"])
    extra = pd.concat([extra, measured_part[["x", "z"]].iloc[:3]], ignore_index=True)  # 3 already measured
    ds = Dataset(frame=measured_part.reset_index(drop=True), input=None, kind="parameters", targets=["a", "b"],
                 parameters=["x", "z"])
    cands = Dataset(frame=extra, input=None, kind="parameters", parameters=["x", "z"])
    out = suggest_multi(ds, [Goal("a"), Goal("b")], batch=3, model="rf", candidates=cands)
    assert out.attrs["n_known_left_out"] == 3 and out.attrs["n_candidates"] == 40
    keys = set(map(tuple, full.iloc[20:][["x", "z"]].to_numpy()))
    assert all(tuple(r) in keys for r in out[["x", "z"]].to_numpy())
    with pytest.raises(InputError, match="have a measured goal"):
        suggest_multi(ds, [Goal("a"), Goal("b")], candidates=Dataset(frame=full.iloc[20:25], input=None, kind="parameters",
                                                                     parameters=["x", "z"]))
    # a blank row repeating a measured input is not a candidate unless replicates are allowed
    rep = pd.concat([f, f.iloc[:5].assign(a=np.nan, b=np.nan)], ignore_index=True)
    ds = Dataset(frame=rep, input=None, kind="parameters", targets=["a", "b"], parameters=["x", "z"])
    out = suggest_multi(ds, [Goal("a"), Goal("b")], batch=2, model="rf")
    assert out.attrs["n_replicates_left_out"] == 5 and out.attrs["n_candidates"] == 40
    out = suggest_multi(ds, [Goal("a"), Goal("b")], batch=2, model="rf", allow_replicates=True)
    assert out.attrs["n_candidates"] == 45


def test_transfer_with_several_goals(monkeypatch):
    """--transfer auto: the library's values join every goal's features (composition tables)."""
    import matloop.datasets as datasets
    import matloop.design.history as history
    monkeypatch.setattr(history, "TRANSFER_LOOKUP", False)  # the networks only: no database loading in a test
    ds = datasets.load("matbench_expt_gap")
    f = ds.frame.iloc[:600:20].reset_index(drop=True).copy()
    gap = ds.targets[0]
    f["cost"] = np.linspace(1, 5, len(f))
    f.loc[20:, [gap, "cost"]] = np.nan
    ds = Dataset(frame=f, input=ds.input, kind="composition", targets=[gap, "cost"])
    goals = [Goal(gap), Goal("cost", "min")]
    out = suggest_multi(ds, goals, batch=2, model="rf", transfer="auto")
    assert len(out) == 2 and out[f"{gap}_pred"].notna().all()
    with pytest.raises(InputError, match="needs a formula column"):
        f2, _ = _table()
        suggest_multi(Dataset(frame=f2, input=None, kind="parameters", targets=["a", "b"], parameters=["x", "z"]),
                      [Goal("a"), Goal("b")], transfer="auto")
