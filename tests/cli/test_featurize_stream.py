"""``matloop featurize -o X.parquet`` on formulas: computed and written block by block, exactly.

The fast path of the command (row groups from a reused column-major buffer, the one-column CSV
reader, no scikit-learn import) must give the same file as featurizing the whole table at once,
check every row as before, and leave no partial file when it fails.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import matloop.cli.commands.featurize as featurize_cmd
from matloop.cli.main import main
from matloop.represent.composition import default_featurizer
from matloop.represent.element_property import magpie
from standins import random_formulas

ELEMENTS = ["Fe", "O", "Li", "P", "Na", "Cl", "Ga", "As", "Mn", "Si", "Ba", "Ti", "H", "Pu"]


def _formulas(n: int, seed: int = 1) -> list[str]:
    return random_formulas(n, ELEMENTS, seed)


@pytest.mark.parametrize("name", ["magpie", "default"])
def test_row_groups_hold_exactly_the_whole_table_features(tmp_path, monkeypatch, capsys, name):
    formulas = _formulas(5000)
    path = tmp_path / "f.csv"
    path.write_text("formula\n" + "\n".join(formulas) + "\n")  # one column: the line reader
    monkeypatch.setattr(featurize_cmd, "STREAM_BYTES", 1024 * 8 * 132)  # several row groups
    out = tmp_path / "f.parquet"
    assert main(["featurize", str(path), "--featurizer", name, "-o", str(out)]) == 0
    expected = (magpie() if name == "magpie" else default_featurizer()).transform(formulas)
    meta = pq.ParquetFile(out).metadata
    assert meta.num_row_groups >= 3 and meta.num_rows == 5000
    assert meta.row_group(0).column(1).compression == "UNCOMPRESSED"
    written = pd.read_parquet(out)
    assert list(written.columns) == ["formula", *map(str, expected.columns)]
    assert written["formula"].tolist() == formulas
    got = written.iloc[:, 1:].to_numpy()
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, expected.to_numpy())  # bit for bit
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.csv", "f.parquet"]
    assert "time: read" in capsys.readouterr().out


def test_bad_rows_of_a_one_column_file_exit_2_with_row_value_reason(tmp_path, capsys):
    path = tmp_path / "f.csv"
    path.write_text("formula\nFe2O3\nXx2\n\nNaCl\nFe2O-3\n")
    out = tmp_path / "f.parquet"
    assert main(["featurize", str(path), "--featurizer", "magpie", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Xx2" in err and "Fe2O-3" in err and "2 of 4 rows" in err  # the blank line is no row
    table_rows = [line.split()[0] for line in err.splitlines()[1:] if line.split() and line.split()[0].isdigit()]
    assert table_rows == ["2", "5"]  # rows of the file, the blank one counted
    assert not out.exists()


def test_a_failure_while_writing_leaves_no_file(tmp_path, monkeypatch, capsys):
    path = tmp_path / "f.csv"
    path.write_text("formula\n" + "\n".join(_formulas(5000)) + "\n")
    monkeypatch.setattr(featurize_cmd, "STREAM_BYTES", 1024 * 8 * 132)
    calls = []
    real = type(magpie())._featurize_columns_into  # what the block writer calls for each block

    def failing(self, comps, out):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("No space left on device")
        return real(self, comps, out)

    monkeypatch.setattr(type(magpie()), "_featurize_columns_into", failing)
    out = tmp_path / "f.parquet"
    assert main(["featurize", str(path), "--featurizer", "magpie", "-o", str(out)]) == 1
    assert "no space left" in capsys.readouterr().err.lower()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.csv"]


def test_the_command_does_not_import_scikit_learn(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("formula,y\nFe2O3,1\nNaCl,2\n")
    code = ("import sys\nfrom matloop.cli.main import main\n"
            f"assert main(['featurize', {str(path)!r}, '-o', {str(tmp_path / 'f.parquet')!r}]) == 0\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy'}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "[]"
