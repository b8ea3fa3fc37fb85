"""``--model gnn`` through the CLI: fit, predict and validate on a small inline-structure table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from matloop.cli.main import main


def _table(path, n: int, seed: int) -> pd.DataFrame:
    from pymatgen.core import Lattice, Structure

    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        lat = rng.uniform(3.8, 6.0)
        a, b = rng.choice(["Na", "K", "Mg", "Cl", "O", "F"], 2, replace=False)
        s = Structure(Lattice.cubic(lat), [a, b], [[0, 0, 0], [0.5, 0.5, 0.5]])
        rows.append({"structure": json.dumps(s.as_dict()), "y": 1.5 * lat + rng.normal(0, 0.05)})
    frame = pd.DataFrame(rows)
    frame.to_csv(path, index=False)
    return frame


def test_fit_predict_validate_with_gnn(tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("pymatgen")
    _table(tmp_path / "train.csv", 30, 0)
    _table(tmp_path / "new.csv", 5, 1)
    model = tmp_path / "gnn.model"
    common = ["--input", "structure", "--kind", "structure", "--target", "y", "--model", "gnn"]
    assert main(["fit", str(tmp_path / "train.csv"), *common, "--time-budget", "6", "-o", str(model)]) == 0
    out = capsys.readouterr().out
    assert "fitted gnn on 30 rows of structure input" in out and "gnn: 5 CGCNN networks" in out
    assert "held-out MAE of the members on the rows they did not see (30 rows)" in out
    assert main(["predict", str(model), str(tmp_path / "new.csv"), "-o", str(tmp_path / "p.csv")]) == 0
    pred = pd.read_csv(tmp_path / "p.csv")
    assert {"prediction", "std", "lower_95", "upper_95", "in_domain", "domain_distance"} <= set(pred.columns)
    assert len(pred) == 5 and (pred["std"] > 0).all()
    # a 6-second fit (wall clock, so its epochs depend on the machine's load): only its plumbing is checked here;
    # tests/models/test_gnn.py checks what the network learns
    assert np.isfinite(pred["prediction"]).all() and (pred["upper_95"] > pred["lower_95"]).all()
    js = tmp_path / "v.json"
    assert main(["validate", str(tmp_path / "train.csv"), *common, "--folds", "3", "--time-budget", "6",
                 "--json", str(js)]) == 0
    report = json.loads(js.read_text())
    assert report["model"] == "gnn" and len(report["folds"]) == 3 and np.isfinite(report["mean"]["mae"])


def test_gnn_refuses_what_it_cannot_use(tmp_path, capsys):
    pd.DataFrame({"formula": ["NaCl", "KCl", "MgO", "CaO"] * 3, "y": np.arange(12.0)}).to_csv(
        tmp_path / "comp.csv", index=False)
    assert main(["fit", str(tmp_path / "comp.csv"), "--target", "y", "--model", "gnn", "-o",
                 str(tmp_path / "m.model")]) == 2
    err = capsys.readouterr().err
    assert "--model gnn learns from crystal structures" in err and "Traceback" not in err
    pytest.importorskip("pymatgen")
    _table(tmp_path / "s.csv", 12, 2)
    assert main(["fit", str(tmp_path / "s.csv"), "--input", "structure", "--kind", "structure", "--target", "y",
                 "--model", "gnn", "--featurizer", "structure", "-o", str(tmp_path / "m.model")]) == 2
    assert "--featurizer does not apply to --model gnn" in capsys.readouterr().err


def test_gnn_without_pytorch_is_a_clear_input_error(tmp_path, capsys, monkeypatch):
    import sys

    pytest.importorskip("pymatgen")
    _table(tmp_path / "s.csv", 12, 3)
    monkeypatch.setitem(sys.modules, "torch", None)  # as if PyTorch were not installed
    assert main(["fit", str(tmp_path / "s.csv"), "--input", "structure", "--kind", "structure", "--target", "y",
                 "--model", "gnn", "-o", str(tmp_path / "m.model")]) == 2
    err = capsys.readouterr().err
    assert "needs PyTorch" in err and 'pip install "matloop[torch]"' in err and "Traceback" not in err
