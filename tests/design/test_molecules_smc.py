"""iQSPR's SMC sampler: window likelihood, schedule, resampling, and moving molecules into a window."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

pytest.importorskip("rdkit")

from rdkit.Chem import Crippen  # noqa: E402

from matloop.datasets import load  # noqa: E402
from matloop.design.molecules import design_molecules, iqspr_schedule, log_window_probability  # noqa: E402
from matloop.design.molecules.chem import canonical_or_none, to_mol  # noqa: E402
from matloop.design.molecules.ngram import NGramModel  # noqa: E402
from matloop.design.molecules.smc import smc_sample, systematic_resample  # noqa: E402
from matloop.represent.molecule import RDKitDescriptors  # noqa: E402

LOGS = "measured log solubility in mols per litre"
CHEAP = ["MolLogP", "MolWt", "TPSA", "NumHDonors", "NumHAcceptors", "NumRotatableBonds", "RingCount",
         "NumAromaticRings", "FractionCSP3", "HeavyAtomCount"]


@pytest.fixture(scope="module")
def esol() -> pd.DataFrame:
    frame = load("esol").frame[["smiles", LOGS]].copy()
    frame["smiles"] = frame["smiles"].str.strip()
    return frame


@pytest.fixture(scope="module")
def ngram(esol) -> NGramModel:
    return NGramModel(order=8, augment=1, random_state=0).fit(esol["smiles"])


def test_window_probability_matches_the_normal_cdf_and_stays_finite_in_the_tails():
    mean = np.array([0.0, 1.0, -3.0, 0.5])
    std = np.array([1.0, 0.5, 2.0, 0.1])
    expected = norm.cdf((1 - mean) / std) - norm.cdf((-1 - mean) / std)
    assert np.allclose(np.exp(log_window_probability(mean, std, -1, 1)), expected)
    assert np.allclose(np.exp(log_window_probability(mean, std, None, 1)), norm.cdf((1 - mean) / std))
    far = log_window_probability(np.array([40.0, 50.0, -40.0, -50.0]), np.ones(4), -1, 1)
    assert np.all(np.isfinite(far)) and far[0] > far[1] and far[2] > far[3]
    assert np.isclose(far[0], norm.logcdf(-39.0), rtol=1e-3)  # the nearer bound dominates
    with pytest.raises(ValueError):
        log_window_probability(mean, std, 2, 1)


def test_schedule_rises_to_one_and_resampling_follows_the_weights():
    betas = iqspr_schedule(30)
    assert np.all(np.diff(betas) >= 0) and betas[0] < 0.05 and betas[-1] == 1.0
    counts = np.bincount(systematic_resample(np.array([0.1, 0.0, 0.6, 0.3]), 1000, np.random.default_rng(0)), minlength=4)
    assert counts.tolist() == [100, 0, 600, 300]


def _logp_window(smiles):
    logp = np.array([Crippen.MolLogP(to_mol(s)) for s in smiles])
    return log_window_probability(logp, np.full(len(smiles), 0.3), 4.0, 5.0)


@pytest.mark.parametrize("move", ["metropolis", "iqspr"])
def test_smc_moves_the_population_into_a_logp_window(ngram, esol, move):
    start = [canonical_or_none(s) for s in esol["smiles"] if Crippen.MolLogP(to_mol(s)) < 2.0]
    result = smc_sample(_logp_window, ngram, start, n_particles=40, steps=12, move=move, random_state=0)
    final = np.array([Crippen.MolLogP(to_mol(s)) for s in result.population])
    assert np.mean((final >= 4.0) & (final <= 5.0)) >= 0.5  # none of the starting molecules is in the window
    assert result.trace["mean_log_likelihood"].iloc[-1] > result.trace["mean_log_likelihood"].iloc[0]
    assert len(result.trace) == 12 and result.trace["proposal_validity"].mean() > 0.8
    assert result.molecules["smiles"].is_unique


def test_design_moves_predicted_solubility_into_the_window(esol, ngram):
    """Forward models trained on ESOL; SMC outputs sit in logS [-6, -5], where 7% of ESOL is."""
    out = design_molecules(esol, "smiles", {LOGS: (-6.0, -5.0)}, n=30, generator="smc",
                           featurizer=RDKitDescriptors(names=CHEAP), ngram=ngram, steps=12, population=60, seed=0)
    y = esol[LOGS].to_numpy()
    pred = out[f"{LOGS}_pred"].to_numpy()
    assert abs(pred.mean() - (-5.5)) < abs(y.mean() - (-5.5)) - 1.5
    assert out["in_window"].mean() > 5 * np.mean((y >= -6) & (y <= -5))
    assert out["likelihood"].is_monotonic_decreasing
    known = {canonical_or_none(s) for s in esol["smiles"]}
    assert out["smiles"].is_unique and not set(out["smiles"]) & known
    assert all(canonical_or_none(s) == s for s in out["smiles"])
    assert (out[f"{LOGS}_std"] > 0).all() and out["nearest_train_similarity"].between(0, 1).all()
