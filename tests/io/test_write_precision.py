"""Computed columns are written to 6 significant digits; the user's own values and Parquet stay exact."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from matloop.io.write import round_significant, write_table


def test_round_significant_matches_decimal_formatting():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(20_000) * 10.0 ** rng.integers(-320, 300, 20_000)
    x = np.concatenate([x, [0.0, -0.0, np.nan, np.inf, -np.inf, 1 / 3, 2 / 3, 999999.5, 5e-324, 1.7e308]])
    got = round_significant(x, 6)
    finite = np.isfinite(x)
    expected = np.array([float(f"{v:.6g}") for v in x[finite]])
    np.testing.assert_array_equal(got[finite], expected)  # the float nearest to the 6-digit decimal
    assert all(len(repr(float(v)).split("e")[0].replace("-", "").replace(".", "").strip("0")) <= 6 for v in got[finite])
    assert np.isnan(got[~finite][np.isnan(x[~finite])]).all()
    assert list(got[np.isinf(x)]) == [np.inf, -np.inf]


@pytest.mark.parametrize("name", ["out.csv", "out.tsv", "out.json", "out.csv.gz"])
def test_only_computed_columns_are_rounded(tmp_path, name):
    frame = pd.DataFrame({"formula": ["Fe2O3", "NaCl"], "measured": [0.1234567891234, 1e-7 / 3],
                          "prediction": [2 / 3, 123456.789123], "std": [np.nan, 1e-20 / 7], "n": [1, 2]})
    path = write_table(frame, tmp_path / name, round_columns=["prediction", "std", "n"])
    if name.endswith(".json"):
        back = pd.DataFrame(json.loads(path.read_text()))
    else:
        back = pd.read_csv(path, sep="\t" if ".tsv" in name else ",")
    assert back["measured"].tolist() == frame["measured"].tolist()  # the user's value, every digit
    assert back["prediction"].tolist() == [0.666667, 123457.0]
    assert np.isnan(back["std"][0]) and back["std"][1] == 1.42857e-21
    assert back["n"].tolist() == [1, 2]
    if name.endswith(".csv"):
        assert "0.666667," in path.read_text() and "0.6666666" not in path.read_text()
    assert frame["prediction"][0] == 2 / 3  # the caller's frame is not changed


def test_parquet_keeps_every_digit(tmp_path):
    frame = pd.DataFrame({"prediction": [2 / 3, np.pi]})
    back = pd.read_parquet(write_table(frame, tmp_path / "p.parquet", round_columns=["prediction"]))
    assert back["prediction"].tolist() == [2 / 3, np.pi]


@pytest.mark.parametrize("name", ["o.csv", "o.json", "o.xlsx"])
def test_whole_numbers_are_written_without_a_decimal_point(tmp_path, name):
    """Validation reads every numeric input as float; a temperature read as 60 is written 60, a blank
    stays blank, fractions and matloop's own columns keep their decimals."""
    frame = pd.DataFrame({"temperature": [60.0, 80.0, np.nan], "loading": [0.5, 1.0, 2.0],
                          "solvent": ["EtOH", "water", "MeCN"], "prediction": [1.0, 2.0, 3.0]})
    path = write_table(frame, tmp_path / name, round_columns=["prediction"])
    back = (pd.read_excel(path) if name.endswith("xlsx") else pd.read_json(path) if name.endswith("json")
            else pd.read_csv(path))
    assert back["temperature"].iloc[:2].tolist() == [60, 80] and pd.isna(back["temperature"].iloc[2])
    assert back["loading"].tolist() == [0.5, 1.0, 2.0]
    if name.endswith("csv"):
        text = path.read_text().splitlines()
        assert text[1].startswith("60,0.5,EtOH,1.0") and text[3].startswith(",2.0,MeCN")
