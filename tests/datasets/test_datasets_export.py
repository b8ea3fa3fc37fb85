"""``matloop.datasets.export``: every format round-trips the exact table."""

from __future__ import annotations

import json
import lzma

import pandas as pd
import pytest

from matloop import InputError
from matloop.datasets import EXPORT_FORMATS, export, load
from matloop.io.compat import EXACT_FLOATS


def _read_back(path) -> pd.DataFrame:
    name = path.name
    if name.endswith(".xlsx"):
        return pd.read_excel(path)
    if name.endswith(".parquet"):
        return pd.read_parquet(path)
    if name.endswith(".json"):
        return pd.DataFrame.from_records(json.loads(path.read_text(encoding="utf-8")))
    if name.endswith(".json.xz"):
        return pd.DataFrame.from_records(json.loads(lzma.decompress(path.read_bytes())))
    sep = "\t" if ".tsv" in name else ","
    return pd.read_csv(path, sep=sep, **EXACT_FLOATS, keep_default_na=False, na_values=[""])


# esol: strings (with commas and spaces), ints and long floats; glass: booleans; p3ht: parameters.
@pytest.mark.parametrize("suffix", [*EXPORT_FORMATS, ".csv.gz", ".tsv.bz2", ".json.xz"])
@pytest.mark.parametrize("name", ["esol", "matbench_glass", "liang_p3ht"])
def test_export_round_trip(tmp_path, name, suffix):
    expected = load(name).frame
    path = export(name, tmp_path / f"{name}{suffix}")
    assert path.exists() and path.stat().st_size > 0
    back = _read_back(path)
    exact = suffix != ".xlsx"  # openpyxl writes floats with 16 significant digits ("%.16g")
    pd.testing.assert_frame_equal(back, expected, check_exact=exact, rtol=1e-15, check_dtype=False)
    assert back[expected.columns[-1]].dtype.kind == expected[expected.columns[-1]].dtype.kind


def test_export_accepts_a_loaded_dataset_subset(tmp_path):
    ds = load("liang_agnp")
    part = ds.subset(ds.frame["loss"] < 0.2)
    path = export(part, tmp_path / "best.csv")
    back = pd.read_csv(path)
    assert len(back) == len(part) > 0 and (back["loss"] < 0.2).all()


@pytest.mark.parametrize("bad", ["x.txt", "x", "x.xlsx.gz", "x.parquet.xz", "x.zip"])
def test_unsupported_suffix_is_an_input_error_and_writes_nothing(tmp_path, bad):
    with pytest.raises(InputError, match=r"\.csv, \.tsv, \.xlsx, \.json, \.parquet"):
        export("esol", tmp_path / bad)
    assert not any(tmp_path.iterdir())


def test_no_overwrite_when_asked(tmp_path):
    path = tmp_path / "esol.csv"
    path.write_text("keep me")
    with pytest.raises(FileExistsError):
        export("esol", path, overwrite=False)
    assert path.read_text() == "keep me"
    export("esol", path)
    assert len(pd.read_csv(path)) == 1128
