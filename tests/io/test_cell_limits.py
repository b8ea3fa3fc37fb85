"""Cells too long to parse (issue 16 item 7, the class of it): rejected by length before any parsing.

A 10 MB formula cell gave a short message, but parsing it still cost ~15 s and ~900 MB in input
detection and validation. Every cell that is parsed (formulas, target and parameter numbers, class
labels, structure file paths) is now measured first; a cell over the limit is one bad row, named by
its file row, with a shortened value and the reason "... too long: N characters".
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import matloop.io.formula as formula_module
from matloop import InputError
from matloop.errors import MAX_VALUE_CHARS
from matloop.io import read_table
from matloop.io.detect import classify_column
from matloop.io.formula import MAX_FORMULA_CHARS, parse_formulas
from matloop.io.validate import (
    MAX_CELL_CHARS,
    MAX_PATH_CHARS,
    classify_cells,
    convert_numeric_columns,
    validate_structure_paths,
)


@pytest.fixture
def parsed_lengths(monkeypatch):
    """The length of every string handed to the formula parser (the spy calls the real parser)."""
    seen: list[int] = []
    real = formula_module._parse_unique

    def spy(uniq):
        seen.extend(len(u) for u in uniq)
        return real(uniq)

    monkeypatch.setattr(formula_module, "_parse_unique", spy)
    return seen


def _only_error(exc: pytest.ExceptionInfo) -> dict:
    assert len(exc.value.table) == 1, exc.value.table
    return exc.value.table.iloc[0].to_dict()


# ----------------------------------------------------------------------------- formulas
def test_a_formula_over_the_limit_is_rejected_without_being_parsed(parsed_lengths):
    at_limit = "H" * MAX_FORMULA_CHARS  # H1000: long but a formula, and still parsed
    comps, errors = parse_formulas(["Fe2O3", at_limit, "Fe" * 5_000_000, "NiO"], rows=[1, 2, 7, 8],
                                   errors="collect")
    assert max(parsed_lengths) == MAX_FORMULA_CHARS  # the 10 MB cell never reached the parser
    assert errors["row"].tolist() == [7]
    assert errors["reason"].iloc[0] == f"formula too long: 10,000,000 characters (at most {MAX_FORMULA_CHARS:,})"
    assert len(errors["value"].iloc[0]) < MAX_VALUE_CHARS + 50  # shortened, with the original length
    assert comps.take([1]).formulas() == ["H1"] and comps.n_elements.tolist() == [2, 1, 0, 2]


def test_a_long_formula_is_too_long_even_when_it_is_a_valid_formula(parsed_lengths):
    with pytest.raises(InputError, match="formula too long: 1,001 characters"):
        parse_formulas(["H" * (MAX_FORMULA_CHARS + 1)])
    with pytest.raises(InputError, match="formula too long"):
        parse_formulas(["(" * 600 + "Fe" + ")" * 600])  # not a recursion or depth error: never parsed
    assert not parsed_lengths or max(parsed_lengths) <= MAX_FORMULA_CHARS


def test_detection_samples_a_long_cell_without_parsing_it(parsed_lengths):
    values = pd.Series(["Fe2O3", "NiO", "CuO", "Fe" * 5_000_000, "ZnO"], dtype=object)
    guess = classify_column(values, "formula")
    assert guess.kind == "composition" and guess.formula == pytest.approx(0.8)
    assert max(parsed_lengths) < 10


def test_read_table_names_the_file_row_of_a_long_formula(tmp_path, parsed_lengths):
    path = tmp_path / "t.csv"
    path.write_text("formula,y\nFe2O3,1\n\n\nNiO,2\n" + "Fe" * 500_000 + ",3\nCuO,4\n")
    with pytest.raises(InputError) as exc:
        read_table(path, target="y")
    err = _only_error(exc)
    assert err["row"] == 5 and err["column"] == "formula"
    assert err["reason"].startswith("formula too long: 1,000,000 characters")
    assert max(parsed_lengths) <= MAX_FORMULA_CHARS
    assert len(str(exc.value)) < 2_000
    ds = read_table(path, target="y", skip_invalid=True)
    assert ds.rows.tolist() == [1, 4, 6] and ds.skipped["row"].tolist() == [5]


# ----------------------------------------------------------------------------- targets, parameters, labels
def test_classify_cells_marks_long_cells_before_parsing_numbers():
    digits = "1" * (MAX_CELL_CHARS + 1)
    kinds, numbers, _ = classify_cells(pd.Series(["1.5", digits, " " * 5000, "x" * 5000, "7" * MAX_CELL_CHARS],
                                                 dtype=object))
    assert kinds.tolist() == ["number", "long", "missing", "long", "nonfinite"]  # 1e999 overflows: no value
    assert numbers[0] == 1.5 and np.isnan(numbers[1])


@pytest.mark.parametrize("cell,task", [("1" * 20_000, None), ("c" * 20_000, "classification")])
def test_a_long_target_cell_is_a_bad_row(tmp_path, cell, task):
    path = tmp_path / "t.csv"
    labels = ("a", "b", "a") if task else ("1", "2", "3")
    path.write_text(f"formula,y\nFe2O3,{labels[0]}\n\nNiO,{labels[1]}\nCuO,{cell}\nZnO,{labels[2]}\n")
    with pytest.raises(InputError) as exc:
        read_table(path, target="y", task=task)
    err = _only_error(exc)
    assert (err["row"], err["column"]) == (4, "y")
    assert err["reason"].startswith(f"value too long: 20,000 characters (at most {MAX_CELL_CHARS:,})")
    assert len(str(exc.value)) < 2_000


def test_a_long_parameter_cell_is_a_bad_row_not_a_text_column(tmp_path):
    rows = [f"{i},{i * 2},{i}" for i in range(1, 6)]
    rows[2] = "3," + "6" * 20_000 + ",3"
    path = tmp_path / "p.csv"
    path.write_text("a,b,y\n" + "\n".join(rows) + "\n")
    with pytest.raises(InputError) as exc:
        read_table(path, target="y")
    err = _only_error(exc)
    assert (err["row"], err["column"]) == (3, "b") and "value too long: 20,000 characters" in err["reason"]
    # a long cell among the first rows keeps the column as text: it is never handed to the number regex
    frame = pd.DataFrame({"b": ["6" * 20_000, "2", "3"]}, dtype=object)
    assert convert_numeric_columns(frame, skip=set())["b"].tolist() == frame["b"].tolist()


# ----------------------------------------------------------------------------- structure file paths
def test_structure_paths_too_long_or_refused_by_the_os_are_bad_rows(tmp_path):
    (tmp_path / "a.cif").write_text("data_a\n")
    values = pd.Series(["a.cif", "x" * (MAX_PATH_CHARS + 1) + ".cif", "y" * 3000 + ".cif"])
    keys, records = validate_structure_paths(values, "structure", np.array([1, 3, 4]), tmp_path)
    assert keys == [str((tmp_path / "a.cif").resolve()), None, None]
    assert [r["row"] for r in records] == [3, 4]
    assert records[0]["reason"] == f"structure file path too long: {MAX_PATH_CHARS + 5:,} characters " \
                                   f"(at most {MAX_PATH_CHARS:,})"
    assert records[1]["reason"].startswith("unusable structure file path")  # a name over 255 bytes


# ----------------------------------------------------------------------------- the command, under a memory cap
def _check_capped(table: Path, extra_mib: int = 300) -> subprocess.CompletedProcess:
    """``matloop check TABLE --target y`` with the address space capped at its size after imports + extra."""
    code = textwrap.dedent(f"""
        import re, resource, sys
        import numpy, pandas, sklearn
        import matloop.io.table, matloop.cli.main
        try:  # detection asks RDKit about SMILES when it is installed: load it before measuring
            import rdkit.Chem
        except ImportError:
            pass
        vm = int(re.search(r"VmSize:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
        limit = vm + {extra_mib} * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        sys.exit(matloop.cli.main.main(["check", {str(table)!r}, "--target", "y"]))
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})


def _has_rdkit() -> bool:
    try:
        import rdkit  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="memory cap via /proc and RLIMIT_AS")
@pytest.mark.parametrize("where", ["formula", "target", "smiles"])
def test_check_on_a_10_mb_cell_exits_2_under_a_memory_cap(tmp_path, where):
    if where == "smiles" and not _has_rdkit():
        pytest.skip("needs RDKit (the molecule extra)")
    good = ("CCO", "CCCO", "CCCCO") if where == "smiles" else ("Fe2O3", "NiO", "ZnO")
    big = {"formula": "Fe" * 5_000_000, "target": "1" * 10_000_000, "smiles": "C" * 10_000_000}[where]
    cells = ("CuO", big) if where == "target" else (big, "3")
    column = {"formula": "formula", "target": "y", "smiles": "smiles"}[where]
    path = tmp_path / "big.csv"
    path.write_text(f"{'smiles' if where == 'smiles' else 'formula'},y\n{good[0]},1\n\n{good[1]},2\n"
                    f"{cells[0]},{cells[1]}\n{good[2]},4\n")
    done = _check_capped(path)
    assert done.returncode == 2, done.stderr[-3000:]
    assert len(done.stderr) < 4_000 and "Traceback" not in done.stderr
    assert re.search(rf"^4\s+{column}\s", done.stderr, re.MULTILINE), done.stderr
    assert "too long: 10,000,000 characters" in done.stderr
