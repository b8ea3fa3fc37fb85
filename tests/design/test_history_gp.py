"""--history as a two-task GP: the history's posterior as the campaign's prior, its weight learnt."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

import matloop.datasets as datasets
from matloop.design.acquisition import Objective
from matloop.design.history import HistoryPrior, apply_history
from matloop.design.history_gp import ForestTwoTaskBlend, HistoryPosterior, TwoTaskGP
from matloop.design.suggest import rank_candidates, suggest
from matloop.io.dataset import Dataset


def _surface(X):
    return np.sin(3 * X[:, 0]) + 0.5 * X[:, 1] ** 2


def _two_task(related: bool, n: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    Xh = rng.uniform(0, 1, (300, 2))
    yh = _surface(Xh) + 0.05 * rng.normal(size=300)
    if not related:
        yh = rng.permutation(yh)  # a history that knows nothing of this campaign
    X = rng.uniform(0, 1, (n, 2))
    y = 2.0 + 0.8 * _surface(X) + 0.05 * rng.normal(size=n)  # same shape, other offset and scale
    post = HistoryPosterior(Xh, yh, seed)
    return post, TwoTaskGP(post).fit(X, y), rng


def test_a_related_history_is_learnt_as_such_and_predicts_the_campaign():
    post, gp, rng = _two_task(related=True)
    assert 0.4 < gp.transfer_ < 1.6 and "history weight" in gp.chosen_
    Xt = rng.uniform(0, 1, (200, 2))
    truth = 2.0 + 0.8 * _surface(Xt)
    mean, std = gp.predict(Xt, return_std=True)
    rmse = float(np.sqrt(np.mean((mean - truth) ** 2)))
    assert rmse < 0.15 and np.all(std > 0)  # 12 results; the surface spans about 1.6
    # calibrated enough: most truths within 2 std
    assert np.mean(np.abs(mean - truth) < 2 * std) > 0.8
    assert "two-task GP on 300 history rows" in post.describe()


def test_a_history_that_knows_nothing_cannot_steer_the_mean():
    Xt = np.random.default_rng(3).uniform(0, 1, (200, 2))
    share = {}
    for related in (True, False):
        _, gp, _ = _two_task(related=related, n=20)
        P = gp.posterior
        m1, _ = P.project(Xt)
        truth = (2.0 + 0.8 * _surface(Xt) - P.mean_) / P.scale_  # in the history's units, as the GP works
        share[related] = abs(gp.transfer_) * np.std(m1) / np.std(truth)  # the history's part of the prediction
    assert share[True] > 0.6 and share[False] < 0.3


def test_the_posterior_is_shared_not_copied_and_cached_per_row():
    from sklearn.base import clone

    post, _, rng = _two_task(related=True)
    blend = ForestTwoTaskBlend(post, n_kernel=2, random_state=0)
    assert clone(blend).posterior is post  # estimators holding it share the one fitted history
    Z = rng.uniform(0, 1, (5, 2))
    m_a, V_a = post.project(Z)
    m_b, V_b = post.project(Z[::-1])
    assert np.allclose(m_a[::-1], m_b) and np.allclose(V_a[:, ::-1], V_b)


def test_the_batch_covariance_is_the_posterior_of_the_gp():
    _, gp, rng = _two_task(related=True)
    X = rng.uniform(0, 1, (30, 2))
    cov = gp.batch_covariance(X)
    full = np.stack([cov.column(j) for j in range(len(X))], axis=1)
    assert np.allclose(full, full.T, atol=1e-8) and np.allclose(np.diag(full), cov.latent_var, atol=1e-8)
    assert np.linalg.eigvalsh(full).min() > -1e-8  # a covariance
    _, std = gp.predict(X, return_std=True)
    P = gp.posterior
    assert np.allclose((std / P.scale_) ** 2, cov.latent_var + cov.noise, rtol=1e-6)


@pytest.fixture(scope="module")
def plates():
    return datasets.load("oer_plate_3496").frame, datasets.load("oer_plate_3851").frame


def test_the_other_plate_becomes_the_prior_of_a_plate_campaign(plates):
    a, b = plates
    params = [c for c in a.columns if c != "overpotential"]
    prior = HistoryPrior(params, "overpotential").fit([(b.iloc[::3], "plate_3851.csv")])
    Z = prior.kernel_features(a)
    assert Z.shape == (len(a), 6) and np.allclose(Z.sum(axis=1), 1.0)  # the loadings of this plate's elements
    Zh = prior.kernel_features(b.iloc[::3], {c: c.split("_")[0].title() for c in b.columns if c.endswith("_load")})
    assert np.all(Zh.sum(axis=1) <= 1.0 + 1e-9) and Zh[:, [0, 3]].max() == 0  # Ta and Cu left out, Ce and La absent
    post = prior.posterior()
    assert post is prior.posterior() and post.n_rows_ == len(b.iloc[::3])
    m1, _ = post.project(Z)
    assert spearmanr(m1, a["overpotential"])[0] > 0.5  # the other plate's GP ranks this plate
    # Ce and La never vary in plate 3851: they get the typical length, not an arbitrary one
    lengths = dict(zip(["Ce", "Co", "Fe", "La", "Mn", "Ni"], post.lengths_, strict=True))
    assert lengths["Ce"] == lengths["La"] == pytest.approx(np.median([lengths[e] for e in ("Co", "Fe", "Mn", "Ni")]))
    X = a[params].to_numpy(dtype=float)
    rng = np.random.default_rng(0)
    done = rng.choice(len(a), 10, replace=False)
    rest = np.setdiff1d(np.arange(len(a)), done)
    y = a["overpotential"].to_numpy()[done]
    h = apply_history(prior, X[done], y, a.iloc[done], X[rest], a.iloc[rest], "etgp", None, "fantasy",
                      Objective("min"))
    assert h["used"] and isinstance(h["model"], ForestTwoTaskBlend) and "two-task GP" in h["note"]
    assert h["X_candidates"].shape == (len(rest), len(params) + 1 + 6)
    assert np.allclose(h["extra"](a.iloc[rest]), h["X_candidates"][:, len(params):])
    r = rank_candidates(h["X_train"], y, h["X_candidates"], a.iloc[rest], Objective("min"), 5, None, "fantasy",
                        h["model"], 0)
    assert "two-task GP (history weight a =" in r.model_name and len(set(r.chosen_positions)) == 5
    pct = a["overpotential"].rank(pct=True).to_numpy()[rest][r.chosen_positions]
    assert pct.mean() < 0.3  # ten results and the other plate: a batch from the better part of this plate
    # another surrogate: the history as an input, with the safeguard (as before)
    h_rf = apply_history(prior, X[done], y, a.iloc[done], X[rest], a.iloc[rest], "rf", None, "fantasy",
                         Objective("min"))
    assert h_rf["X_candidates"].shape[1] == len(params) + 1 and "RMSE" in h_rf["note"]


def test_suggest_with_history_reports_the_two_task_gp(plates):
    a, b = plates
    table = a.iloc[::4].reset_index(drop=True).copy()
    table.loc[12:, "overpotential"] = np.nan  # 12 measured
    ds = Dataset(frame=table, input=None, kind="parameters", targets=["overpotential"])
    out = suggest(ds, Objective("min"), batch=4, history=[(b.iloc[::3], "plate_3851.csv")],
                  failed_if=None, constraints=None)
    assert out["reason"].str.contains("history used as the prior of a two-task GP").all()
    assert "two-task" in out.attrs["history"] and len(out) == 4


def test_a_history_of_labels_and_numbers_builds_kernel_inputs():
    rng = np.random.default_rng(0)
    hist = pd.DataFrame({"temp": rng.uniform(300, 500, 60), "solvent": rng.choice(["water", "ethanol"], 60)})
    hist["y"] = hist["temp"] / 100 + (hist["solvent"] == "water")
    prior = HistoryPrior(["temp", "solvent"], "y").fit([(hist, "old.csv")])
    camp = pd.DataFrame({"temp": [350.0, 450.0], "solvent": ["water", "ethanol"]})
    Z = prior.kernel_features(camp)
    assert Z.shape == (2, 3)  # temperature standardised by the history, one column per label
    assert abs(Z[0, 0] - (350 - hist["temp"].mean()) / hist["temp"].std()) < 1e-9
    assert list(Z[:, 1:].sum(axis=1)) == [1.0, 1.0]
    assert prior.posterior() is not None


def test_history_rows_with_a_blank_input_are_left_out_and_a_flat_history_is_no_prior():
    rng = np.random.default_rng(1)
    hist = pd.DataFrame({"temp": rng.uniform(300, 500, 80), "time": rng.uniform(1, 10, 80)})
    hist["y"] = np.sin(hist["temp"] / 40) + hist["time"] / 5
    hist.loc[3, "temp"] = np.nan  # one history row lacks an input: the GP uses the 79 others
    prior = HistoryPrior(["temp", "time"], "y").fit([(hist, "old.csv")])
    post = prior.posterior()
    assert post is not None and post.n_rows_ == 79 and post.skill_ > 0.5
    flat = HistoryPrior(["temp", "time"], "y").fit([(hist.assign(y=7.0), "flat.csv")])
    assert flat.posterior() is None  # nothing a kernel could learn: the history stays an input
    few = HistoryPrior(["temp", "time"], "y").fit([(hist.head(9), "few.csv")])
    assert few.posterior() is None


def _campaign_with_a_column_the_history_lacks(n: int = 20, seed: int = 0):
    """History over ``temp`` only; the campaign's target also depends strongly on ``time``."""
    rng = np.random.default_rng(seed)
    hist = pd.DataFrame({"temp": rng.uniform(300, 500, 150)})
    hist["y"] = np.sin(hist["temp"] / 40)
    camp = pd.DataFrame({"temp": rng.uniform(300, 500, 200), "time": rng.uniform(1, 10, 200)})
    camp["y"] = np.sin(camp["temp"] / 40) + 0.6 * (camp["time"] - 5.5)
    prior = HistoryPrior(["temp", "time"], "y", seed).fit([(hist, "old.csv")])
    return prior, camp.iloc[:n].reset_index(drop=True), camp.iloc[n:].reset_index(drop=True)


def test_the_campaigns_own_columns_reach_the_two_task_gp():
    # Found on the colour-mixing robots (benchmarks/results/history_pairs.md): a campaign with inputs the history
    # lacks was modelled by a GP blind to them, and needed twice the cold start's experiments.
    prior, train, cand = _campaign_with_a_column_the_history_lacks()
    assert prior.missing == ["time"]
    h = apply_history(prior, train[["temp", "time"]].to_numpy(), train["y"].to_numpy(), train, cand[["temp", "time"]]
                      .to_numpy(), cand, "etgp", None, "fantasy", Objective("min"), 0)
    assert h["used"] and h["X_candidates"].shape[1] == 2 + 1 + 2  # features, the history's prediction, kernel inputs
    kernel = h["X_candidates"][:, -2:]
    assert abs(kernel[:, 1].mean()) < 0.3 and 0.7 < kernel[:, 1].std() < 1.3  # time standardised over the campaign
    gp = TwoTaskGP(prior.posterior()).fit(h["X_train"][:, -2:], train["y"].to_numpy())
    truth = cand["y"].to_numpy()
    pred = gp.predict(kernel)
    assert spearmanr(pred, truth)[0] > 0.8  # it sees time (the history alone ranks this campaign at about 0.5)
    assert np.allclose(h["extra"](cand), h["X_candidates"][:, -3:])


def test_a_history_the_campaigns_results_deny_is_set_aside():
    rng = np.random.default_rng(2)
    hist = pd.DataFrame({"temp": rng.uniform(300, 500, 150)})
    hist["y"] = np.sin(hist["temp"] / 40)
    camp = pd.DataFrame({"temp": rng.uniform(300, 500, 120)})
    camp["y"] = -np.sin(camp["temp"] / 40)  # this campaign's target runs against the history's
    prior = HistoryPrior(["temp"], "y").fit([(hist, "old.csv")])
    train, cand = camp.iloc[:25], camp.iloc[25:]
    h = apply_history(prior, train[["temp"]].to_numpy(), train["y"].to_numpy(), train, cand[["temp"]].to_numpy(),
                      cand, "etgp", None, "fantasy", Objective("max"), 0)
    blend = h["model"].fit(h["X_train"], train["y"].to_numpy())
    assert blend.gp_.transfer_ < 0.25 and blend.plain_ is not None
    assert "history set aside" in blend.chosen_
    mean, std = blend.predict(h["X_candidates"], return_std=True)
    cold_mean = blend.plain_.predict(cand[["temp"]].to_numpy())
    assert np.allclose(mean, cold_mean) and np.all(std > 0)  # exactly the cold start's surrogate
    assert blend.batch_covariance(h["X_candidates"]).latent_var.shape == (len(cand),)
    related = h["model"].fit(h["X_train"], np.sin(train["temp"].to_numpy() / 40))  # results that bear it out
    assert related.plain_ is None and related.gp_.transfer_ > 0.5


def test_the_campaigns_own_label_columns_are_one_hot_kernel_inputs():
    rng = np.random.default_rng(4)
    hist = pd.DataFrame({"temp": rng.uniform(300, 500, 60).round(1).astype(str)})  # read from a file: text
    hist["y"] = np.sin(hist["temp"].astype(float) / 40)
    prior = HistoryPrior(["temp", "solvent"], "y").fit([(hist, "old.csv")])
    assert prior.missing == ["solvent"] and prior.shared == ["temp"]
    camp = pd.DataFrame({"temp": [350.0, 420.0, 480.0], "solvent": ["water", "ethanol", "water"]})
    own = prior.own_scaling(camp)
    assert own == {"solvent": ["ethanol", "water"]}
    Z = prior.kernel_features(camp, own=own)
    assert Z.shape == (3, 3) and Z[:, 1:].tolist() == [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]
    assert prior.posterior() is not None and prior.posterior().n_inputs_ == 1  # temp read as a number
