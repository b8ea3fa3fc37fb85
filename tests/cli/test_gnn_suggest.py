"""``--model gnn`` on ``suggest`` and ``campaign suggest``: the network's mean and std rank structure candidates."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from matloop.cli.main import main

TINY = dict(n_members=3, atom_fea_len=8, n_conv=1, h_fea_len=8, max_epochs=15, patience=5, batch_size=8,
            cutoff=6.0, learning_rate=5e-3)


def _cell(lat: float, a: str, b: str) -> dict:
    """A CsCl-type cell as a pymatgen dict, written without pymatgen (the plain venv has none)."""
    m = [[lat, 0.0, 0.0], [0.0, lat, 0.0], [0.0, 0.0, lat]]
    sites = [{"species": [{"element": e, "occu": 1}], "abc": f, "xyz": [x * lat for x in f], "label": e,
              "properties": {}} for e, f in ((a, [0.0, 0.0, 0.0]), (b, [0.5, 0.5, 0.5]))]
    return {"@module": "pymatgen.core.structure", "@class": "Structure", "charge": 0,
            "lattice": {"matrix": m, "pbc": [True, True, True]}, "properties": {}, "sites": sites}


def _pool(path, n_measured: int, n_open: int, seed: int = 0) -> pd.DataFrame:
    """Inline-structure table: y rises with the lattice parameter; the last ``n_open`` rows are blank."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_measured + n_open):
        lat = float(rng.uniform(3.8, 6.0))
        a, b = rng.choice(["Na", "K", "Mg", "Cl", "O", "F"], 2, replace=False)
        rows.append({"structure": json.dumps(_cell(lat, str(a), str(b))),
                     "y": 1.5 * lat + rng.normal(0, 0.05) if i < n_measured else np.nan})
    frame = pd.DataFrame(rows)
    frame.to_csv(path, index=False)
    return frame


@pytest.fixture
def tiny_network(monkeypatch):
    """Every GNN surrogate of this test gets a small network (seconds, not minutes)."""
    pytest.importorskip("torch")
    pytest.importorskip("pymatgen")
    from matloop.design import structure_surrogate
    from matloop.models.gnn import CrystalGraphRegressor

    monkeypatch.setattr(structure_surrogate, "default_network",
                        lambda n, random_state=0: CrystalGraphRegressor(**TINY, random_state=random_state))
    return lambda seed: CrystalGraphRegressor(**TINY, random_state=seed)


def test_lookup_gives_each_row_its_structure_and_is_shared_by_clones():
    from sklearn.base import clone

    from matloop.design.structure_surrogate import GraphNetworkSurrogate, StructureLookup

    X = np.array([[1.0, 2.0], [3.0, 4.0], [1.0, 2.5]])
    lookup = StructureLookup().add(X, ["a", "b", "c"])
    assert lookup(X[[2, 0]]) == ["c", "a"] and len(lookup) == 3
    with pytest.raises(ValueError, match="no structure"):
        lookup(np.array([[9.0, 9.0]]))
    assert clone(GraphNetworkSurrogate(lookup)).lookup is lookup  # the structures are not copied per refit


def test_suggest_ranks_candidates_by_the_networks_mean_and_std(tmp_path, tiny_network, capsys):
    from pymatgen.core import Structure

    frame = _pool(tmp_path / "pool.csv", 16, 8)
    out = tmp_path / "next.csv"
    assert main(["suggest", str(tmp_path / "pool.csv"), "--input", "structure", "--kind", "structure", "--target",
                 "y", "--maximize", "--model", "gnn", "--batch", "3", "--seed", "4", "-o", str(out)]) == 0
    assert "trained on 16 measured rows, ranked 8 candidates" in capsys.readouterr().out
    got = pd.read_csv(out)
    assert list(got["rank"]) == [1, 2, 3] and got["y"].isna().all()
    assert set(got["structure"]) <= set(frame["structure"].iloc[16:])
    # the same network fitted directly on the measured structures gives the same mean and std
    net = tiny_network(4).fit([Structure.from_dict(json.loads(s)) for s in frame["structure"].iloc[:16]],
                              frame["y"].iloc[:16].to_numpy())
    mean, std = net.predict([Structure.from_dict(json.loads(s)) for s in got["structure"]], return_std=True)
    assert np.allclose(got["prediction"], mean, rtol=1e-4) and np.allclose(got["std"], std, rtol=1e-4)
    assert (got["std"] > 0).all()


def test_campaign_suggest_with_gnn(tmp_path, tiny_network, capsys):
    _pool(tmp_path / "pool.csv", 14, 6, seed=1)
    db = str(tmp_path / "c.db")
    assert main(["campaign", "new", "s", "--db", db, "--pool", str(tmp_path / "pool.csv"), "--input", "structure",
                 "--target", "y", "--maximize"]) == 0
    assert main(["campaign", "suggest", "s", "--db", db, "--model", "gnn", "--batch", "2",
                 "-o", str(tmp_path / "n.csv")]) == 0
    got = pd.read_csv(tmp_path / "n.csv")
    assert len(got) == 2 and (got["std"] > 0).all() and np.isfinite(got["prediction"]).all()
    from matloop.design.ledger import Ledger

    assert set(Ledger(db, "s").suggestions()["model"]) == {"gnn"}


def test_gnn_suggest_refuses_what_it_cannot_do(tmp_path, capsys, monkeypatch):
    """Clear exit-2 errors, with or without PyTorch and pymatgen (the structures here are inline JSON)."""
    import sys

    pd.DataFrame({"formula": ["NaCl", "KCl", "MgO"], "y": [1.0, 2.0, np.nan]}).to_csv(tmp_path / "c.csv", index=False)
    base = ["--target", "y", "--maximize", "--model", "gnn", "-o", str(tmp_path / "n.csv")]
    assert main(["suggest", str(tmp_path / "c.csv"), *base]) == 2
    assert "--model gnn learns from crystal structures" in capsys.readouterr().err
    _pool(tmp_path / "s.csv", 12, 3)
    table = [str(tmp_path / "s.csv"), "--input", "structure", "--kind", "structure"]
    assert main(["suggest", *table, *base, "--batch-method", "believer"]) == 2
    assert "refits the surrogate once per pick" in capsys.readouterr().err
    assert main(["suggest", *table, "--goal", "y:max", "--goal", "y2:min", "--model", "gnn", "-o",
                 str(tmp_path / "n.csv")]) == 2
    assert "ranks one goal" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "torch", None)  # as if PyTorch were not installed
    assert main(["suggest", *table, *base]) == 2
    err = capsys.readouterr().err
    assert 'needs PyTorch, which is not installed: pip install "matloop[torch]"' in err and "Traceback" not in err


def test_too_few_measured_structures_is_an_input_error(tmp_path, tiny_network, capsys):
    _pool(tmp_path / "s.csv", 6, 3)
    assert main(["suggest", str(tmp_path / "s.csv"), "--input", "structure", "--kind", "structure", "--target", "y",
                 "--maximize", "--model", "gnn", "-o", str(tmp_path / "n.csv")]) == 2
    assert "needs at least 10 measured structures" in capsys.readouterr().err


def test_default_network_is_the_fit_commands():
    pytest.importorskip("torch")
    from matloop.design.structure_surrogate import DESIGN_BUDGET, default_network

    net = default_network(30, random_state=2)
    assert net.time_budget == DESIGN_BUDGET and net.n_jobs == 1 and net.random_state == 2


def test_structure_auto_fit_and_validate_with_the_network_candidate(tmp_path, monkeypatch, capsys):
    """``fit --model auto`` on a structure table trains the network as a candidate and says so; ``validate``
    refits it in every fold."""
    pytest.importorskip("torch")
    pytest.importorskip("pymatgen")
    from matloop.models import structure_auto
    from matloop.models.gnn import cli as gnn_cli

    monkeypatch.setattr(gnn_cli, "gnn_params", lambda n, budget=0: {**TINY, "time_budget": budget})
    monkeypatch.setattr(structure_auto, "default_sets", lambda: ("composition",))  # seconds, not a minute
    _pool(tmp_path / "t.csv", 40, 0)
    common = ["--input", "structure", "--kind", "structure", "--target", "y", "--time-budget", "4"]
    assert main(["fit", str(tmp_path / "t.csv"), *common, "--gnn-candidate", "yes", "-o",
                 str(tmp_path / "m.model")]) == 0
    out = capsys.readouterr().out
    assert "crystal graph network candidate: considered (40 rows; --gnn-candidate yes)" in out
    js = tmp_path / "v.json"
    assert main(["validate", str(tmp_path / "t.csv"), *common, "--gnn-candidate", "yes", "--folds", "2",
                 "--json", str(js)]) == 0
    assert len(json.loads(js.read_text())["folds"]) == 2
