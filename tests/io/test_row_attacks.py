"""Row-level attacks on validation (issue 16 items 1, 4, 15, 16; issue 15's perovskite formulas).

A cell that crashes native code, overflows, shifts row numbers or reaches outside the table's folder
must become one bad row with its file row number and a reason; never a segfault, a NaN prediction,
a wrong row, or another file's contents in a message.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matloop import InputError
from matloop.io import read_table
from matloop.io.dataset import Dataset
from matloop.io.formula import MAX_AMOUNT, parse_formula, parse_formulas
from matloop.io.rows import attach_source_rows, source_rows
from matloop.io.smiles import MAX_ATOMS, MAX_BRANCH_DEPTH, MAX_SMILES_LENGTH, bounds_problem
from matloop.io.validate import check_finite_features, validate_structure_paths
from standins import needs_pymatgen, needs_rdkit


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "matloop.cli.main", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


# ----------------------------------------------------------------------------- SMILES bounds (item 1)
def test_bounds_are_checked_without_rdkit():
    assert bounds_problem("CCO") is None
    assert "too long" in bounds_problem("C" * (MAX_SMILES_LENGTH + 1))
    assert "501 atoms" in bounds_problem("[K]" * (MAX_ATOMS + 1))
    assert "too large" in bounds_problem("Cl" * (MAX_ATOMS + 1))
    deep = "C(" * (MAX_BRANCH_DEPTH + 1) + "C" + ")" * (MAX_BRANCH_DEPTH + 1)
    assert "nested" in bounds_problem(deep)
    assert bounds_problem("C" * MAX_ATOMS) is None


@needs_rdkit
def test_long_smiles_is_a_bad_row_in_every_command_not_a_segfault(tmp_path):
    table = tmp_path / "long.csv"
    table.write_text("smiles,y\nCCO,1\nCCCO,2\n" + "C" * 20000 + ",3\n")
    runs = {
        "check": _cli("check", str(table), "--target", "y", cwd=tmp_path),  # column detection samples it too
        "featurize": _cli("featurize", str(table), "-o", str(tmp_path / "f.csv"), cwd=tmp_path),
        "fit": _cli("fit", str(table), "--target", "y", "-o", str(tmp_path / "m.skops"), cwd=tmp_path),
        "design": _cli("design", "molecules", "--train", str(table), "--target", "y=1:2", "--n", "2",
                       "-o", str(tmp_path / "d.csv"), cwd=tmp_path),
    }
    for name, run in runs.items():
        assert run.returncode == 2, (name, run.returncode, run.stderr[-2000:])
        assert "Traceback" not in run.stderr
        line = next(line for line in run.stderr.splitlines() if "too long" in line)
        assert line.split()[0] == "3", (name, line)


@needs_rdkit
def test_skip_invalid_leaves_out_a_huge_molecule_with_its_reason(tmp_path):
    table = tmp_path / "big.csv"
    table.write_text("smiles,y\nCCO,1\n" + "C1CC" * 200 + "C1,2\nCCC,3\n")
    ds = read_table(table, target="y", skip_invalid=True)
    assert ds.rows.tolist() == [1, 3]
    assert ds.skipped["row"].tolist() == [2] and "too large" in ds.skipped["reason"].iloc[0]


# ----------------------------------------------------------------------------- one SMILES rule (item 15)
ODD_SMILES = ["*", "**", "*C*", "C1CC*1", "*CC*", "CC(C", "c1cccc1", "N(C)(C)(C)(C)C", "CCO", "C" * 3000, " CCO "]


@needs_rdkit
def test_check_and_featurization_apply_the_same_rule():
    from matloop.io.validate import validate_smiles
    from matloop.represent.molecule_smiles import parse_smiles

    values = pd.Series(ODD_SMILES, dtype=object)
    rows = np.arange(1, len(values) + 1)
    _, records = validate_smiles(values, "smiles", rows)
    _, table = parse_smiles(values, errors="collect")
    assert {r["row"]: r["reason"] for r in records} == dict(zip(table["row"], table["reason"], strict=True))
    assert {r["row"] for r in records} == {1, 2, 4, 6, 7, 8, 10}


@needs_rdkit
def test_star_smiles_fails_check_and_is_skipped(tmp_path):
    from matloop.represent.molecule import default_molecule_featurizer

    table = tmp_path / "star.csv"
    table.write_text("smiles,y\nCCO,1\n*,2\n\nCCC,3\n")
    with pytest.raises(InputError) as err:
        read_table(table, target="y")
    assert err.value.table["row"].tolist() == [2]
    ds = read_table(table, target="y", skip_invalid=True)
    assert ds.rows.tolist() == [1, 4] and "bonded to 0 atoms" in ds.skipped["reason"].iloc[0]
    assert default_molecule_featurizer().fit_transform(ds.X).shape[0] == 2


# ----------------------------------------------------------------------------- overflow (item 4)
def test_overflowing_and_absurd_amounts_are_rejected():
    comps, table = parse_formulas(["Fe1e308O1e308", "Fe2O3", "Fe10000000000", "Fe999999999Fe999999999",
                                   "(Fe1e200)1e200",
                                   "Li64Fe64P64O256"], errors="collect")
    assert table["row"].tolist() == [1, 3, 4, 5]
    assert all("at most" in r or "finite" in r for r in table["reason"])
    assert np.isfinite(comps.fraction).all() and np.isfinite(comps.total).all()
    assert parse_formula("Fe999999999O") == {"O": 1.0, "Fe": 999999999.0} and MAX_AMOUNT == 1e9


def test_overflow_is_reported_with_its_file_row_after_blank_lines(tmp_path):
    table = tmp_path / "blank.csv"
    table.write_text("formula\nFe2O3\n\n\nNiO\nFe1e308\n")
    with pytest.raises(InputError) as err:
        read_table(table)
    assert err.value.table["row"].tolist() == [5]


def test_non_finite_features_are_bad_rows_not_imputed():
    F = np.array([[1.0, 2.0], [np.inf, 1.0], [np.nan, np.nan], [np.nan, 3.0]])
    with pytest.raises(InputError) as err:
        check_finite_features(F, pd.Series(["a", "b", "c", "d"]), "formula", np.array([2, 4, 7, 9]))
    assert err.value.table["row"].tolist() == [4, 7]  # scattered NaN (row 9) are imputed downstream
    check_finite_features(F[[0, 3]], ["a", "d"], "formula", np.array([2, 9]))


def test_predict_path_rejects_a_row_whose_features_overflow():
    from matloop.models.pipeline import MaterialModel

    class Overflowing:  # a featurizer whose second row overflows
        def fit_transform(self, X):
            return self.transform(X)

        def transform(self, X):
            out = np.ones((len(X), 3))
            out[1] = np.inf
            return pd.DataFrame(out)

    model = MaterialModel(kind="composition")
    model.featurizer_ = Overflowing()
    X = attach_source_rows(pd.Series(["Fe2O3", "NiO"], name="formula"), np.array([3, 8]))
    with pytest.raises(InputError) as err:
        model.features(X)
    assert err.value.table["row"].tolist() == [8]


# ----------------------------------------------------------------------------- row numbers (item 15)
def test_source_rows_follow_subsets_and_fall_back_to_positions():
    ds = Dataset(frame=pd.DataFrame({"formula": ["Fe2O3", "NiO", "CuO"]}), input="formula", kind="composition",
                 rows=np.array([2, 5, 9]))
    assert source_rows(ds.X).tolist() == [2, 5, 9]
    assert source_rows(ds.X.iloc[[2, 0]]).tolist() == [9, 2]
    assert source_rows(ds.subset([1, 2]).X).tolist() == [5, 9]
    assert source_rows(["a", "b"]).tolist() == [1, 2]
    assert ds.frame["formula"].attrs == {}  # the frame itself is untouched
    assert source_rows(pd.concat([ds.X.iloc[[1]], ds.X.iloc[[0]]])).tolist() == [5, 2]  # attrs compare safely
    assert len(pd.concat([ds.X, ds.subset([0]).X])) == 4


def test_composition_featurizer_names_file_rows():
    from matloop.represent.registry import get_featurizer

    ds = Dataset(frame=pd.DataFrame({"formula": ["Fe2O3", "Xx2"]}), input="formula", kind="composition",
                 rows=np.array([4, 11]))
    with pytest.raises(InputError) as err:
        get_featurizer("magpie").fit_transform(ds.X)
    assert err.value.table["row"].tolist() == [11]


@needs_rdkit
def test_molecule_featurizer_names_file_rows():
    from matloop.represent.molecule import MorganCounts

    ds = Dataset(frame=pd.DataFrame({"smiles": ["CCO", "C1CC"]}), input="smiles", kind="molecule",
                 rows=np.array([3, 7]))
    with pytest.raises(InputError) as err:
        MorganCounts().fit_transform(ds.X)
    assert err.value.table["row"].tolist() == [7]


@needs_pymatgen
def test_structure_read_at_featurization_names_file_row(tmp_path):
    from matloop.represent.structure_io import read_structures

    (tmp_path / "bad.cif").write_text("data_x\n_cell_length_a 3\nthis is not a cif\n")
    (tmp_path / "table.csv").write_text("structure,y\n\n\nbad.cif,1\n")
    ds = read_table(tmp_path / "table.csv", target="y")
    assert ds.rows.tolist() == [3]
    with pytest.raises(InputError) as err:
        read_structures(ds.X)
    assert err.value.table["row"].tolist() == [3]


# ----------------------------------------------------------------------------- structure paths (item 16)
def _structure_table(folder: Path, paths: list[str]) -> Path:
    table = folder / "table.csv"
    table.write_text("structure,y\n" + "".join(f"{p},{i}\n" for i, p in enumerate(paths)))
    return table


def test_structure_paths_are_confined_to_the_table_folder(tmp_path):
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "x.cif").write_text("data_secret\nPASSWORD=hunter2\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "ok.cif").write_text("data_ok\n")
    os.symlink(outside / "x.cif", data / "link.cif")
    values = pd.Series(["ok.cif", "../secret/x.cif", str(outside / "x.cif"), "link.cif", "../secret/none.cif"])
    keys, records = validate_structure_paths(values, "structure", np.arange(1, 6), data.resolve())
    assert keys[0] == str((data / "ok.cif").resolve()) and keys[1:] == [None] * 4
    assert [r["row"] for r in records] == [2, 3, 4, 5]
    assert all("outside" in r["reason"] for r in records)  # a missing file outside is not told apart
    assert not any("hunter2" in r["reason"] for r in records)
    keys, records = validate_structure_paths(values, "structure", np.arange(1, 6), data.resolve(), root=tmp_path)
    assert [r["row"] for r in records] == [5] and "not found" in records[0]["reason"]


def test_structures_root_option_reaches_read_table(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "a.cif").write_text("data_a\n")
    (tmp_path / "t").mkdir()
    table = _structure_table(tmp_path / "t", ["../s/a.cif"])
    with pytest.raises(InputError) as err:
        read_table(table, target="y")
    assert "outside" in err.value.table["reason"].iloc[0]
    ds = read_table(table, target="y", structures_root=tmp_path)
    assert ds.frame["structure"].iloc[0] == str((tmp_path / "s" / "a.cif").resolve())


@needs_pymatgen
def test_messages_never_echo_file_contents(tmp_path):
    from matloop.represent.structure_io import read_structures

    secret = "root:x:0:0:SECRET_TOKEN_42:/root:/bin/bash"
    for name in ("passwd.cif", "POSCAR", "x.json", "y.vasp"):
        (tmp_path / name).write_text(f"{secret}\n{secret}\n 1 2 3\n")
    with pytest.raises(InputError) as err:
        read_structures(["passwd.cif", "POSCAR", "x.json", "y.vasp"], base_dir=tmp_path)
    text = err.value.table.to_string() + str(err.value)
    assert len(err.value.table) == 4
    assert "SECRET_TOKEN_42" not in text and "root:x" not in text and "/bin/bash" not in text


def test_structures_root_is_a_table_option():
    import argparse

    from matloop.cli.common import add_table_arguments

    parser = argparse.ArgumentParser()
    add_table_arguments(parser, target_required=False)
    assert parser.parse_args(["t.csv", "--structures-root", "/data"]).structures_root == "/data"


# ----------------------------------------------------------------------------- perovskite formulas (issue 15)
@pytest.mark.parametrize(("formula", "expected"), [
    ("MAPbI3", {"C": 1, "H": 6, "N": 1, "Pb": 1, "I": 3}),
    ("FAPbI3", {"C": 1, "H": 5, "N": 2, "Pb": 1, "I": 3}),
    ("GAPbI3", {"C": 1, "H": 6, "N": 3, "Pb": 1, "I": 3}),
    ("(BA)2PbI4", {"C": 8, "H": 24, "N": 2, "Pb": 1, "I": 4}),
    ("PEA2PbI4", {"C": 16, "H": 24, "N": 2, "Pb": 1, "I": 4}),
    ("(FA0.8MA0.2)PbI3", {"C": 1, "H": 5.2, "N": 1.8, "Pb": 1, "I": 3}),
    ("Cs0.05(FA0.83MA0.17)0.95Pb(I0.83Br0.17)3",
     {"Cs": 0.05, "C": 0.95, "H": 0.95 * (0.83 * 5 + 0.17 * 6), "N": 0.95 * (0.83 * 2 + 0.17), "Pb": 1,
      "I": 2.49, "Br": 0.51}),
    ("GaAs", {"Ga": 1, "As": 1}),  # case matters: Ga is gallium, GA guanidinium
    ("BaTiO3", {"Ba": 1, "Ti": 1, "O": 3}),
    ("BAr", {"B": 1, "Ar": 1}),  # an abbreviation followed by a lowercase letter is not one
    ("FAg", {"F": 1, "Ag": 1}),
])
def test_perovskite_abbreviations_expand_to_atoms(formula, expected):
    got = parse_formula(formula)
    assert set(got) == set(expected)
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, rel=1e-12), k


def test_unknown_or_miscased_abbreviations_say_what_to_write():
    _, table = parse_formulas(["MaPbI3", "OAPbI3"], errors="collect")
    assert "did you mean 'MA'" in table["reason"].iloc[0]
    assert "C8H17NH3" in table["reason"].iloc[1] and "MA = methylammonium" in table["reason"].iloc[1]


# ----------------------------------------------------------------------------- design molecules (issue 15)
@needs_rdkit
def test_new_means_new_without_stereo_tags():
    from matloop.design.molecules.api import _is_new

    new = _is_new(pd.Series(["CCCC[C@@H](O)CC", "CCCCC(O)CC", "CCCCCC(O)CC", "C[C@H](O)CC"]), ["CCCCC(O)CC",
                                                                                            "C[C@@H](O)CC"])
    assert new.tolist() == [False, False, True, False]


@needs_rdkit
def test_design_on_esol_returns_no_training_molecule_with_a_stereo_tag_added():
    """A forward model that only likes ESOL's own molecules: the best candidates are training molecules
    with a stereo tag added (SMC proposes 'C[C@H]1CCCO1' here); none may be returned as new."""
    import warnings

    from matloop.datasets import load
    from matloop.design.molecules import design_molecules
    from matloop.design.molecules.chem import canonical_or_none, without_stereo

    col = "measured log solubility in mols per litre"
    frame = load("esol").frame[["smiles", col]].rename(columns={col: "logS"})
    frame["smiles"] = frame["smiles"].str.strip()
    flat = {without_stereo(canonical_or_none(s)) for s in frame["smiles"]}

    class Memorising:
        def predict(self, X, return_std=False):
            mean = np.array([-1.5 if without_stereo(s) in flat else 10.0 for s in X])
            return (mean, np.full(len(X), 0.1)) if return_std else mean

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = design_molecules(frame, "smiles", {"logS": (-2, -1)}, n=20, generator="smc", model=Memorising(),
                               steps=5, population=100, seed=0)
    assert len(out)
    assert not any(without_stereo(s) in flat for s in out["smiles"])
