"""``matloop structures predict``: candidates per row, reasons kept, bad formulas exit 2."""

from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("pymatgen.core")

from pymatgen.core import Lattice, Structure  # noqa: E402

from matloop.cli.main import main  # noqa: E402


@pytest.fixture()
def templates(tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    rock = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    rock.to(filename=str(folder / "NaCl.cif"))
    cscl = Structure.from_spacegroup("Pm-3m", Lattice.cubic(4.12), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    cscl.to(filename=str(folder / "POSCAR_CsCl"), fmt="poscar")
    return folder


def test_predict_writes_candidates_and_reasons(tmp_path, templates, capsys):
    hits = tmp_path / "hits.csv"
    pd.DataFrame({"name": ["a", "b", "c"], "formula": ["KBr", "Al2O3", "LiF"]}).to_csv(hits, index=False)
    out = tmp_path / "cands.csv"
    code = main(["structures", "predict", "--formulas", str(hits), "--templates", str(templates), "--library", "none",
                 "--top", "2", "-o", str(out), "-q"])
    assert code == 0
    frame = pd.read_csv(out)
    assert frame["name"].tolist() == ["a", "a", "b", "c", "c"]  # the input row's columns on every candidate
    assert frame.loc[frame["name"] == "a", "rank"].tolist() == [1, 2]
    assert frame.loc[frame["name"] == "a", "probability"].sum() == pytest.approx(1.0, abs=1e-5)
    assert "A2B3" in frame.loc[frame["name"] == "b", "reason"].iloc[0]  # kept, never dropped
    assert set(frame["prototype_id"].dropna()) == {"template:NaCl.cif", "template:POSCAR_CsCl"}
    assert frame["structure"].iloc[0].lstrip().startswith("#") and "data_KBr" in frame["structure"].iloc[0]
    assert "formula_predicted" in frame  # the input's own 'formula' column is not overwritten
    assert "1 compositions without a prototype" in capsys.readouterr().out


def test_bad_formulas_exit_2_with_rows(tmp_path, templates, capsys):
    hits = tmp_path / "hits.csv"
    pd.DataFrame({"formula": ["KBr", "Xx2O", "NaCl", "K)("]}).to_csv(hits, index=False)
    code = main(["structures", "predict", "--formulas", str(hits), "--templates", str(templates), "--library", "none",
                 "-o", str(tmp_path / "out.csv")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "Xx2O" in err and "K)(" in err
    assert not (tmp_path / "out.csv").exists()


def test_unknown_library_and_empty_library_exit_2(tmp_path, capsys):
    hits = tmp_path / "hits.csv"
    pd.DataFrame({"formula": ["KBr"]}).to_csv(hits, index=False)
    assert main(["structures", "predict", "--formulas", str(hits), "--library", "esol,flla",
                 "-o", str(tmp_path / "o.csv")]) == 2
    assert "esol" in capsys.readouterr().err
    assert main(["structures", "predict", "--formulas", str(hits), "--library", "none",
                 "-o", str(tmp_path / "o.csv")]) == 2
