"""``matloop check``: the summary of a clean table, and the shared table options."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from matloop.cli.common import add_table_arguments, target_list
from matloop.cli.main import main


@pytest.fixture()
def table(tmp_path: Path) -> Path:
    path = tmp_path / "oxides.csv"
    path.write_text("id,formula,gap,metal,fold\n1,Fe2O3,2.1,False,0\n2,ZnO,3.3,False,1\n3,Cu,0,True,2\n"
                    "4,TiO2,,,3\n5,Fe4O6,2.3,False,4\n")
    return path


def test_summary_of_a_clean_table(table, capsys):
    assert main(["check", str(table), "--target", "gap,metal"]) == 0
    out = capsys.readouterr().out
    assert "(5 data rows)" in out
    assert "column 'formula': formulas, kind 'composition' (detected: 100% of sampled values are formulas)" in out
    assert "'gap' (regression), 'metal' (classification)" in out
    assert "folds:      column 'fold'" in out
    assert "5 kept: 4 labelled, 1 in the pool" in out
    assert "duplicates: 1 materials appear more than once" not in out  # grammar
    assert "duplicates: 1 material appears more than once (1 repeat row, 1 with a different target)" in out
    assert "skipped:    none" in out


def test_mean_policy_reports_merged_rows(table, capsys):
    assert main(["check", str(table), "--target", "gap", "--duplicates", "mean"]) == 0
    out = capsys.readouterr().out
    assert "policy 'mean', 1 row merged" in out and "4 kept" in out


def test_check_without_target_and_parameter_tables(tmp_path, capsys):
    path = tmp_path / "process.csv"
    path.write_text("temperature,time,yield\n300,1,0.2\n350,2,0.4\n400,3,\n")
    assert main(["check", str(path)]) == 2  # without --target, 'yield' is an input and row 3 lacks it
    assert re.search(r"\n\s*3\s+yield\s+nan\s+missing value", capsys.readouterr().err)
    assert main(["check", str(path), "--skip-invalid"]) == 0
    out = capsys.readouterr().out
    assert "parameter table (no column of formulas, SMILES or structure file paths), 3 input columns: " \
           "temperature, time, yield" in out
    assert "none given" in out and "skipped:    1 row with problems" in out
    assert main(["check", str(path), "--target", "yield"]) == 0
    out = capsys.readouterr().out
    assert "2 input columns: temperature, time" in out and "2 labelled, 1 in the pool" in out


def test_table_arguments():
    parser = argparse.ArgumentParser()
    add_table_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["t.csv"])  # --target is required by default
    args = parser.parse_args(["t.csv", "--target", "a, b", "--target", "c", "--skip-invalid", "--duplicates", "mean"])
    assert target_list(args) == ["a", "b", "c"]
    assert args.skip_invalid and args.duplicates == "mean" and args.input is None and args.kind is None


def test_a_column_name_with_a_comma_is_not_split(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('formula,"gap, eV"\nFe2O3,2.1\n')
    args = argparse.Namespace(table=str(path), target=["gap, eV"])
    assert target_list(args) == ["gap, eV"]


def test_help_reads_well(capsys):
    with pytest.raises(SystemExit) as info:
        main(["check", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--input COL", "--target COL", "--skip-invalid", "--duplicates {keep,mean,error}", "Exit status"):
        assert option in out
