"""User tables under both pandas 2 and pandas 3 behaviour: text columns as ``object`` or ``str``.

pandas 3 reads text columns as the ``str`` dtype (not ``object``) and returns read-only arrays from
``to_numpy()`` (copy-on-write). Under pandas 3 ``matloop check`` once said "found no input" for a plain
formula table and duplicate checks died with "output array is read-only". Every test here runs twice:
with text read as ``object`` (pandas 2's default; ``future.infer_string=False`` under pandas 3) and as
``str`` with copy-on-write (pandas 3's default; ``future.infer_string=True`` and
``mode.copy_on_write=True`` under pandas 2.x, which has both options), so that whichever pandas is
installed, both behaviours are tested on real files.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pandas as pd
import pytest

from matloop import InputError
from matloop.cli.main import main
from matloop.io import DuplicateWarning, read_table
from matloop.io.compat import PANDAS_MAJOR, is_text_dtype, writable_array
from matloop.io.detect import detect_input, rdkit_available

FORMULA_CSV = "id,formula,gap\na,Fe2O3,2.1\nb,NaCl,8.5\nc,CuSO4·5H2O,3.4\nd,Ca3(PO4)2,\ne,LiFePO4,3.7\n"


@contextlib.contextmanager
def _options(**options):
    """Set the pandas options that exist in this version (pandas 3 warns that some are deprecated)."""
    usable = [x for name, value in options.items() if _has_option(name) for x in (name, value)]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(infer_string|copy_on_write).*")
        with pd.option_context(*usable) if usable else contextlib.nullcontext():
            yield


@pytest.fixture(params=["object", "str"])
def text_dtype(request):
    """Run the test with text columns read as ``object`` or as ``str`` (with copy-on-write)."""
    if request.param == "object":
        if PANDAS_MAJOR >= 3 and not _has_option("future.infer_string"):
            pytest.skip("this pandas cannot read text as object any more")
        ctx = _options(**{"future.infer_string": False, **({"mode.copy_on_write": True} if PANDAS_MAJOR < 3 else {})})
    elif PANDAS_MAJOR >= 3:
        ctx = contextlib.nullcontext()  # pandas 3's defaults
    else:
        if not _has_option("future.infer_string"):
            pytest.skip("this pandas has no str dtype")
        ctx = _options(**{"future.infer_string": True, "mode.copy_on_write": True})
    from matloop.datasets.loader import _small

    with ctx:
        probe = pd.Series(["Fe2O3", None], dtype=None).dtype
        assert isinstance(probe, np.dtype) == (request.param == "object"), probe  # the option took effect
        yield request.param
    _small.cache_clear()  # bundled tables read under this option must not reach later tests from the cache


def _has_option(name: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas 3 deprecates the options of the pandas 2 -> 3 transition
        try:
            pd.get_option(name)
        except (KeyError, pd.errors.OptionError):
            return False
    return True


def write(tmp_path, text: str, name: str = "t.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- the helpers


@pytest.mark.parametrize(("dtype", "text"), [
    (np.dtype(object), True), (pd.StringDtype(), True), (pd.StringDtype("python", na_value=np.nan), True),
    (np.dtype("U3"), True), (np.dtype(float), False), (np.dtype(np.int64), False), (np.dtype(bool), False),
    (pd.CategoricalDtype(["a"]), False), (np.dtype("datetime64[ns]"), False), (pd.Int64Dtype(), False),
])
def test_is_text_dtype(dtype, text):
    assert is_text_dtype(dtype) is text


def test_is_text_dtype_of_pyarrow_strings():
    pa = pytest.importorskip("pyarrow")
    assert is_text_dtype(pd.StringDtype("pyarrow"))
    assert is_text_dtype(pd.ArrowDtype(pa.string())) and not is_text_dtype(pd.ArrowDtype(pa.float64()))


def test_writable_array_is_a_copy_even_of_a_read_only_view(text_dtype):
    frame = pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": ["x", None, "z"]})
    mask = writable_array(frame["a"].notna())
    mask &= writable_array(frame["b"].notna())  # would raise 'output array is read-only' on a view
    assert mask.tolist() == [True, False, True] and mask.flags.writeable
    values = writable_array(frame["a"])
    values[0] = -1.0
    assert frame["a"].iloc[0] == 1.0  # the user's frame is untouched


# ----------------------------------------------------------------------------- detection on frames


@pytest.mark.parametrize("dtype", [object, "string", "str"])
def test_detection_on_every_text_dtype(dtype):
    if dtype == "str" and PANDAS_MAJOR < 3 and not _has_option("future.infer_string"):
        pytest.skip("this pandas has no str dtype")
    frame = pd.DataFrame({"id": ["a", "b", "c"], "formula": ["Fe2O3", "NaCl", pd.NA], "gap": [1.0, 2.0, None]})
    frame[["id", "formula"]] = frame[["id", "formula"]].astype(dtype)
    assert detect_input(frame, {"gap"})[:2] == ("formula", "composition")


# ----------------------------------------------------------------------------- real files


def test_formula_csv_detection_validation_and_pool(tmp_path, text_dtype):
    ds = read_table(write(tmp_path, FORMULA_CSV), target="gap")
    assert (ds.input, ds.kind, ds.task) == ("formula", "composition", "regression")
    assert ds.labelled.tolist() == [True, True, True, False, True]
    assert ds.frame["gap"].dtype == np.float64 and len(ds.pool()) == 1


def test_bad_rows_are_reported_with_their_numbers(tmp_path, text_dtype):
    path = write(tmp_path, "formula,gap\nFe2O3,2.1\nXx2O,1.0\nNaCl,abc\nKBr,NaN\n")
    with pytest.raises(InputError) as info:
        read_table(path, target="gap")
    got = [(r.row, r.column) for r in info.value.table.itertuples()]
    assert got == [(2, "formula"), (3, "gap"), (4, "gap")]
    ds = read_table(path, target="gap", skip_invalid=True)
    assert ds.rows.tolist() == [1] and ds.skipped["row"].tolist() == [2, 3, 4]


def test_duplicate_policies(tmp_path, text_dtype):
    path = write(tmp_path, "formula,gap\nFe2O3,1\nFe4O6,2\nNaCl,3\n")
    with pytest.warns(DuplicateWarning, match="duplicate of row 1"):
        assert len(read_table(path, target="gap")) == 3
    with pytest.raises(InputError) as info:
        read_table(path, target="gap", duplicates="error")
    assert info.value.table["row"].tolist() == [2]
    merged = read_table(path, target="gap", duplicates="mean")
    assert merged.frame["gap"].tolist() == [1.5, 3.0] and merged.frame["n_replicates"].tolist() == [2, 1]


def test_parameter_table_with_a_text_id_column(tmp_path, text_dtype):
    path = write(tmp_path, "run,temp,time,yield\nr1,300,1.5,0.2\nr2,350,2.0,0.4\nr3,300,1.5,0.3\nr4,400,,\n")
    with pytest.raises(InputError) as info, pytest.warns(DuplicateWarning, match="duplicate of row 1"):
        read_table(path, target="yield")
    assert [(r.row, r.column) for r in info.value.table.itertuples()] == [(4, "time")]
    fixed = write(tmp_path, "run,temp,time,yield\nr1,300,1.5,0.2\nr2,350,2.0,0.4\nr3,300,1.5,0.3\nr4,400,1,\n", "p.csv")
    ds = read_table(fixed, target="yield", duplicates="mean")
    assert (ds.kind, ds.parameter_columns) == ("parameters", ["temp", "time"])
    assert ds.frame["yield"].tolist()[:2] == pytest.approx([0.25, 0.4]) and ds.labelled.sum() == 2


def test_classification_labels(tmp_path, text_dtype):
    ds = read_table(write(tmp_path, "formula,metal\nFe,yes\nNaCl,no\nCu,yes\nSi,\n"), target="metal")
    assert ds.task == "classification" and ds.labelled.sum() == 3


@pytest.mark.parametrize("suffix", [".xlsx", ".parquet", ".json", ".tsv"])
def test_other_formats_with_text_columns(tmp_path, text_dtype, suffix):
    frame = pd.DataFrame({"id": list("abcde"), "formula": ["Fe2O3", "NaCl", "TiO2", "ZnO", "LiFePO4"],
                          "gap": [2.1, 8.5, 3.4, None, 3.7]})
    path = tmp_path / f"t{suffix}"
    if suffix == ".xlsx":
        frame.to_excel(path, index=False)
    elif suffix == ".parquet":
        frame.astype({"id": "string", "formula": "string"}).to_parquet(path)  # pd.NA-capable string columns
    elif suffix == ".json":
        frame.to_json(path, orient="records")
    else:
        frame.to_csv(path, sep="\t", index=False)
    ds = read_table(path, target="gap")
    assert (ds.input, ds.kind) == ("formula", "composition")
    assert ds.labelled.tolist() == [True, True, True, False, True]


def test_parquet_string_column_with_missing_formula(tmp_path, text_dtype):
    frame = pd.DataFrame({"formula": pd.array(["Fe2O3", pd.NA, "NaCl"], dtype="string"), "gap": [1.0, 2.0, 3.0]})
    frame.to_parquet(path := tmp_path / "t.parquet")
    with pytest.raises(InputError) as info:
        read_table(path, target="gap", input="formula")
    assert info.value.table["row"].tolist() == [2]


@pytest.mark.skipif(not rdkit_available(), reason="reading SMILES needs the molecule extra (RDKit)")
def test_smiles_table(tmp_path, text_dtype):
    path = write(tmp_path, "name,smiles,logS\nethanol,CCO,1.1\nbenzene,c1ccccc1,-1.6\nethanol2,OCC,0.9\nx,C1CC,\n")
    with pytest.raises(InputError) as info, pytest.warns(DuplicateWarning, match="duplicate of row 1"):
        read_table(path, target="logS")
    assert info.value.table["row"].tolist() == [4]
    with pytest.warns(DuplicateWarning, match="duplicate of row 1"):
        ds = read_table(path, target="logS", skip_invalid=True)
    assert (ds.input, ds.kind, len(ds)) == ("smiles", "molecule", 3)


def test_without_rdkit_a_smiles_column_is_not_misread(tmp_path, monkeypatch, text_dtype):
    """C, CC, CCC parse as formulas: without RDKit we must say what to install, not read them as carbon."""
    monkeypatch.setattr("matloop.io.detect.rdkit_available", lambda: False)
    path = write(tmp_path, "smiles,y\nC,1\nCC,2\nCCC,3\n")
    for kwargs in ({}, {"input": "smiles"}, {"kind": "molecule"}):
        with pytest.raises(InputError, match=r"matloop\[molecule\]"):
            read_table(path, target="y", **kwargs)
    assert read_table(path, target="y", kind="composition", duplicates="mean").kind == "composition"


# ----------------------------------------------------------------------------- the command line


def test_check_on_a_formula_table(tmp_path, capsys, text_dtype):
    path = write(tmp_path, FORMULA_CSV)
    assert main(["check", str(path), "--target", "gap"]) == 0
    out = capsys.readouterr().out
    assert "formula" in out and "composition" in out


def test_featurize_a_formula_table(tmp_path, text_dtype):
    path = write(tmp_path, FORMULA_CSV)
    out = tmp_path / "f.csv"
    assert main(["featurize", str(path), "--featurizer", "magpie", "-o", str(out)]) == 0
    features = pd.read_csv(out)
    assert len(features) == 5 and features.select_dtypes("number").shape[1] > 100


@pytest.mark.parametrize("name", ["liang_p3ht", "matbench_steels"])
def test_demo_reads_its_bundled_table_back_like_a_users_table(name, text_dtype):
    """``matloop demo`` writes the bundled table to CSV and reads it with read_table: nothing may change."""
    from matloop.cli.commands.demo import read_as_user_table
    from matloop.datasets import load

    bundled = load(name)
    ds = read_as_user_table(bundled)
    assert (ds.kind, ds.input, ds.targets, ds.direction) == (bundled.kind, bundled.input, bundled.targets,
                                                             bundled.direction)
    assert ds.parameter_columns == bundled.parameter_columns and ds.rows.tolist() == list(range(1, len(bundled) + 1))
    for column in bundled.frame.columns:
        assert ds.frame[column].tolist() == bundled.frame[column].tolist(), column  # floats exactly
