"""Text-label and SMILES-valued parameter columns through the CLI: suggest, campaign, benchmark, fit/predict."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import matloop.io.detect as detect
from matloop.cli.main import main
from matloop.datasets import load


def _pool(name: str, columns: list[str], target: str, tmp_path, n: int = 70, measured: int = 25):
    frame = load(name).frame
    frame = frame.iloc[np.random.default_rng(1).choice(len(frame), n, replace=False)][columns + [target]]
    frame = frame.reset_index(drop=True)
    frame.loc[measured:, target] = np.nan
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_suggest_on_redoxmers_labels(tmp_path, capsys):
    cols = ["r1_label", "r3_label", "r4_label", "r5_label"]
    path, frame = _pool("redoxmers", cols, "ered", tmp_path)
    out = tmp_path / "next.csv"
    assert main(["suggest", str(path), "--target", "ered", "--maximize", "--batch", "3", "-o", str(out)]) == 0
    s = pd.read_csv(out)
    assert len(s) == 3 and s["ered"].isna().all()
    pool_keys = set(frame.loc[frame["ered"].isna(), cols].itertuples(index=False, name=None))
    assert set(s[cols].itertuples(index=False, name=None)) <= pool_keys
    captured = capsys.readouterr()
    assert "r5_label (label): one-hot" in captured.err
    assert "r1_label=R1_" in captured.out  # the printed batch names each label


@pytest.mark.parametrize("rdkit", [True, False])
def test_suggest_on_dye_laser_smiles(tmp_path, capsys, monkeypatch, rdkit):
    if rdkit:
        pytest.importorskip("rdkit")
    else:
        monkeypatch.setattr(detect, "rdkit_available", lambda: False)
    path, _ = _pool("dye_lasers", ["frag_a", "frag_b", "frag_c"], "peak_score", tmp_path)
    out = tmp_path / "next.csv"
    assert main(["suggest", str(path), "--target", "peak_score", "--maximize", "--batch", "2", "-o", str(out)]) == 0
    assert len(pd.read_csv(out)) == 2
    err = capsys.readouterr().err
    assert "frag_c (smiles)" in err
    if rdkit:
        assert "chemical: RDKit descriptors + Morgan fingerprint" in err
    else:
        assert "RDKit not installed" in err and "RDKit descriptors" not in err


def test_campaign_with_label_columns(tmp_path, capsys):
    cols = ["r1_label", "r3_label", "r4_label", "r5_label"]
    path, _ = _pool("redoxmers", cols, "gsol", tmp_path)
    db = str(tmp_path / "c.db")
    assert main(["campaign", "new", "redox", "--pool", str(path), "--goal", "gsol:min", "--db", db]) == 0
    batch = tmp_path / "batch.csv"
    assert main(["campaign", "suggest", "redox", "--batch", "2", "-o", str(batch), "--db", db]) == 0
    chosen = pd.read_csv(batch)
    from matloop.design.campaign import Campaign

    strategy = json.loads(Campaign("redox", db).ledger.suggestions()["strategy"].iloc[0])
    assert [e["column"] for e in strategy["encoding"]] == cols  # the ledger says how the inputs were encoded
    results = chosen[cols].assign(gsol=[-1.0, -2.0])
    res_path = tmp_path / "results.csv"
    results.to_csv(res_path, index=False)
    assert main(["campaign", "record", "redox", str(res_path), "--db", db]) == 0
    capsys.readouterr()
    assert main(["campaign", "status", "redox", "--db", db]) == 0
    status = capsys.readouterr().out
    assert "best value: -2" in status and "r5_label = " + str(chosen.loc[1, "r5_label"]) in status


def test_benchmark_campaign_reports_the_encoding(tmp_path):
    frame = load("redoxmers").frame.iloc[:90][["r1_label", "r3_label", "r4_label", "r5_label", "ered"]]
    path = tmp_path / "redox.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "b.json"
    assert main(["benchmark", "campaign", str(path), "--target", "ered", "--maximize", "--runs", "1", "--budget", "6",
                 "--json", str(out), "--quiet"]) == 0
    enc = json.loads(out.read_text())["encoding"]
    assert [e["kind"] for e in enc] == ["label"] * 4 and enc[3]["n_features"] == frame["r5_label"].nunique()


def test_fit_and_predict_with_a_text_extra_input(tmp_path, capsys):
    pytest.importorskip("rdkit")
    frame = load("esol").frame.iloc[:90][["smiles", "measured log solubility in mols per litre"]].copy()
    frame.columns = ["smiles", "logS"]
    frame["solvent"] = np.where(np.arange(len(frame)) % 3 == 0, "toluene", "water")
    frame["logS"] = frame["logS"] + np.where(frame["solvent"] == "toluene", 5.0, 0.0)  # the solvent matters
    path = tmp_path / "sol.csv"
    frame.to_csv(path, index=False)
    model = tmp_path / "m.model"
    assert main(["fit", str(path), "--target", "logS", "--extra-inputs", "solvent", "--model", "rf",
                 "--featurizer", "morgan", "-o", str(model)]) == 0
    assert "solvent (label): one-hot (2 labels)" in capsys.readouterr().err
    cand = pd.DataFrame({"smiles": [frame["smiles"][1]] * 4, "solvent": ["toluene", "water", "toluene", "water"]})
    cpath = tmp_path / "cand.csv"
    cand.to_csv(cpath, index=False)
    pred = tmp_path / "pred.csv"
    assert main(["predict", str(model), str(cpath), "-o", str(pred)]) == 0
    p = pd.read_csv(pred)
    assert p.loc[p["solvent"] == "toluene", "prediction"].min() > p.loc[p["solvent"] == "water", "prediction"].max()
    cand.loc[2, "solvent"] = "hexane"
    cand.to_csv(cpath, index=False)
    capsys.readouterr()
    assert main(["predict", str(model), str(cpath), "-o", str(pred)]) == 2
    err = capsys.readouterr().err
    assert "hexane" in err and "not seen" in err and "solvent" in err
