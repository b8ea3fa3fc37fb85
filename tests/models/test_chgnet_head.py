"""``--model chgnet-head``: an MLP-head ensemble on frozen CHGNet features (models/potentials/head.py)."""

from __future__ import annotations

import json
from importlib.util import find_spec

import numpy as np
import pandas as pd
import pytest

from matloop.cli.main import main


def _cells(path, n: int, seed: int = 0) -> None:
    """Inline pymatgen-JSON CsCl-type cells (written without pymatgen); y rises with the cell size."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        lat = float(rng.uniform(3.0, 4.5))
        a, b = rng.choice(["Na", "K", "Cs", "Cl", "Br", "I"], 2, replace=False)
        sites = [{"species": [{"element": str(e), "occu": 1}], "abc": f, "properties": {}, "label": str(e)}
                 for e, f in ((a, [0.0, 0.0, 0.0]), (b, [0.5, 0.5, 0.5]))]
        s = {"@module": "pymatgen.core.structure", "@class": "Structure", "charge": 0, "properties": {},
             "lattice": {"matrix": [[lat, 0, 0], [0, lat, 0], [0, 0, lat]], "pbc": [True, True, True]}, "sites": sites}
        rows.append({"structure": json.dumps(s), "y": 2.0 * lat + rng.normal(0, 0.05)})
    pd.DataFrame(rows).to_csv(path, index=False)


def test_the_head_learns_with_early_stopping():
    pytest.importorskip("torch")
    from matloop.models.potentials.head import HEAD, chgnet_head

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 10))
    y = np.tanh(X[:, 0]) + 0.5 * X[:, 1] + 0.05 * rng.normal(size=200)
    head = chgnet_head(0, max_epochs=120, patience=10).fit(X[:160], y[:160])
    mean, std = head.predict(X[160:], return_std=True)
    assert np.mean(np.abs(mean - y[160:])) < 0.4 * np.mean(np.abs(y[160:] - y[:160].mean()))
    assert (std > 0).all() and len(head.coefs_) == HEAD["n_members"]
    assert min(head.n_epochs_) < 120  # early stopping ended some member before the cap


def test_chgnet_head_refuses_what_it_cannot_use(tmp_path, capsys):
    pd.DataFrame({"formula": ["NaCl", "KCl", "MgO", "CaO"] * 3, "y": np.arange(12.0)}).to_csv(tmp_path / "c.csv",
                                                                                            index=False)
    assert main(["fit", str(tmp_path / "c.csv"), "--target", "y", "--model", "chgnet-head", "-o",
                 str(tmp_path / "m.model")]) == 2
    assert "--model chgnet-head learns from crystal structures" in capsys.readouterr().err
    if find_spec("chgnet") is not None and find_spec("torch") is not None:
        return  # the fit itself: test_fit_and_predict_with_the_chgnet_head
    _cells(tmp_path / "s.csv", 12)  # the plain install: a clear error, not a traceback
    assert main(["fit", str(tmp_path / "s.csv"), "--input", "structure", "--kind", "structure", "--target", "y",
                 "--model", "chgnet-head", "-o", str(tmp_path / "m.model")]) == 2
    err = capsys.readouterr().err
    assert "needs CHGNet and PyTorch, which are not installed" in err and "Traceback" not in err


def test_fit_and_predict_with_the_chgnet_head(tmp_path, capsys, monkeypatch):
    pytest.importorskip("chgnet")
    pytest.importorskip("torch")
    from matloop.models.potentials import head

    monkeypatch.setitem(head.HEAD, "max_epochs", 40)  # the plumbing, in seconds
    monkeypatch.setitem(head.HEAD, "n_members", 3)
    _cells(tmp_path / "t.csv", 40, 1)
    _cells(tmp_path / "n.csv", 5, 2)
    model = tmp_path / "h.model"
    assert main(["fit", str(tmp_path / "t.csv"), "--input", "structure", "--kind", "structure", "--target", "y",
                 "--model", "chgnet-head", "-o", str(model)]) == 0
    assert main(["predict", str(model), str(tmp_path / "n.csv"), "-o", str(tmp_path / "p.csv")]) == 0
    pred = pd.read_csv(tmp_path / "p.csv")
    assert len(pred) == 5 and (pred["std"] > 0).all() and np.isfinite(pred["prediction"]).all()
    truth = pd.read_csv(tmp_path / "n.csv")["y"]
    assert np.mean(np.abs(pred["prediction"] - truth)) < np.mean(np.abs(truth - truth.mean())) * 1.5
