"""``--validate stability`` (screen, design compositions) and ``matloop structures relax``."""

from __future__ import annotations

import argparse
import importlib.util

import numpy as np
import pandas as pd
import pytest

from matloop.cli.main import main

HAS_ASE = importlib.util.find_spec("ase") is not None and importlib.util.find_spec("pymatgen") is not None


@pytest.fixture
def no_chgnet(monkeypatch):
    import matloop.models.potentials.features as features

    monkeypatch.setattr(features, "chgnet_available", lambda: False)


@pytest.mark.parametrize("command", [
    ["screen", "--candidates", "c.csv", "--model", "missing.model", "--validate", "stability", "-o", "h.csv"],
    ["design", "compositions", "--model", "missing.model", "--bounds", "Fe=0.5:0.9,Ni=0.1:0.5", "--maximize",
     "--validate", "stability", "-o", "d.csv"],
])
def test_validate_without_chgnet_exits_2_naming_the_extra(command, no_chgnet, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(command) == 2
    err = capsys.readouterr().err
    assert 'matloop[chgnet]' in err and "Traceback" not in err


def test_max_ehull_needs_validate(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["screen", "--candidates", "c.csv", "--model", "m.model", "--max-ehull", "0.1", "-o", "h.csv"]) == 2
    assert "--validate stability" in capsys.readouterr().err


def _fake_validation(formulas, top_k, **kwargs):
    """What validate_stability returns for 5 hits, the top 4 validated (deterministic: no physics)."""
    status = ["unstable", "stable", "no_structure", "metastable", "not_validated"][:len(formulas)]
    e_hull = [0.4, -0.02, np.nan, 0.06, np.nan][:len(formulas)]
    return pd.DataFrame({"validation": status, "reason": [f"because {s}" for s in status], "e_hull": e_hull,
                         "structure": ["data_x" if np.isfinite(e) else "" for e in e_hull]})


def _hits():
    return pd.DataFrame({"rank": [1, 2, 3, 4, 5], "formula": ["A", "B", "C", "D", "E"],
                         "prediction": [5.0, 4.0, 3.0, 2.0, 1.0]})


def test_rerank_and_filter(monkeypatch, capsys):
    import matloop.design.stability as stability
    from matloop.cli.commands import _validate_stability as validate

    monkeypatch.setattr(stability, "validate_stability", _fake_validation)
    args = argparse.Namespace(validate="stability", validate_top=4, max_ehull=None, relax_steps=10,
                              validate_structures=1)
    out = validate.apply(_hits(), _hits()["formula"], args)
    # survivors (stable, metastable) first in screening order, then the other validated, then the rest
    assert out["formula"].tolist() == ["B", "D", "A", "C", "E"]
    assert out["rank"].tolist() == [1, 2, 3, 4, 5] and out["screen_rank"].tolist() == [2, 4, 1, 3, 5]
    assert out.loc[0, "reason"] == "because stable" and out.loc[0, "structure"] == "data_x"
    err = capsys.readouterr().err
    assert "2 of 4 validated hits survived" in err and "1 no prototype structure" in err and "1 more than" in err
    args.max_ehull = 0.1
    kept = validate.apply(_hits(), _hits()["formula"], args, rank_name="design_rank")
    assert kept["formula"].tolist() == ["B", "D"] and kept["design_rank"].tolist() == [2, 4]


def _cif_table(path):
    from pymatgen.core import Lattice, Structure

    cu = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.70), ["Cu"], [[0, 0, 0]])
    rattled = Structure(cu.lattice, cu.species, cu.cart_coords + np.random.default_rng(0).normal(0, 0.05, (4, 3)),
                        coords_are_cartesian=True)
    uranium = Structure(Lattice.cubic(3.0), ["U"], [[0, 0, 0]])  # EMT has no uranium parameters
    pd.DataFrame({"name": ["cu", "u", "cu_again"], "structure": [s.to(fmt="cif") for s in (rattled, uranium, rattled)]}
                 ).to_csv(path, index=False)


@pytest.mark.skipif(not HAS_ASE, reason="needs ASE and pymatgen")
def test_structures_relax_reports_each_row(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _cif_table("s.csv")
    assert main(["structures", "relax", "s.csv", "--calculator", "emt", "--fmax", "0.02", "--steps", "200",
                 "-o", "r.csv"]) == 0
    out = pd.read_csv("r.csv")
    assert out["name"].tolist() == ["cu", "u", "cu_again"]
    assert out["converged"].tolist() == [True, False, True] and out["relaxed_structure"].iloc[0].startswith("# generated")
    assert out["volume_change"].iloc[0] < 0.95  # the 3 % too large cell shrinks to EMT's copper
    captured = capsys.readouterr()
    assert "2 converged, 0 not converged (last energy kept), 1 failed" in captured.out
    assert "row 2 failed" in captured.err
    assert main(["structures", "relax", "s.csv", "--calculator", "emt", "--fmax", "1e-5", "--steps", "2",
                 "-o", "short.csv"]) == 0
    assert "row 1 not converged: not converged in 2 steps" in capsys.readouterr().err


def test_structures_relax_without_the_packages_exits_2(tmp_path, monkeypatch, capsys, no_chgnet):
    monkeypatch.chdir(tmp_path)
    pd.DataFrame({"structure": ["x"]}).to_csv("s.csv", index=False)
    assert main(["structures", "relax", "s.csv", "-o", "r.csv"]) == 2
    assert "matloop[chgnet]" in capsys.readouterr().err
