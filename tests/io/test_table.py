"""read_table: formats, input detection, pool rows, every validation error, skipping, duplicates."""

from __future__ import annotations

import gzip
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matloop import InputError
from matloop.io import Dataset, DuplicateWarning, inspect_table, read_table
from matloop.io.detect import rdkit_available

needs_rdkit = pytest.mark.skipif(not rdkit_available(), reason="reading SMILES needs the molecule extra (RDKit)")

FORMULAS = pd.DataFrame({
    "id": ["a", "b", "c", "d", "e"],
    "formula": ["Fe2O3", "NaCl", "CuSO4·5H2O", "Ca3(PO4)2", "LiFePO4"],
    "gap": [2.1, 8.5, 3.4, None, 3.7],
})


def write_csv(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def reasons(exc: pytest.ExceptionInfo) -> list[tuple[int, str, object, str]]:
    return [tuple(r) for r in exc.value.table[["row", "column", "value", "reason"]].itertuples(index=False)]


# ----------------------------------------------------------------------------- formats
@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".csv.gz", ".xlsx", ".json", ".jsonl", ".parquet"])
def test_every_format_reads_the_same(tmp_path, suffix):
    path = tmp_path / f"table{suffix}"
    frame = FORMULAS
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif suffix == ".csv.gz":
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            frame.to_csv(fh, index=False)
    elif suffix == ".xlsx":
        frame.to_excel(path, index=False)
    elif suffix == ".json":
        frame.to_json(path)  # pandas' default: a dict of columns
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    ds = read_table(path, target="gap")
    assert isinstance(ds, Dataset)
    assert (ds.input, ds.kind, ds.targets, ds.task) == ("formula", "composition", ["gap"], "regression")
    assert ds.frame["formula"].tolist() == FORMULAS["formula"].tolist()
    np.testing.assert_array_equal(ds.frame["gap"].to_numpy(), FORMULAS["gap"].to_numpy())
    assert ds.labelled.tolist() == [True, True, True, False, True]
    assert ds.name == "table"


def test_json_records_and_split_layouts(tmp_path):
    records = tmp_path / "r.json"
    records.write_text(json.dumps([{"formula": "Fe2O3", "y": 1.0}, {"formula": "NaCl", "y": None}]))
    split = tmp_path / "s.json"
    FORMULAS.to_json(split, orient="split", index=False)
    assert read_table(records, target="y").labelled.tolist() == [True, False]
    assert read_table(split, target="gap").frame["formula"].tolist() == FORMULAS["formula"].tolist()


def test_unknown_suffix_and_missing_file(tmp_path):
    odd = write_csv(tmp_path, "formula,y\nFe,1\n", "t.dat")
    with pytest.raises(InputError, match="unknown table type"):
        read_table(odd)
    with pytest.raises(FileNotFoundError):
        read_table(tmp_path / "nope.csv")


def test_semicolon_csv_and_utf8_bom(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("\ufeffformula;y\nFe2O3;1.5\nNaCl;2\n".encode())
    ds = read_table(path, target="y")
    assert ds.input == "formula" and ds.frame["y"].tolist() == [1.5, 2.0]


def test_ragged_rows_and_repeated_columns_are_reported(tmp_path):
    ragged = write_csv(tmp_path, "formula,y\nFe,1\nNa,2,3\nCl,3\nK,4,5,6\n")
    with pytest.raises(InputError) as info:
        read_table(ragged, target="y")
    assert info.value.table["row"].tolist() == [2, 4]
    assert "3 fields, but the header has 2" in info.value.table["reason"].iloc[0]
    repeated = write_csv(tmp_path, "formula,y,y\nFe,1,2\n", "r.csv")
    with pytest.raises(InputError, match="repeated column names: 'y'"):
        read_table(repeated, target="y")


# ----------------------------------------------------------------------------- detection
def test_formula_column_detected_and_pool_rows(tmp_path):
    path = write_csv(tmp_path, "id,formula,band gap,spg\n1,Fe2O3,2.1,167\n2,NaCl,,225\n3,GaAs,1.4,216\n4,Si,,227\n")
    ds, report = inspect_table(path, target="band gap")
    assert (ds.input, ds.kind) == ("formula", "composition")
    assert ds.labelled.tolist() == [True, False, True, False]
    assert len(ds.training()) == 2 and ds.pool().frame["formula"].tolist() == ["NaCl", "Si"]
    assert ds.frame["spg"].dtype == np.int64
    assert (report.n_labelled, report.n_pool) == (2, 2)
    assert "2 labelled, 2 in the pool" in report.summary()


@needs_rdkit
def test_smiles_column_detected_with_polymers(tmp_path):
    path = write_csv(tmp_path, "name,smiles,logS\nethanol,CCO,1.1\nbenzene,c1ccccc1,-1.6\n"
                               "acetic acid,CC(=O)O,0.9\npolystyrene,*CC(*)c1ccccc1,\nPE,[*]CC[*],\n")
    ds = read_table(path, target="logS")
    assert (ds.input, ds.kind) == ("smiles", "molecule")
    assert ds.labelled.sum() == 3


@needs_rdkit
def test_smiles_column_of_alkanes_is_found_by_its_name(tmp_path):
    """C, CC, CCC are formulas too; a column called 'smiles' settles it."""
    path = write_csv(tmp_path, "smiles,y\nC,1\nCC,2\nCCC,3\nCCCC,4\n")
    assert read_table(path, target="y").kind == "molecule"
    with pytest.warns(DuplicateWarning):  # as formulas they are all pure carbon
        assert read_table(path, target="y", kind="composition").kind == "composition"


@pytest.fixture(scope="module")
def structures(tmp_path_factory):
    pytest.importorskip("pymatgen.core")  # the structure extra
    from pymatgen.core import Lattice, Structure

    tmp_path = tmp_path_factory.mktemp("structures")
    folder = tmp_path / "cells"
    folder.mkdir()
    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    si = Structure(Lattice.cubic(5.43), ["Si", "Si"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    nacl.to(filename=str(folder / "nacl.cif"))
    si.to(fmt="poscar", filename=str(folder / "POSCAR_Si"))
    (folder / "si.json").write_text(json.dumps(si.as_dict()))
    si.to(fmt="poscar", filename=str(folder / "si.vasp"))
    return tmp_path


def test_structure_paths_resolve_against_the_table_folder(structures):
    path = write_csv(structures, "file,energy\ncells/nacl.cif,-3.2\ncells/POSCAR_Si,-5.4\ncells/si.json,\n"
                                 "cells/si.vasp,-5.4\n")
    ds = read_table(path, target="energy")
    assert (ds.input, ds.kind) == ("file", "structure")
    resolved = [Path(p) for p in ds.frame["file"]]
    assert all(p.is_absolute() and p.is_file() for p in resolved)
    assert resolved[0] == (structures / "cells" / "nacl.cif").resolve()


def test_missing_structure_file_is_a_row_error(structures):
    path = write_csv(structures, "file,energy\ncells/nacl.cif,-3.2\ncells/gone.cif,-1\n", "missing.csv")
    with pytest.raises(InputError) as info:
        read_table(path, target="energy")
    ((row, column, value, reason),) = reasons(info)
    assert (row, column, value) == (2, "file", "cells/gone.cif")
    assert reason.startswith("structure file not found")


def test_parameter_table(tmp_path):
    path = write_csv(tmp_path, "Unnamed: 0,temp,time,catalyst,note,yield\n0,300,1.5,0.1,first,0.42\n"
                               "1,350,2.0,0.2,,0.51\n2,400,2.5,0.1,second,\n")
    ds, report = inspect_table(path, target="yield")
    assert (ds.input, ds.kind) == (None, "parameters")
    assert ds.parameter_columns == ["temp", "time", "catalyst"]
    assert list(ds.X.columns) == ["temp", "time", "catalyst"] and ds.X.dtypes.eq(float).all()
    assert set(report.ignored) == {"Unnamed: 0", "note"}
    assert ds.labelled.tolist() == [True, True, False]


def test_non_numeric_parameters_are_row_errors(tmp_path):
    path = write_csv(tmp_path, "temp,time,yield\n300,1.5,0.4\nhot,2.0,0.5\n350,,0.6\n400,inf,0.7\n")
    with pytest.raises(InputError) as info:
        read_table(path, target="yield")
    got = reasons(info)
    assert [(r, c, v) for r, c, v, _ in got] == [(2, "temp", "hot"), (3, "time", np.nan), (4, "time", "inf")]
    assert "not a number" in got[0][3] and "missing value" in got[1][3]


@needs_rdkit
def test_two_candidate_columns_ask_for_input(tmp_path):
    path = write_csv(tmp_path, "formula,smiles,y\nFe2O3,c1ccccc1,1\nNaCl,CC(=O)O,2\nKBr,C1CCCCC1O,3\n")
    with pytest.raises(InputError, match="--input") as info:
        read_table(path, target="y")
    assert "'formula'" in str(info.value) and "'smiles'" in str(info.value)
    assert read_table(path, input="smiles", target="y").kind == "molecule"


def test_an_element_column_beside_a_formula_column_is_not_ambiguous(tmp_path):
    path = write_csv(tmp_path, "dopant,formula,y\nFe,TiO2,1\nCo,ZnO,2\nNi,SnO2,3\n")
    ds = read_table(path, target="y")
    assert ds.input == "formula"


def test_named_input_column_must_exist(tmp_path):
    path = write_csv(tmp_path, "formula,y\nFe,1\n")
    with pytest.raises(InputError, match="input column 'Formula' not found.*did you mean 'formula'"):
        read_table(path, input="Formula", target="y")


# ----------------------------------------------------------------------------- validation
BAD = """formula,gap,note
Fe2O3,2.1,fine
Xx2O3,1.0,unknown element
,1.0,empty formula
Fe0O,1.0,zero amount
Fe1..5O,1.0,bad number
Fe2+,1.0,charge
NaCl,NaN,NaN target
KCl,inf,inf target
KBr,abc,text target
LiF,,pool
"""


def test_every_problem_is_reported_at_once(tmp_path):
    with pytest.raises(InputError) as info:
        read_table(write_csv(tmp_path, BAD), target="gap")
    got = reasons(info)
    assert [r[0] for r in got] == [2, 3, 4, 5, 6, 7, 8, 9]
    by_row = {r[0]: r for r in got}
    assert by_row[2][1:3] == ("formula", "Xx2O3") and "unknown element 'Xx'" in by_row[2][3]
    assert by_row[3][3] == "empty formula"
    assert "amount of Fe is 0" in by_row[4][3]
    assert "unparseable number" in by_row[5][3]
    assert "charges are not supported" in by_row[6][3]
    assert by_row[7][1:3] == ("gap", "NaN") and "leave the cell empty" in by_row[7][3]
    assert by_row[8][1:3] == ("gap", "inf")
    assert by_row[9][1:3] == ("gap", "abc") and "not a number" in by_row[9][3]
    assert "10 rows" in info.value.message and "--skip-invalid" in info.value.message


@needs_rdkit
def test_invalid_smiles_is_a_row_error(tmp_path):
    path = write_csv(tmp_path, "smiles,y\nCCO,1\nc1ccccc1,2\nC1CC,3\nCC(C)(C)(C)(C)C,4\nCC(=O)O,5\n")
    with pytest.raises(InputError) as info:
        read_table(path, target="y")
    got = reasons(info)
    assert [(r, v) for r, _, v, _ in got] == [(3, "C1CC"), (4, "CC(C)(C)(C)(C)C")]
    assert "parse error" in got[0][3] and "valence" in got[1][3]


def test_missing_target_column_lists_the_columns(tmp_path):
    path = write_csv(tmp_path, "formula,band_gap\nFe2O3,1\n")
    with pytest.raises(InputError) as info:
        read_table(path, target="bandgap")
    msg = str(info.value)
    assert "target column 'bandgap' not found" in msg and "'formula', 'band_gap'" in msg
    assert "did you mean 'band_gap'" in msg


def test_blank_lines_keep_their_row_numbers(tmp_path):
    path = write_csv(tmp_path, "formula,y\nFe2O3,1\n\nNaCl,2\n,\nXx,3\n")
    with pytest.raises(InputError) as info:
        read_table(path, target="y")
    assert reasons(info)[0][:3] == (5, "formula", "Xx")
    ds = read_table(path, target="y", skip_invalid=True)
    assert ds.rows.tolist() == [1, 3]


def test_excel_and_json_literal_nan_targets_are_errors(tmp_path):
    xlsx = tmp_path / "t.xlsx"
    pd.DataFrame({"formula": ["Fe2O3", "NaCl", "KCl"], "y": [1.0, "NaN", None]}).to_excel(xlsx, index=False)
    with pytest.raises(InputError) as info:
        read_table(xlsx, target="y")
    assert [r[:3] for r in reasons(info)] == [(2, "y", "NaN")]
    js = tmp_path / "t.json"
    js.write_text('[{"formula": "Fe2O3", "y": 1.0}, {"formula": "NaCl", "y": NaN}, {"formula": "KCl", "y": null}]')
    with pytest.raises(InputError) as info:
        read_table(js, target="y")
    assert [r[:3] for r in reasons(info)] == [(2, "y", "NaN")]


# ----------------------------------------------------------------------------- skip_invalid
def test_skip_invalid_keeps_what_it_drops(tmp_path):
    ds = read_table(write_csv(tmp_path, BAD), target="gap", skip_invalid=True)
    assert ds.frame["formula"].tolist() == ["Fe2O3", "LiF"]
    assert ds.rows.tolist() == [1, 10]
    skipped = ds.skipped
    assert skipped["row"].tolist() == [2, 3, 4, 5, 6, 7, 8, 9]
    assert list(skipped.columns[:4]) == ["row", "column", "value", "reason"]
    assert list(skipped.columns[4:]) == ["formula", "gap", "note"]  # the row's original cells
    assert skipped.loc[skipped["row"] == 7, "gap"].item() == "NaN"
    assert skipped.loc[skipped["row"] == 6, "note"].item() == "charge"


# ----------------------------------------------------------------------------- task inference
@pytest.mark.parametrize(("values", "task", "dtype"), [
    (["True", "False", "True", ""], "classification", "boolean"),
    (["yes", "no", "Yes", "no"], "classification", "bool"),
    (["1", "0", "0", "1"], "classification", "int64"),
    (["1.5", "0", "2", ""], "regression", "float64"),
    (["metal", "insulator", "semiconductor", "metal"], "classification", "object"),
])
def test_task_inference(tmp_path, values, task, dtype):
    rows = "\n".join(f"{f},{v}" for f, v in zip(["Fe", "Co", "Ni", "Cu"], values, strict=True))
    ds = read_table(write_csv(tmp_path, "formula,y\n" + rows + "\n"), target="y")
    assert ds.task == task
    assert str(ds.frame["y"].dtype) == dtype


def test_several_targets_and_fold_column(tmp_path):
    path = write_csv(tmp_path, "formula,a,b,fold\nFe2O3,1,True,0\nNaCl,2,False,1\nKCl,,True,2\n")
    ds, report = inspect_table(path, target=["a", "b"])
    assert ds.targets == ["a", "b"] and report.tasks == {"a": "regression", "b": "classification"}
    assert ds.fold_column == "fold" and ds.folds.tolist() == [0, 1, 2]
    assert ds.labelled.tolist() == [True, True, False]


# ----------------------------------------------------------------------------- duplicates
DUPES = "formula,y,lab\nFe2O3,1.0,A\nNaCl,2.0,A\nFe4O6,1.5,B\nKCl,3.0,A\nFe2O3,2.0,C\nNaCl,2.0,B\nKCl,,B\n"


def test_duplicates_keep_warns_with_the_conflicting_rows(tmp_path):
    path = write_csv(tmp_path, DUPES)
    with pytest.warns(DuplicateWarning) as caught:
        ds = read_table(path, target="y")
    assert len(ds) == 7
    table = caught[0].message.table
    assert table["row"].tolist() == [3, 5]  # Fe4O6 is Fe2O3; NaCl repeats with the same value; KCl row 7 is pool
    assert table["reason"].tolist() == ["duplicate of row 1 with a different target (1 vs 1.5)",
                                        "duplicate of row 1 with a different target (1 vs 2)"]
    assert "duplicate of row 1 with a different target (1 vs 2)" in str(caught[0].message)


def test_duplicates_error_policy(tmp_path):
    with pytest.raises(InputError) as info:
        read_table(write_csv(tmp_path, DUPES), target="y", duplicates="error")
    assert [r[:3] for r in reasons(info)] == [(3, "formula", "Fe4O6"), (5, "formula", "Fe2O3")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning under 'error' + skip_invalid: the rows are skipped
        ds = read_table(write_csv(tmp_path, DUPES), target="y", duplicates="error", skip_invalid=True)
    assert ds.rows.tolist() == [1, 2, 4, 6, 7]


def test_duplicates_mean_policy(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = read_table(write_csv(tmp_path, DUPES), target="y", duplicates="mean")
    frame = ds.frame
    assert frame["formula"].tolist() == ["Fe2O3", "NaCl", "KCl", "KCl"]
    assert frame["y"].tolist()[:3] == pytest.approx([1.5, 2.0, 3.0])
    assert frame["n_replicates"].tolist() == [3, 2, 1, 1]
    assert frame["lab"].tolist() == ["A", "A", "A", "B"]  # the first row's other columns
    assert ds.rows.tolist() == [1, 2, 4, 7]


@needs_rdkit
def test_duplicate_molecules_and_parameters(tmp_path):
    mols = write_csv(tmp_path, "smiles,y\nCCO,1\nOCC,2\nc1ccccc1,3\n", "m.csv")
    with pytest.warns(DuplicateWarning, match="duplicate of row 1"):
        read_table(mols, target="y")
    params = write_csv(tmp_path, "x1,x2,y\n1,2,0.5\n1,2.0,0.7\n3,4,0.1\n", "p.csv")
    ds = read_table(params, target="y", duplicates="mean")
    assert ds.frame["y"].tolist() == pytest.approx([0.6, 0.1]) and ds.parameter_columns == ["x1", "x2"]


def test_mean_cannot_average_class_labels(tmp_path):
    path = write_csv(tmp_path, "formula,metal\nFe,True\nFe,False\nCu,True\nCu,True\n")
    with pytest.raises(InputError, match="class labels cannot be averaged"):
        read_table(path, target="metal", duplicates="mean")


def test_bad_options_are_value_errors(tmp_path):
    path = write_csv(tmp_path, "formula,y\nFe,1\n")
    with pytest.raises(ValueError, match="duplicates must be one of"):
        read_table(path, target="y", duplicates="drop")
    with pytest.raises(ValueError, match="kind must be one of"):
        read_table(path, target="y", kind="crystal")


EXTRA = "formula,anneal_T,hardness\nFe2O3,300,1.0\nFe2O3,500,2.0\nNaCl,abc,3.0\nLiF,,4.0\nMgO,700,5.0\n"


def test_extra_inputs_are_numbers_checked_per_row(tmp_path):
    path = write_csv(tmp_path, EXTRA)
    with pytest.raises(InputError) as exc:
        read_table(path, target="hardness", extra_inputs=["anneal_T"])
    found = reasons(exc)
    assert [(r, c) for r, c, _, _ in found] == [(3, "anneal_T"), (4, "anneal_T")]
    assert found[0][2] == "abc" and pd.isna(found[1][2])
    assert "not a number" in found[0][3] and "missing value" in found[1][3]
    ds = read_table(path, target="hardness", extra_inputs=["anneal_T"], skip_invalid=True)
    assert list(ds.inputs.columns) == ["formula", "anneal_T"] and ds.inputs["anneal_T"].tolist() == [300, 500, 700]
    assert list(ds.skipped["row"]) == [3, 4]


def test_same_material_with_different_extra_inputs_is_not_a_duplicate(tmp_path):
    path = write_csv(tmp_path, "formula,anneal_T,hardness\nFe2O3,300,1.0\nFe2O3,500,2.0\nFe2O3,500,2.5\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_table(path, target="hardness", extra_inputs=["anneal_T"])
    messages = [str(w.message) for w in caught if issubclass(w.category, DuplicateWarning)]
    assert len(messages) == 1 and messages[0].startswith("1 row repeats") and "duplicate of row 2" in messages[0]
    ds = read_table(path, target="hardness", extra_inputs=["anneal_T"], duplicates="mean")
    assert len(ds) == 2 and ds.frame["hardness"].tolist() == [1.0, 2.25]


@pytest.mark.parametrize("extra, message", [
    (["temperature"], "extra input column 'temperature' not found"),
    (["hardness"], "both an extra input and the input or a target"),
    (["anneal_T", "anneal_T"], "listed twice"),
])
def test_bad_extra_input_names_are_refused(tmp_path, extra, message):
    with pytest.raises(InputError, match=message):
        read_table(write_csv(tmp_path, EXTRA), target="hardness", extra_inputs=extra)


def test_extra_inputs_name_the_inputs_of_a_process_table(tmp_path):
    """A process table with a property recorded but not optimised (purity, blank on the candidates):
    --extra-inputs names the inputs, so it is neither an input nor a row error."""
    text = ("temperature,solvent,purity,yield\n100,water,80,50\n120,ethanol,78,60\n140,water,75,70\n"
            "160,ethanol,,\n180,water,,\n")
    path = write_csv(tmp_path, text)
    with pytest.raises(InputError, match="--extra-inputs names the inputs"):
        read_table(path, target="yield")  # purity read as an input: blank on the candidates
    ds, report = inspect_table(path, target="yield", extra_inputs=["temperature", "solvent"])
    assert ds.kind == "parameters" and ds.parameters == ["temperature", "solvent"] and ds.extra_inputs == []
    assert list(ds.inputs.columns) == ["temperature", "solvent"] and len(ds) == 5
    assert "not among the inputs named by --extra-inputs" in report.ignored["purity"]


def test_labels_that_differ_only_in_case_are_noted_not_merged(tmp_path):
    path = write_csv(tmp_path, "solvent,t,y\nethanol,1,1\nEthanol,2,2\nethanol,3,\nwater,4,3\nwater,5,\n")
    ds, report = inspect_table(path, target="y")
    assert sorted(set(ds.frame["solvent"])) == ["Ethanol", "ethanol", "water"]  # as written: two labels
    assert report.notes == ["solvent: 'ethanol' and 'Ethanol' differ only in upper/lower case and are different "
                            "labels; write one spelling where they are one choice"]
    assert "note:       solvent: 'ethanol' and 'Ethanol'" in report.summary()
    from matloop.represent.parameter_encoder import ParameterEncoder

    enc = ParameterEncoder(columns=["solvent", "t"]).fit(ds.frame[["solvent", "t"]])
    assert any("'Ethanol' and 'ethanol' differ only in upper/lower case" in n for n in enc.notes_)


@pytest.mark.parametrize("bases", [["K2CO3", "Cs2CO3"], ["K2CO3", "DBU"]])
def test_a_reagent_column_beside_settings_makes_a_process_table(tmp_path, bases):
    """K2CO3 and Cs2CO3 parse as formulas, but a base column beside temperatures is a categorical input of
    a process table: read as the material, it dropped the temperature (or failed on 'DBU')."""
    rows = "\n".join(f"{bases[i % 2]},{50 + 10 * i},{'' if i > 6 else i}" for i in range(10))
    ds, report = inspect_table(write_csv(tmp_path, "base,temperature,yield\n" + rows + "\n"), target="yield")
    assert ds.kind == "parameters" and ds.parameters == ["base", "temperature"]
    assert "repeats a few" in report.how
    materials = "formula,temperature,gap\n" + "\n".join(f"{f},{t},1.0" for f, t in
                                                         [("Fe2O3", 300), ("NaCl", 400), ("LiF", 500)])
    ds = read_table(write_csv(tmp_path, materials + "\n"), target="gap")  # one material per row: materials
    assert ds.kind == "composition" and ds.input == "formula"


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_row_of_units_under_the_header_is_refused(tmp_path, suffix):
    """'°C', 'h', 'mol%' under the header turned numeric columns into text (temperature was then read as a
    SMILES column); now the error names the row and each unit. 'n.d.' in a first row is not a unit."""
    f = pd.DataFrame({"temperature": [40, 60, 80, 100, 120], "time": [1, 2, 4, 8, 2], "solvent": ["EtOH", "water"] * 2
                      + ["MeCN"], "yield": [10.5, 20.1, np.nan, np.nan, np.nan]})
    units = pd.DataFrame([["°C", "h", "-", "%"]], columns=f.columns)
    path = tmp_path / f"t{suffix}"
    table = pd.concat([units, f.astype(object)])
    table.to_excel(path, index=False) if suffix == ".xlsx" else table.to_csv(path, index=False)
    with pytest.raises(InputError) as err:
        read_table(path, target="yield")
    assert "row 1 holds text ('°C', 'h', '%')" in str(err.value) and "'temperature (°C)'" in str(err.value)
    assert set(err.value.table["column"]) == {"temperature", "time", "yield"}
    table.iloc[0] = ["n.d.", "n.d.", "EtOH", np.nan]
    table.to_excel(path, index=False) if suffix == ".xlsx" else table.to_csv(path, index=False)
    ds = read_table(path, target="yield", skip_invalid=True)  # a bad first row, skipped as asked
    assert ds.kind == "parameters" and len(ds.frame) == 5


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_empty_unnamed_columns_are_dropped(tmp_path, suffix):
    """A spreadsheet's trailing columns without a name and without values hold nothing (they were an error,
    "repeated column names: ''"); one without a name that holds values is kept (an exported index)."""
    text = "temperature,time, yield ,,\n40,1,10,,\n60,2,,,\n80,3,,,\n100,4,20,,\n"
    path = tmp_path / f"t{suffix}"
    frame = pd.read_csv(io_text(text))
    frame.to_excel(path, index=False) if suffix == ".xlsx" else path.write_text(text)
    ds = read_table(path, target="yield")
    assert list(ds.frame.columns) == ["temperature", "time", "yield"] and len(ds.frame) == 4
    frame = frame.astype(object)
    frame.iloc[:, 3] = ["a", "b", "c", "d"]
    frame.to_excel(path, index=False) if suffix == ".xlsx" else frame.to_csv(path, index=False)
    ds, report = inspect_table(path, target="yield")
    assert "Unnamed: 3" in ds.frame.columns and "Unnamed: 4" not in ds.frame.columns
    assert ds.parameter_columns == ["temperature", "time"]


def io_text(text: str):
    import io

    return io.StringIO(text)


@pytest.mark.parametrize("name", ["No.", "#", "Entry", "sample no.", "Run number", "exp #", "sample_id"])
def test_a_numbering_column_is_not_an_input(tmp_path, name):
    """A column numbering the experiments ('No.', '#', 'Entry') is bookkeeping: reported as ignored, never
    an input of the model (as a number it would have been one)."""
    f = pd.DataFrame({name: range(1, 7), "temperature": [40, 60, 80, 100, 120, 140], "yield": [1, 2, 3, np.nan, np.nan, 4]})
    path = tmp_path / "t.csv"
    f.to_csv(path, index=False)
    ds, report = inspect_table(path, target="yield")
    assert ds.parameter_columns == ["temperature"] and name in report.ignored


def test_a_workbook_whose_table_is_not_on_the_first_sheet(tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as book:
        pd.DataFrame({"notes": ["plate A, Monday"]}).to_excel(book, sheet_name="info", index=False)
        pd.DataFrame({"temperature": [40, 60], "yield": [1.0, None]}).to_excel(book, sheet_name="data", index=False)
    with pytest.raises(InputError) as err:
        read_table(path, target="yield")
    assert "Only the first sheet ('info') of book.xlsx is read (it also has 'data'); sheet 'data' has it" in str(err.value)


def test_two_blank_names_after_stripping_are_still_repeated(tmp_path):
    """Found by the hostile-file test: JSON keys '' and '\\t' both strip to '' (two columns of one blank name,
    with values): an error, never a crash; empty blank-named columns are dropped."""
    path = tmp_path / "t.json"
    path.write_text('[{"": "Fe2O3", "\\t": "Fe2O3"}]')
    with pytest.raises(InputError, match="repeated column names"):
        read_table(path)
    path.write_text('[{"": "", "\\t": null, "formula": "Fe2O3", "gap": 1.0}]')
    assert list(read_table(path, target="gap").frame.columns) == ["formula", "gap"]


def test_a_missing_column_is_never_matched_to_its_own_prediction():
    from matloop.io.detect import missing_column_message

    batch = ["temperature", "yield_pred", "yield_std", "cost", "rank"]
    text = missing_column_message("results", "yield", batch)
    assert "did you mean" not in text
    assert "'yield_pred' is matloop's prediction: add a column 'yield' with the measured values" in text
    assert "did you mean 'Yield'? names are case-sensitive" in missing_column_message("results", "yield",
                                                                                         ["Yield", "yield_pred"])
    assert "did you mean 'yields'?" in missing_column_message("results", "yield", ["yields", "yield_std"])
    assert "did you mean 'temperature'?" in missing_column_message("input", "temp", ["time", "temperature"])
