"""The CLI on bad input: exit 2, the error table on stderr, no traceback; --skip-invalid writes a side file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from matloop.cli.main import main

BAD = """formula,band_gap,note
Fe2O3,2.1,fine
Xx2O3,1.0,unknown element
,1.0,empty formula
Fe0O,1.0,zero amount
NaCl,NaN,nan target
KBr,abc,text target
LiF,,pool
"""


@pytest.fixture()
def bad_csv(tmp_path: Path) -> Path:
    path = tmp_path / "measurements.csv"
    path.write_text(BAD)
    return path


def test_check_on_a_bad_table_exits_2_with_the_table_and_no_traceback(bad_csv):
    """Run as a real subprocess once: the exit status and the streams a user sees."""
    proc = subprocess.run([sys.executable, "-m", "matloop.cli.main", "check", str(bad_csv), "--target", "band_gap"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("error: measurements.csv: 5 of 7 rows have problems")
    assert lines[1].split() == ["row", "column", "value", "reason"]
    assert any(line.split()[:3] == ["2", "formula", "'Xx2O3'"] and "unknown element 'Xx'" in line for line in lines)
    assert any(line.split()[:2] == ["3", "formula"] and "empty formula" in line for line in lines)
    assert any(line.split()[:3] == ["5", "band_gap", "'NaN'"] for line in lines)
    assert any(line.split()[:3] == ["6", "band_gap", "'abc'"] and "not a number" in line for line in lines)


def test_skip_invalid_writes_the_side_file_and_exits_0(bad_csv, capsys):
    code = main(["check", str(bad_csv), "--target", "band_gap", "--skip-invalid"])
    out, err = capsys.readouterr()
    assert code == 0
    side = bad_csv.parent / "measurements.skipped.csv"
    assert f"skipped 5 rows with problems (5 problems); rows, values and reasons are in {side}" in err
    skipped = pd.read_csv(side, keep_default_na=False)
    assert skipped["row"].tolist() == [2, 3, 4, 5, 6]
    assert list(skipped.columns) == ["row", "column", "value", "reason", "formula", "band_gap", "note"]
    assert skipped.loc[skipped["row"] == 5, "reason"].item().startswith("'NaN' is not a measured value")
    assert "2 kept: 1 labelled, 1 in the pool" in out and "skipped:    5 rows with problems" in out


def test_side_file_goes_beside_the_output_when_there_is_one(bad_csv, tmp_path):
    import argparse

    from matloop.cli.common import skipped_path

    out_dir = tmp_path / "results"
    args = argparse.Namespace(table=str(bad_csv), output=str(out_dir / "model.skops"))
    assert skipped_path(args) == out_dir / "measurements.skipped.csv"
    args = argparse.Namespace(table=str(tmp_path / "runs.2024.csv.gz"))
    assert skipped_path(args) == tmp_path / "runs.2024.skipped.csv"


def test_missing_target_column_exits_2_listing_the_columns(bad_csv, capsys):
    assert main(["check", str(bad_csv), "--target", "bandgap"]) == 2
    err = capsys.readouterr().err
    assert "target column 'bandgap' not found (did you mean 'band_gap'?)" in err
    assert "'formula', 'band_gap', 'note'" in err and "Traceback" not in err


def test_ambiguous_input_exits_2_asking_for_input(tmp_path, capsys):
    pytest.importorskip("rdkit")  # the smiles column is read as SMILES
    path = tmp_path / "two.csv"
    path.write_text("formula,smiles,y\nFe2O3,c1ccccc1,1\nNaCl,CC(=O)O,2\nKBr,C1CCCCC1O,3\n")
    assert main(["check", str(path), "--target", "y"]) == 2
    assert "--input COL" in capsys.readouterr().err
    assert main(["check", str(path), "--target", "y", "--input", "smiles"]) == 0


def test_duplicates_error_and_warning_on_the_command_line(tmp_path, capsys):
    path = tmp_path / "dup.csv"
    path.write_text("formula,y\nFe2O3,1\nFe4O6,2\nNaCl,3\n")
    assert main(["check", str(path), "--target", "y"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: 1 row repeats an earlier row's material")
    assert "duplicate of row 1 with a different target (1 vs 2)" in err
    assert main(["check", str(path), "--target", "y", "--duplicates", "error"]) == 2
    err = capsys.readouterr().err
    assert "error: dup.csv: 1 of 3 rows have problems" in err and "duplicate of row 1" in err


def test_missing_table_file_exits_2(tmp_path, capsys):  # a missing input file is bad input (issue 15)
    assert main(["check", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
