"""A one-column CSV (a list of formulas or SMILES) is read as its lines: the same frame as pandas."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from matloop.io.files import _one_text_column, read_raw

TEXTS = [
    "formula\nFe2O3\nNaCl\n", "formula\nFe2O3\nNaCl", "formula\nFe2O3\n\nNaCl\n", "formula\nFe2O3\n\n\n",
    "formula\n\nFe\n", "formula\n  \nFe\n", " formula \n Fe \n", "formula\n#x\nFe\n", "formula\n",
    "formula\n\n", "a b\nx y\n", "formula\n'Fe'\n", "formula\nNaN\nNA\nnull\nNone\n", "smiles\nC1=CC=CC=C1\n[Na+].[Cl-]\n",
    "formula\n\t\nFe\n",
]


def _pandas(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), sep=",", dtype=str, keep_default_na=False, na_values=[""],
                       skip_blank_lines=False, lineterminator="\n", index_col=False)


@pytest.mark.parametrize("text", TEXTS)
def test_same_frame_as_pandas(text):
    fast = _one_text_column(text, ",")
    assert fast is not None
    pd.testing.assert_frame_equal(fast, _pandas(text))


def test_random_lines_same_frame_as_pandas():
    rng = np.random.default_rng(0)
    pieces = np.array(["Fe", "2", "O", "3", " ", "", "\t", "#", "'", "Na", "Cl", ".", "nan", "(", ")"])
    for _ in range(50):
        lines = ["".join(rng.choice(pieces, size=rng.integers(0, 4))) for _ in range(rng.integers(1, 30))]
        text = "formula\n" + "\n".join(lines) + ("\n" if rng.random() < 0.5 else "")
        pd.testing.assert_frame_equal(_one_text_column(text, ","), _pandas(text))


@pytest.mark.parametrize("text", ['"formula"\nFe\n', "formula\nFe,O\n", "formula,y\nFe,1\n", "\nFe\n", '  \nFe\n'])
def test_anything_else_is_left_to_pandas(text):
    assert _one_text_column(text, ",") is None


def test_read_raw_drops_blank_lines_and_keeps_file_rows(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("formula\nFe2O3\n\n  \nNaCl\n")
    frame, rows = read_raw(path)
    assert frame["formula"].tolist() == ["Fe2O3", "NaCl"] and rows.tolist() == [1, 4]
