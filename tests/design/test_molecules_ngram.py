"""The n-gram chemical language model: exact encoding, valid samples, modifications, plausibility."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rdkit")

from matloop.datasets import load  # noqa: E402
from matloop.design.molecules.chem import canonical_or_none, generation_metrics  # noqa: E402
from matloop.design.molecules.ngram import NGramModel, decode, encode, tokenize  # noqa: E402


@pytest.fixture(scope="module")
def esol_smiles() -> list[str]:
    return [s.strip() for s in load("esol").frame["smiles"]]


@pytest.fixture(scope="module")
def model(esol_smiles) -> NGramModel:
    return NGramModel(order=8, augment=1, random_state=0).fit(esol_smiles)


def test_tokenize_keeps_multi_character_tokens_and_rejects_foreign_text():
    assert tokenize("ClC(Br)c1cc[nH]c1%12") == ["Cl", "C", "(", "Br", ")", "c", "1", "c", "c", "[nH]", "c", "1", "%12"]
    assert tokenize("CC O") is None


def test_encoding_is_exact_for_every_esol_molecule_including_crossed_ring_closures(esol_smiles):
    crossed = "C12CC3CC1CC(C3)C2"  # ring 1 closes before ring 3, which a last-opened-first-closed rule would swap
    symbols = encode(crossed)
    assert "&2" in symbols  # closes the ring opened two places below the top of the stack
    assert canonical_or_none(decode(symbols)) == canonical_or_none(crossed)
    for smiles in esol_smiles:
        canon = canonical_or_none(smiles)
        assert canonical_or_none(decode(encode(canon))) == canon, smiles


def test_unsupported_smiles_are_refused():
    assert encode("[Na+].[Cl-]") is None  # several fragments
    assert encode("*CC*") is None  # polymer end groups


def test_samples_after_training_on_esol_are_mostly_valid_unique_and_new(model, esol_smiles):
    samples = model.sample(400, random_state=1)
    metrics = generation_metrics(samples, esol_smiles)
    assert metrics["validity"] >= 0.9  # grammar + valence masks; an unmasked n-gram gives ~0.65
    assert metrics["uniqueness"] >= 0.7
    assert metrics["novelty"] >= 0.5
    assert model.sample(5, random_state=3) == model.sample(5, random_state=3)


def test_modify_returns_a_valid_different_molecule(model, esol_smiles):
    rng = np.random.default_rng(0)
    start = [canonical_or_none(s) for s in esol_smiles[:60]]
    proposals, stats = model.propose(start, rng)
    changed = [p for p, s in zip(proposals, start, strict=True) if p != s]
    assert len(changed) >= 55
    assert all(canonical_or_none(p) == p for p in proposals)
    assert stats["valid"] / stats["attempts"] > 0.8


def test_training_molecules_are_more_plausible_than_shuffled_ones(model, esol_smiles):
    """Per token, real molecules score far higher than the same tokens in a random order."""
    rng = np.random.default_rng(0)
    real, shuffled = [], []
    for smiles in esol_smiles[:60]:
        canon = canonical_or_none(smiles)
        tokens = tokenize(canon)
        real.append(model.log_prob(canon) / (len(tokens) + 1))
        mixed = "".join(rng.permutation(tokens))
        shuffled.append(model.log_prob(mixed) / (len(tokens) + 1))
    assert np.all(np.isfinite(real))
    shuffled = np.array(shuffled)
    finite = shuffled[np.isfinite(shuffled)]
    assert len(finite) < len(shuffled)  # most shuffles are not even grammatical (-inf)
    assert np.mean(real) > np.mean(finite) + 0.3  # the valid shuffles are other, less usual molecules
