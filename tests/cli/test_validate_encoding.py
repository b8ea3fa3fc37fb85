"""``matloop validate --json`` says how the inputs were encoded: one-hot labels, SMILES, numbers as
given, the material column's featurizer and --extra-inputs."""

import json

import numpy as np
import pandas as pd

from matloop.cli.main import main
from matloop.datasets import load


def test_validate_json_lists_each_columns_encoding(tmp_path):
    f = load("redoxmers").frame.iloc[::40].reset_index(drop=True)[["r1_label", "r3_label", "r4_label", "ered"]]
    f["temperature"] = np.linspace(300, 400, len(f)).round(1)
    f.to_csv(tmp_path / "r.csv", index=False)
    out = tmp_path / "v.json"
    assert main(["validate", str(tmp_path / "r.csv"), "--target", "ered", "--model", "rf", "--folds", "3",
                 "--json", str(out), "-q"]) == 0
    enc = json.loads(out.read_text())["encoding"]
    assert enc["kind"] == "parameters"
    by_col = {r["column"]: r for r in enc["columns"]}
    assert set(by_col) == {"r1_label", "r3_label", "r4_label", "temperature"}
    assert by_col["r3_label"]["kind"] == "label" and "one-hot" in by_col["r3_label"]["encoding"]
    assert by_col["r3_label"]["n_features"] == f["r3_label"].nunique()
    assert by_col["temperature"]["encoding"] == "as given"


def test_validate_json_with_a_formula_and_extra_inputs(tmp_path):
    f = load("matbench_steels").frame.iloc[::10].reset_index(drop=True)
    f["atmosphere"] = np.where(np.arange(len(f)) % 2, "argon", "air")
    f.to_csv(tmp_path / "s.csv", index=False)
    out = tmp_path / "s.json"
    f = f.drop(columns=[c for c in ("mbid",) if c in f.columns])
    f.to_csv(tmp_path / "s.csv", index=False)
    target = "yield strength"
    assert main(["validate", str(tmp_path / "s.csv"), "--target", target, "--model", "rf", "--folds", "3",
                 "--extra-inputs", "atmosphere", "--json", str(out), "-q"]) == 0
    enc = json.loads(out.read_text())["encoding"]
    assert enc["kind"] == "composition" and enc["input"] == "composition" and enc["featurizer"]
    assert [r["column"] for r in enc["extra_inputs"]] == ["atmosphere"]
    assert enc["extra_inputs"][0]["kind"] == "label" and enc["extra_inputs"][0]["n_features"] == 2
    assert pd.notna(json.loads(out.read_text())["mean"]["mae"])
