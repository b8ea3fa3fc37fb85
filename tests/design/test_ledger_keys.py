"""Ledger keys of SMILES-valued parameters: two spellings of one molecule are one candidate (RDKit),
the raw text without RDKit (said so), and ledgers created before canonical keys read as before."""

import importlib.util

import numpy as np
import pandas as pd
import pytest

from matloop.design.acquisition import Objective
from matloop.design.campaign import Campaign
from matloop.design.ledger_keys import ledger_parameter_keys
from matloop.errors import InputError
from matloop.io.dataset import Dataset

HAS_RDKIT = importlib.util.find_spec("rdkit") is not None
WRITTEN = ["OCC(O)CO", "c1ccccc1O", "CC(=O)OC", "N#Cc1ccccc1"]
OTHER_SPELLING = {"OCC(O)CO": "C(O)C(O)CO", "c1ccccc1O": "Oc1ccccc1", "CC(=O)OC": "COC(C)=O",
                  "N#Cc1ccccc1": "c1ccc(C#N)cc1"}


def _pool():
    rng = np.random.default_rng(0)
    f = pd.DataFrame({"additive": np.repeat(WRITTEN, 4), "temperature": np.tile([300.0, 350.0, 400.0, 450.0], 4)})
    f["yield"] = rng.uniform(0, 1, len(f)).round(3)
    f.loc[6:, "yield"] = np.nan
    return Dataset(frame=f, input=None, kind="parameters", targets=["yield"], parameters=["additive", "temperature"])


def test_two_spellings_are_one_candidate(tmp_path):
    db = str(tmp_path / "k.db")
    camp = Campaign.create("k", db, Objective("max"), "yield", pool=_pool())
    spec = camp.config.get("smiles_keys")
    assert spec and spec["columns"] == ["additive"] and spec["canonical"] is HAS_RDKIT
    results = pd.DataFrame({"additive": [OTHER_SPELLING["CC(=O)OC"]], "temperature": [400.0], "yield": [0.9]})
    if HAS_RDKIT:
        done = camp.record(results, source="r.csv")
        assert done.inserted == 1 and done.new_candidates == 0
        t = camp.table()
        row = t[(t["additive"] == "CC(=O)OC") & (t["temperature"] == 400.0)]
        assert row["yield"].iloc[0] == pytest.approx(0.9)
        keys = ledger_parameter_keys(camp.config, pd.DataFrame({"additive": WRITTEN, "temperature": 300.0}))
        again = ledger_parameter_keys(camp.config, pd.DataFrame({"additive": [OTHER_SPELLING[w] for w in WRITTEN],
                                                                 "temperature": 300}))
        assert keys == again
    else:  # the raw text: another spelling is not a known candidate
        with pytest.raises(InputError, match="not"):
            camp.record(results, source="r.csv")


def test_a_pool_spelling_one_molecule_twice_keeps_one_candidate(tmp_path):
    if not HAS_RDKIT:
        pytest.skip("canonical SMILES need RDKit")
    ds = _pool()
    f = pd.concat([ds.frame, pd.DataFrame({"additive": ["Oc1ccccc1"], "temperature": [300.0], "yield": [0.5]})],
                  ignore_index=True)
    ds = Dataset(frame=f, input=None, kind="parameters", targets=["yield"], parameters=["additive", "temperature"])
    camp = Campaign.create("d", str(tmp_path / "d.db"), Objective("max"), "yield", pool=ds)
    t = camp.table()
    assert len(t) == 16  # the 17th row repeats (phenol, 300) in another spelling: a replicate of it
    assert t.loc[(t["additive"] == "c1ccccc1O") & (t["temperature"] == 300.0), "n_measurements"].iloc[0] == 2


def test_older_ledgers_keep_raw_keys():
    cfg = {"parameter_columns": ["additive", "temperature"]}  # no smiles_keys: created before canonical keys
    frame = pd.DataFrame({"additive": ["Oc1ccccc1", "c1ccccc1O"], "temperature": [300, 300]})
    keys = ledger_parameter_keys(cfg, frame)
    assert keys[0] != keys[1] and "Oc1ccccc1" in keys[0]
