"""``matloop featurize``: Parquet output exact and identical to the featurizer; validation parses once."""

from __future__ import annotations

import numpy as np
import pandas as pd

from matloop.cli.main import main
from matloop.represent.element_property import magpie


def _formulas(n: int) -> list[str]:
    rng = np.random.default_rng(0)
    els = ["Fe", "O", "Li", "P", "Na", "Cl", "Ga", "As", "Mn", "Si"]
    out = []
    for _ in range(n):
        k = int(rng.integers(1, 4))
        picked = rng.choice(els, size=k, replace=False)
        out.append("".join(f"{e}{rng.integers(1, 5)}" if rng.random() < 0.5 else f"{e}{rng.uniform(0.1, 3):.3f}"
                           for e in picked))
    return out


def test_parquet_is_exactly_the_featurizer_output(tmp_path, capsys):
    formulas = _formulas(500)
    table = pd.DataFrame({"id": np.arange(500), "formula": formulas, "y": np.linspace(0, 1, 500)})
    table.loc[7, "y"] = np.nan
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    out = tmp_path / "f.parquet"
    assert main(["featurize", str(path), "--featurizer", "magpie", "-o", str(out)]) == 0
    written = pd.read_parquet(out)
    expected = magpie().transform(formulas)
    assert list(written.columns) == ["id", "formula", "y", *map(str, expected.columns)]
    assert written["formula"].tolist() == formulas
    assert written["id"].tolist() == list(range(500))
    np.testing.assert_array_equal(written["y"].to_numpy(), pd.read_csv(path)["y"].to_numpy())
    got = written[[str(c) for c in expected.columns]].to_numpy()
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, expected.to_numpy())  # bit for bit, NaN where NaN


def test_skip_invalid_rows_keep_their_features_aligned(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text("formula,y\nFe2O3,1\nXx2,2\n\nNaCl,3\nGaAs,4\n")
    out = tmp_path / "f.parquet"
    assert main(["featurize", str(path), "--skip-invalid", "--featurizer", "magpie", "-o", str(out)]) == 0
    written = pd.read_parquet(out)
    assert written["formula"].tolist() == ["Fe2O3", "NaCl", "GaAs"]
    expected = magpie().transform(["Fe2O3", "NaCl", "GaAs"])
    np.testing.assert_array_equal(written[[str(c) for c in expected.columns]].to_numpy(), expected.to_numpy())


def test_validation_parse_is_reused_only_for_the_same_cells():
    from matloop.io.validate import keep_parsed, take_parsed, validate_formulas

    values = pd.Series(["Fe2O3", "bad!!", "NaCl", "LiFePO4"])
    rows = np.array([2, 3, 5, 6])
    kept = pd.Series(["Fe2O3", "NaCl", "LiFePO4"])
    validate_formulas(values, "formula", rows)
    assert take_parsed(kept, np.array([2, 5, 6])) is None  # outside keep_parsed() nothing is held
    with keep_parsed():
        keys, records = validate_formulas(values, "formula", rows)
    assert [r["row"] for r in records] == [3]
    comps = take_parsed(kept, np.array([2, 5, 6]))
    assert comps is not None and comps.formulas() == ["O0.6Fe0.4", "Na0.5Cl0.5", "Li0.142857O0.571429P0.142857Fe0.142857"]
    assert take_parsed(kept, np.array([2, 5, 6])) is None  # used once
    with keep_parsed():
        validate_formulas(values, "formula", rows)
    assert take_parsed(pd.Series(["Fe2O3", "KBr", "LiFePO4"]), np.array([2, 5, 6])) is None  # other cells
    with keep_parsed():
        validate_formulas(values, "formula", rows)
    assert take_parsed(kept, np.array([2, 5, 7])) is None  # other rows


def test_cli_featurizes_the_compositions_validation_parsed(tmp_path, monkeypatch):
    import matloop.represent.base as base

    def no_second_parse(*args, **kwargs):
        raise AssertionError("the featurizer parsed the formulas again")

    monkeypatch.setattr(base, "parse_formulas", no_second_parse)
    path = tmp_path / "t.csv"
    path.write_text("formula\nFe2O3\nNaCl\n")
    assert main(["featurize", str(path), "--featurizer", "magpie", "-o", str(tmp_path / "f.parquet")]) == 0
