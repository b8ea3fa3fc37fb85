"""``matloop featurize``: original columns plus features, csv and parquet, bad input -> exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matloop.cli.main import main
from matloop.represent.composition import IonProperty, Stoichiometry, default_featurizer

TABLE = """formula,band_gap,note
Fe2O3,2.1,hematite
NaCl,8.5,salt
GaAs,1.42,
LiFePO4,,candidate
"""


@pytest.fixture()
def table(tmp_path: Path) -> Path:
    path = tmp_path / "gaps.csv"
    path.write_text(TABLE)
    return path


def test_default_features_to_csv(table, tmp_path, capsys):
    out = tmp_path / "features.csv"
    assert main(["featurize", str(table), "-o", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "featurized 4 rows of compositions in column 'formula' with default: 267 features" in stdout
    assert "time: read" in stdout and f"wrote {out}" in stdout
    written = pd.read_csv(out, keep_default_na=False, na_values=[""])
    expected = default_featurizer().transform(["Fe2O3", "NaCl", "GaAs", "LiFePO4"])
    assert list(written.columns) == ["formula", "band_gap", "note", *expected.columns]
    assert written["note"].fillna("").tolist() == ["hematite", "salt", "", "candidate"]
    assert np.isnan(written.loc[3, "band_gap"])
    # CSV features carry 6 significant digits (a 16-digit tail is noise); Parquet keeps them exact
    np.testing.assert_allclose(written[expected.columns].to_numpy(), expected.to_numpy(), rtol=5e-6, atol=1e-300)
    digits = [len(cell.lstrip("-").split("e")[0].replace(".", "").lstrip("0")) for line in out.read_text().splitlines()[1:]
              for cell in line.split(",")[3:] if cell]
    assert max(digits) <= 7


def test_chosen_featurizers_to_parquet(table, tmp_path, capsys):
    out = tmp_path / "sub" / "f.parquet"
    code = main(["featurize", str(table), "--input", "formula", "--featurizer", "stoichiometry",
                 "--featurizer", "ion,stoichiometry", "-o", str(out)])
    assert code == 0
    assert "with stoichiometry, ion: 9 features" in capsys.readouterr().out
    written = pd.read_parquet(out)
    names = [*Stoichiometry().get_feature_names_out(), *IonProperty().get_feature_names_out()]
    assert list(written.columns) == ["formula", "band_gap", "note", *names]
    assert written["compound possible"].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert written["0-norm"].tolist() == [2, 2, 2, 4]


def test_bad_formulas_exit_2_with_the_row_table(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("formula,y\nFe2O3,1\nXx2O3,2\nNaCl,3\nFe3+,4\nKBr,5\n")
    out = tmp_path / "f.csv"
    assert main(["featurize", str(path), "--input", "formula", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0].startswith("error: bad.csv: 2 of 5 rows have problems")
    assert lines[1].split() == ["row", "column", "value", "reason"]
    assert any(line.split()[:3] == ["2", "formula", "'Xx2O3'"] and "unknown element" in line for line in lines)
    assert any(line.split()[:3] == ["4", "formula", "'Fe3+'"] and "charges" in line for line in lines)
    assert "Traceback" not in err and not out.exists()
    # --skip-invalid featurizes the rest and keeps the bad rows in a side file
    assert main(["featurize", str(path), "--input", "formula", "--skip-invalid", "-o", str(out)]) == 0
    assert pd.read_csv(out)["formula"].tolist() == ["Fe2O3", "NaCl", "KBr"]
    assert pd.read_csv(tmp_path / "bad.skipped.csv")["row"].tolist() == [2, 4]


@pytest.mark.parametrize(("options", "message"), [
    (["--featurizer", "magpi"], "unknown featurizer 'magpi' (did you mean 'magpie'?)"),
    (["--featurizer", "morgan"], "featurizer 'morgan' does not work on compositions"),
])
def test_bad_featurizer_names_exit_2(table, tmp_path, capsys, options, message):
    assert main(["featurize", str(table), *options, "-o", str(tmp_path / "f.csv")]) == 2
    assert message in capsys.readouterr().err


def test_bad_output_suffix_exits_2_before_reading(table, tmp_path, capsys):
    assert main(["featurize", str(table), "-o", str(tmp_path / "f.xlsx")]) == 2
    assert "the output must end in .csv, .csv.gz, .parquet" in capsys.readouterr().err


def test_feature_named_like_a_column_is_renamed(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text("formula,H\nH2O,1\nNaCl,2\n")
    out = tmp_path / "f.csv"
    assert main(["featurize", str(path), "--input", "formula", "--featurizer", "element_fraction", "-o", str(out)]) == 0
    written = pd.read_csv(out)
    assert written["H"].tolist() == [1, 2]
    assert written["H (feature)"].tolist() == pytest.approx([2 / 3, 0])
    assert "'NAME (feature)': H" in capsys.readouterr().err


def test_help_lists_the_featurizers(capsys):
    with pytest.raises(SystemExit) as info:
        main(["featurize", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for name in ("default", "magpie", "sustainability", "element_fraction", "morgan", "structure", "--featurizer"):
        assert name in text
