"""``design_molecules``: checked inputs, and outputs that are valid, distinct, new and annotated."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("rdkit")

from rdkit.Chem import Crippen  # noqa: E402

from matloop import InputError  # noqa: E402
from matloop.datasets import load  # noqa: E402
from matloop.design.molecules import PropertyPredictor, design_molecules  # noqa: E402
from matloop.design.molecules.chem import canonical_or_none, to_mol  # noqa: E402


class CrippenModel:
    """A stand-in forward model that takes SMILES: Crippen logP with a std growing with size."""

    def predict(self, X, return_std=False):
        mols = [to_mol(s) for s in X]
        mean = np.array([Crippen.MolLogP(m) for m in mols])
        std = 0.2 + 0.02 * np.array([m.GetNumHeavyAtoms() for m in mols])
        return (mean, std) if return_std else mean


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    frame = load("esol").frame[["smiles", "measured log solubility in mols per litre"]].head(300)
    return frame.rename(columns={"measured log solubility in mols per litre": "logS"}).assign(
        smiles=lambda f: f["smiles"].str.strip())


def test_ga_output_is_valid_distinct_new_and_in_the_window(table):
    out = design_molecules(table, "smiles", {"logP": (3.0, 3.5)}, n=20, generator="ga", model=CrippenModel(),
                           steps=4, population=30, seed=1)
    assert len(out) == 20 and out["rank"].tolist() == list(range(1, 21))
    known = {canonical_or_none(s) for s in table["smiles"]}
    assert out["smiles"].is_unique and not set(out["smiles"]) & known
    assert all(canonical_or_none(s) == s for s in out["smiles"])
    logp = np.array([Crippen.MolLogP(to_mol(s)) for s in out["smiles"]])
    assert np.allclose(out["logP_pred"], logp)
    assert out["in_window"].all() and (out["logP_p_window"] > 0.4).all()  # std >= 0.3: at most ~0.6
    assert np.allclose(out["likelihood"], out["logP_p_window"])
    assert list(out.columns) == ["rank", "smiles", "logP_pred", "logP_std", "logP_p_window", "likelihood",
                                 "log_likelihood", "in_window", "nearest_train_similarity", "nearest_train_smiles",
                                 "in_domain", "generator", "step"]
    assert out.attrs["design"]["n_evaluated"] > 30


def test_same_seed_same_molecules(table):
    kwargs = dict(n=5, generator="ga", model=CrippenModel(), steps=2, population=20)
    first = design_molecules(table, "smiles", {"logP": (None, 0.0)}, seed=3, **kwargs)
    again = design_molecules(table, "smiles", {"logP": (None, 0.0)}, seed=3, **kwargs)
    assert first["smiles"].tolist() == again["smiles"].tolist()


def test_two_targets_multiply_their_window_probabilities(table):
    models = {"logP": CrippenModel(), "logP_again": CrippenModel()}
    out = design_molecules(table, "smiles", {"logP": (1, 2), "logP_again": (1.5, None)}, n=5, generator="ga",
                           model=models, steps=2, population=20)
    assert np.allclose(out["likelihood"], out["logP_p_window"] * out["logP_again_p_window"])
    predictor = PropertyPredictor(models)
    out2 = design_molecules(table, "smiles", {"logP": (1, 2), "logP_again": (1.5, None)}, n=5, generator="ga",
                            model=predictor, steps=2, population=20)
    assert out2["smiles"].tolist() == out["smiles"].tolist()


def test_bad_rows_are_reported_with_their_row_numbers(table):
    bad = table.head(12).astype({"logS": object})
    bad.loc[3, "smiles"] = "C1CC"
    bad.loc[7, "smiles"] = "*CC*"
    bad.loc[9, "logS"] = "n/a"
    with pytest.raises(InputError) as info:
        design_molecules(bad, "smiles", {"logS": (-2, -1)}, n=5)
    assert info.value.table["row"].tolist() == [4, 8]
    bad.loc[3, "smiles"] = bad.loc[7, "smiles"] = "CCO"
    with pytest.raises(InputError) as info:
        design_molecules(bad, "smiles", {"logS": (-2, -1)}, n=5)
    assert info.value.table[["row", "column"]].values.tolist() == [[10, "logS"]]


def test_bad_targets_and_options_are_refused(table):
    with pytest.raises(InputError, match="not in the table"):
        design_molecules(table, "smiles", {"nope": (0, 1)})
    with pytest.raises(InputError, match="SMILES column"):
        design_molecules(table, "smi", {"logS": (0, 1)})
    with pytest.raises(ValueError, match="lo < hi"):
        design_molecules(table, "smiles", {"logS": (1, 0)})
    with pytest.raises(ValueError, match="at least one bound"):
        design_molecules(table, "smiles", {"logS": (None, None)})
    with pytest.raises(ValueError, match="generator"):
        design_molecules(table, "smiles", {"logS": (0, 1)}, generator="vae")
    with pytest.raises(ValueError, match="mapping"):
        design_molecules(table, "smiles", {"a": (0, 1), "b": (0, 1)}, model=CrippenModel())
