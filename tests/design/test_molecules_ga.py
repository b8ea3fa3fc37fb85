"""The graph GA and the GuacaMol-style objectives."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rdkit")

from matloop.datasets import load  # noqa: E402
from matloop.design.molecules.chem import canonical_or_none, to_mol  # noqa: E402
from matloop.design.molecules.graph_ga import ChildFilter, crossover, graph_ga, mutate  # noqa: E402
from matloop.design.molecules.objectives import (  # noqa: E402
    CELECOXIB,
    GUACAMOL_TASKS,
    OSIMERTINIB,
    guacamol_score,
    isomer,
    osimertinib_mpo,
    qed_logp_window,
    similarity,
)


@pytest.fixture(scope="module")
def esol_smiles() -> list[str]:
    return [canonical_or_none(s.strip()) for s in load("esol").frame["smiles"]]


def test_similarity_and_isomer_objectives_follow_their_definitions():
    rediscover = similarity(CELECOXIB, "ECFP4", threshold=1.0)
    assert rediscover([CELECOXIB, "not a smiles"]).tolist() == [1.0, 0.0]
    assert 0 < rediscover(["Cc1ccc(-c2ccnn2-c2ccccc2)cc1"])[0] < 1
    c11 = isomer("C11H24")
    scores = c11(["CCCCCCCCCCC", "CC(C)CCCCCCCC", "CCCCCCCCCC", "CCCCCCCCCCO"])
    assert scores[0] == pytest.approx(1.0) and scores[1] == pytest.approx(1.0)
    # decane C10H22: one C and two H short -> geometric mean of exp(-1/2), exp(-2), exp(-9/8)
    assert scores[2] == pytest.approx(np.exp(np.mean([-0.5, -2.0, -9 / 8])))
    assert scores[3] < scores[0]
    assert isomer("C9H10N2O2PF2Cl")(["O=C(NC(F)(F)P(=O)(Cl)N)c1ccccc1CC"])[0] > 0.1
    with pytest.raises(ValueError):
        isomer("C11 H24")


def test_multi_property_objectives_are_in_the_unit_interval():
    osi = osimertinib_mpo()([OSIMERTINIB, "CCO", "C1CC"])
    assert 0 < osi[0] < 1 and osi[2] == 0.0  # too similar to itself and too greasy: not 1
    qed = qed_logp_window(2, 3)(["CC(=O)Nc1ccc(O)cc1", "CCCCCCCCCCCCCCCCCC"])
    assert 0 < qed[1] < qed[0] <= 1


def test_guacamol_aggregation_counts_missing_molecules_as_zero():
    assert guacamol_score([1.0, 0.5], (1, 10)) == pytest.approx((1.0 + 0.15) / 2)
    assert set(GUACAMOL_TASKS) >= {"Celecoxib rediscovery", "C11H24", "Osimertinib MPO"}


def test_crossover_and_mutation_give_valid_new_molecules(esol_smiles):
    rng = np.random.default_rng(0)
    limits = ChildFilter(40, 3.5, rng)
    mols = [to_mol(s) for s in esol_smiles[:40]]
    children = [crossover(mols[i], mols[i + 1], limits, rng) for i in range(0, 40, 2)]
    made = [c for c in children if c is not None]
    assert len(made) >= 15
    mutants = [mutate(m, limits, rng) for m in made]
    for child in made + [m for m in mutants if m is not None]:
        from rdkit import Chem

        assert canonical_or_none(Chem.MolToSmiles(child)) is not None


def test_ga_raises_similarity_to_a_target_over_generations(esol_smiles):
    objective = similarity(CELECOXIB, "ECFP4", threshold=1.0)
    start = float(objective(esol_smiles).max())
    result = graph_ga(objective, esol_smiles, population_size=30, offspring_size=60, generations=6,
                      average_size=30, random_state=0)
    best = result.trace["best"].to_numpy()
    assert np.all(np.diff(best) >= 0)  # elitist: the best never gets worse
    assert best[-1] > start + 0.05
    assert result.trace["mean"].iloc[-1] > result.trace["mean"].iloc[0]
    assert (result.trace["valid_children"] == 1.0).all()
    assert result.molecules["smiles"].is_unique
