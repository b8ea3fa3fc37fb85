"""The pandas-free read of a formula list gives exactly what ``read_table`` gives, or declines.

:func:`matloop.io.fast_formulas.read_formula_list` may answer ``None`` (the general reader then
runs), but when it answers, its column, cells, file rows and compositions must be those of
:func:`matloop.io.read_table`; and whenever ``read_table`` rejects a file, it must answer ``None``
(so that every message still comes from the general reader).
"""

from __future__ import annotations

import codecs
import gzip
import io
import lzma
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matloop.errors import InputError
from matloop.io.detect import SAMPLE_SIZE
from matloop.io.fast_formulas import read_formula_list
from matloop.io.formula import parse_formulas
from matloop.io.table import read_table

DATA = Path(__file__).resolve().parents[2] / "src" / "matloop" / "datasets" / "data"


def _general(path: Path, input: str | None = None, kind: str | None = None):
    """read_table's (column, cells, rows, compositions), or the InputError it raises."""
    try:
        ds = read_table(path, input=input, kind=kind)
    except InputError as exc:
        return exc
    cells = ds.frame[ds.input].to_numpy(dtype=object) if ds.input is not None else None
    comps = parse_formulas(cells, column=ds.input) if ds.kind == "composition" else None
    return ds.kind, list(ds.frame.columns), ds.input, None if cells is None else list(cells), ds.rows, comps


def _same(fast, general) -> None:
    assert not isinstance(general, Exception), f"read_table rejects what the fast reader accepted: {general}"
    kind, columns, column, cells, rows, comps = general
    assert kind == "composition" and columns == [fast.column] and column == fast.column
    assert fast.cells == cells and all(type(c) is str for c in fast.cells)
    np.testing.assert_array_equal(fast.rows, rows)
    for name in ("indptr", "z", "amount"):
        ours, theirs = getattr(fast.compositions, name), getattr(comps, name)
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs), name  # bit for bit


def _check(path: Path, input: str | None = None, kind: str | None = None):
    """Both readers on one file: the fast one agrees or declines; returns its answer."""
    fast = read_formula_list(path, input=input, kind=kind)
    general = _general(path, input=input, kind=kind)
    if fast is not None:
        _same(fast, general)
    return fast


def _write(tmp_path: Path, data: str | bytes, name: str = "f.csv") -> Path:
    path = tmp_path / name
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if name.endswith(".gz"):
        raw = gzip.compress(raw)
    elif name.endswith(".xz"):
        raw = lzma.compress(raw)
    path.write_bytes(raw)
    return path


# tables the fast reader must take (and read exactly as read_table does)
TAKEN = {
    "plain": "formula\nFe2O3\nNaCl\nLiFePO4\n",
    "no final line break": "formula\nFe2O3\nNaCl",
    "blank and whitespace lines": "formula\nFe2O3\n\n  \nNaCl\n\t\n\nSiO2\n\n",
    "CRLF": "formula\r\nFe2O3\r\nNaCl\r\n\r\nSiO2\r\n",
    "old Mac CR": "formula\rFe2O3\rNaCl\r",
    "UTF-8 BOM": "\ufeffformula\nFe2O3\nNaCl\n",
    "spaces around cells and header": " formula \n Fe2O3 \n\tNa Cl\nHf2 Si2 Te2\n",
    "duplicates": "formula\nFe2O3\nFe2O3\nFe4O6\nNaCl\nFe2O3\n",
    "brackets and hydrates (slow parser), repeated": "formula\nCa3(PO4)2\n[Co(NH3)6]Cl3\nCa3(PO4)2\nCuSO4·5H2O\n"
                                                       "Na2CO3.H2O\nCa3(PO4)2\nFe2O3\n",
    "perovskite abbreviations": "formula\nMAPbI3\n(FA0.8MA0.2)PbI3\nCsPbBr3\n",
    "decimals and exponents": "composition\nFe0.620C0.000953Mn0.000521\nC9.53e-4Fe1\nAl0.5Cu0.5\n",
    "header without a hint": "x\nFe2O3\nNaCl\nMgO\n",
    "non-ASCII header": "formule chimique é\nFe2O3\nNaCl\n",
    "formulas that read as numbers": "formula\nNaN\nINF\nNaN\n",
    "one row": "formula\nFe\n",
}


@pytest.mark.parametrize("text", TAKEN.values(), ids=TAKEN.keys())
def test_formula_lists_are_read_as_read_table_reads_them(tmp_path, text):
    assert _check(_write(tmp_path, text)) is not None


@pytest.mark.parametrize("name", ["f.tsv", "f.txt", "f.csv.gz", "f.tsv.xz", "F.CSV"])
def test_other_text_suffixes_and_compressions(tmp_path, name):
    assert _check(_write(tmp_path, "formula\nFe2O3\n\nNaCl\n", name)) is not None


@pytest.mark.parametrize("bom, encoding", [(codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
                                           (b"", "utf-16-le")])
def test_utf16_files(tmp_path, bom, encoding):
    assert _check(_write(tmp_path, bom + "formula\r\nFe2O3\r\nNaCl\r\n".encode(encoding))) is not None


@pytest.mark.parametrize("input, kind", [("formula", None), (None, "composition"), ("formula", "composition")])
def test_named_input_or_kind(tmp_path, input, kind):
    assert _check(_write(tmp_path, "formula\nFe2O3\nNaCl\n"), input=input, kind=kind) is not None


def test_a_long_list_is_sampled_as_detection_samples_it(tmp_path):
    rng = np.random.default_rng(3)
    formulas = [f"Fe{rng.integers(1, 9)}O{rng.integers(1, 9)}" for _ in range(5 * SAMPLE_SIZE)]
    formulas[::7] = [""] * len(formulas[::7])  # blank lines spread over the file
    assert _check(_write(tmp_path, "formula\n" + "\n".join(formulas) + "\n")) is not None


# tables the fast reader must leave to read_table
DECLINED = {
    "a bad formula": ("formula\nFe2O3\nXx2\n\nNaCl\n", True),
    "an empty-looking formula": ("formula\nFe2O3\n()\nNaCl\n", True),
    "a negative amount": ("formula\nFe2O-3\nNaCl\nMgO\n", True),
    "too long": ("formula\nFe2O3\n" + "Fe" * 600 + "\nNaCl\n", True),
    "numbers": ("formula\n1\n2\n3\n", None),
    "two columns": ("formula,y\nFe2O3,1\n", None),
    "semicolons": ("formula;y\nFe2O3;1\n", None),
    "a quote": ('formula\n"Fe2O3"\nNaCl\n', None),
    "a quoted header": ('"formula"\nFe2O3\n', None),
    "a control character": ("formula\nFe2O3\x00junk\nNaCl\n", True),
    "header only": ("formula\n", True),
    "only blank lines": ("formula\n\n \n", True),
    "empty file": ("", True),
    "blank header": ("\nFe2O3\n", None),
    "a SMILES name": ("smiles\nCCO\nCC\n", None),
    "structure file names": ("x\nPOSCAR\nPOSCAR\n", True),
    "structure-named column of file names": ("structure\nPOSCAR\nPOSCAR\n", True),
    "mostly text": ("x\nhello\nworld\nFe\n", None),
}


@pytest.mark.parametrize("text, rejected", DECLINED.values(), ids=DECLINED.keys())
def test_anything_else_is_left_to_read_table(tmp_path, text, rejected):
    path = _write(tmp_path, text)
    assert read_formula_list(path) is None
    if rejected:  # and read_table reports it (the point of declining)
        assert isinstance(_general(path), InputError)


def test_windows_1252_text_is_left_to_read_table_for_its_warning(tmp_path):
    path = _write(tmp_path, b"formula\nFe2O3\nNaCl\nFe\xe9\n")
    assert read_formula_list(path) is None
    with pytest.warns(UserWarning, match="Windows-1252"), pytest.raises(InputError):
        read_table(path)


@pytest.mark.parametrize("input, kind", [("y", None), (None, "molecule"), (None, "structure"),
                                         (None, "parameters")])
def test_other_inputs_or_kinds_are_left_to_read_table(tmp_path, input, kind):
    assert read_formula_list(_write(tmp_path, "formula\nFe2O3\n"), input=input, kind=kind) is None


def test_missing_files_and_other_formats_are_left_to_read_table(tmp_path):
    assert read_formula_list(tmp_path / "missing.csv") is None
    assert read_formula_list(tmp_path) is None
    pd.DataFrame({"formula": ["Fe2O3"]}).to_parquet(tmp_path / "f.parquet")
    assert read_formula_list(tmp_path / "f.parquet") is None
    assert read_formula_list(_write(tmp_path, "formula\nFe2O3\n", "f.dat")) is None


def test_random_files_agree_with_read_table(tmp_path):
    """Lines built from good and bad pieces (blank, whitespace, quotes, separators, control characters,
    bad symbols, brackets), with random BOMs and line endings: fast answer == read_table, or None."""
    rng = np.random.default_rng(0)
    pieces = ["Fe", "2", "O", "3", " ", "", "\t", "Na", "Cl", ".", "0.5", "(", ")", "Xx", "·", "H2O", "Ca",
              "PO4", "e-3", "MA", "Pb", "I3", "é", "-", "+", "'", "#"]
    rare = ['"', ",", ";", "\x01"]
    taken = 0
    for i in range(120):
        lines = []
        for _ in range(int(rng.integers(1, 25))):
            picked = rng.choice(pieces, size=int(rng.integers(0, 5)))
            line = "".join(picked)
            if rng.random() < 0.02:
                line += str(rng.choice(rare))
            lines.append(line)
        good = rng.random() < 0.5  # half the files: only plain formulas and blank lines
        if good:
            lines = [line if not line.strip() else
                     "".join(rng.choice(["Fe", "O", "Na", "Cl", "Ca(PO4)2", "Si", " "], size=2)) + str(rng.integers(1, 5))
                     for line in lines]
        text = str(rng.choice(["formula", "x", " formula ", "composition"])) + "\n" + "\n".join(lines)
        text += "\n" if rng.random() < 0.5 else ""
        if rng.random() < 0.3:
            text = text.replace("\n", "\r\n")
        data = (codecs.BOM_UTF8 if rng.random() < 0.2 else b"") + text.encode("utf-8")
        path = _write(tmp_path, data, f"r{i}.csv")
        taken += _check(path) is not None
    assert taken >= 40  # the generator does reach the fast reader


BUNDLED = [("matbench/matbench_expt_gap.csv.xz", "composition"), ("matbench/matbench_steels.csv.xz", "composition"),
           ("matbench/matbench_glass.csv.xz", "composition"), ("crabnet/aflow_egap.csv.xz", "formula")]


@pytest.mark.parametrize("source, column", BUNDLED, ids=[s for s, _ in BUNDLED])
def test_bundled_formula_columns_as_lists(tmp_path, source, column):
    with lzma.open(DATA / source, "rt", encoding="utf-8") as handle:
        formulas = pd.read_csv(handle, usecols=[column], dtype=str)[column].tolist()[:6000]
    path = _write(tmp_path, "\n".join([column, *formulas]) + "\n")
    fast = _check(path)
    assert fast is not None and len(fast) == len(formulas)


def test_reading_a_formula_list_does_not_import_pandas(tmp_path):
    path = _write(tmp_path, "formula\nFe2O3\nCa3(PO4)2\n\nNaCl\n")
    code = ("import sys\nfrom matloop.io.fast_formulas import read_formula_list\n"
            f"table = read_formula_list({str(path)!r})\n"
            "print(len(table), table.rows.tolist(), 'pandas' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split("\n")[0] == "3 [1, 2, 4] False"


def test_one_text_column_condition_is_shared(tmp_path):
    """The fast reader takes exactly the files files._one_text_column reads as lines (no separator, no
    quote, a header): pandas' own reading of any other file is never second-guessed."""
    from matloop.io.files import _one_text_column

    for text in ["formula\nFe\n", 'formula\n"Fe"\n', "formula,y\nFe,1\n", "\nFe\n"]:
        path = _write(tmp_path, text)
        if read_formula_list(path) is not None:
            assert _one_text_column(io.StringIO(text).read(), ",") is not None


def test_pattern_file_names_are_left_to_read_table(tmp_path):
    """detect_input looks for diffraction pattern files first; the fast reader's cheap pre-check (a dot
    followed by a letter) must hold for every pattern suffix."""
    from matloop.io.fast_formulas import _pattern_files
    from matloop.io.patterns import PATTERN_SUFFIXES

    assert all(s[0] == "." and s[1].isalpha() for s in PATTERN_SUFFIXES)
    assert _pattern_files(["Fe2O3", "scan_01.xy"]) and not _pattern_files(["Fe0.5Ni0.5", "Na2CO3.H2O"])
    assert read_formula_list(_write(tmp_path, "x\nrun1.xy\nrun2.xye\n")) is None
