"""``matloop featurize LIST.csv -o OUT.parquet`` without pandas: the same file, the same messages.

The pandas-free path (cli/commands/_featurize_fast.py) must write byte for byte the file the general
path writes (features, the table's column, the schema's pandas metadata), leave every bad table to
the general path (same exit status, same row/value/reason table), and run only where it applies.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import matloop.cli.commands._featurize_fast as fast
from matloop.cli.main import main
from matloop.io.table import read_table
from standins import random_formulas

ELEMENTS = ["Fe", "O", "Li", "P", "Na", "Cl", "Ga", "As", "Mn", "Si", "Ba", "Ti", "H", "Pu", "Og"]


def _formulas(n: int, seed: int = 2) -> list[str]:
    out = random_formulas(n, ELEMENTS, seed)
    out[::50] = ["Ca3(PO4)2", "CuSO4·5H2O", "MAPbI3", " Fe2O3 "] * (len(out[::50]) // 4) + \
        ["NaCl"] * (len(out[::50]) % 4)  # slow parser, non-ASCII cells, spaces
    return out


def _both(tmp_path, monkeypatch, argv: list[str]) -> tuple[tuple, tuple]:
    """(exit status, file bytes, [fast path taken]) of the command through the fast path, then the
    general one."""
    results = []
    for general in (False, True):
        out = tmp_path / ("general.parquet" if general else "fast.parquet")
        taken = []
        real = fast.run_fast

        def spy(args, real=real, general=general, taken=taken):
            if general:
                return None
            code = real(args)
            taken.append(code is not None)
            return code

        monkeypatch.setattr(fast, "run_fast", spy)
        code = main([*argv, "-o", str(out), "-q"])
        results.append((code, out.read_bytes() if out.exists() else None, taken))
        monkeypatch.setattr(fast, "run_fast", real)
    return results[0], results[1]


@pytest.mark.parametrize("featurizer", ["magpie", "default", "xenonpy,stoichiometry"])
def test_the_file_is_byte_for_byte_the_general_paths(tmp_path, monkeypatch, capsys, featurizer):
    path = tmp_path / "list.csv"
    path.write_text("formula\n" + "\n".join(_formulas(3000)) + "\n\n")
    (code_f, data_f, taken), (code_g, data_g, _) = _both(
        tmp_path, monkeypatch, ["featurize", str(path), "--featurizer", featurizer])
    assert taken == [True] and code_f == code_g == 0
    assert data_f == data_g  # the same bytes: values, types, row groups, schema metadata
    written = pd.read_parquet(tmp_path / "fast.parquet")
    assert written["formula"].tolist() == _formulas(3000)


def test_several_row_groups_and_non_ascii_header(tmp_path, monkeypatch, capsys):
    import matloop.cli.commands.featurize as featurize_cmd

    monkeypatch.setattr(featurize_cmd, "STREAM_BYTES", 1024 * 8 * 132)
    path = tmp_path / "list.csv"
    path.write_bytes(("\ufeffformule é\r\n" + "\r\n".join(_formulas(5000, seed=5)) + "\r\n").encode("utf-8"))
    (code_f, data_f, taken), (code_g, data_g, _) = _both(tmp_path, monkeypatch, ["featurize", str(path)])
    assert taken == [True] and code_f == code_g == 0 and data_f == data_g
    assert pq.ParquetFile(tmp_path / "fast.parquet").metadata.num_row_groups >= 3


def test_bad_rows_get_the_general_paths_exit_and_table(tmp_path, monkeypatch, capsys):
    path = tmp_path / "list.csv"
    path.write_text("formula\nFe2O3\nXx2\n\nNaCl\nFe2O-3\nMgO\n")
    outputs = []
    for general in (False, True):
        if general:
            monkeypatch.setattr(fast, "run_fast", lambda args: None)
        assert main(["featurize", str(path), "--featurizer", "magpie", "-o", str(tmp_path / "f.parquet")]) == 2
        outputs.append(capsys.readouterr())
    assert outputs[0] == outputs[1]
    err = outputs[0].err
    assert "2 of 5 rows have problems" in err and "Xx2" in err and "Fe2O-3" in err
    rows = [line.split()[0] for line in err.splitlines()[1:] if line.split() and line.split()[0].isdigit()]
    assert rows == ["2", "5"] and not (tmp_path / "f.parquet").exists()


def test_skip_invalid_still_writes_the_side_file(tmp_path, capsys):
    path = tmp_path / "list.csv"
    path.write_text("formula\nFe2O3\nXx2\nNaCl\nMgO\n")
    assert main(["featurize", str(path), "--skip-invalid", "-o", str(tmp_path / "f.parquet"), "-q"]) == 0
    assert "skipped 1 row" in capsys.readouterr().err
    assert pd.read_parquet(tmp_path / "f.parquet")["formula"].tolist() == ["Fe2O3", "NaCl", "MgO"]
    assert pd.read_csv(tmp_path / "list.skipped.csv")["row"].tolist() == [2]


def test_a_failed_write_in_the_writer_thread_exits_1_and_leaves_no_file(tmp_path, monkeypatch, capsys):
    import matloop.cli.commands.featurize as featurize_cmd

    monkeypatch.setattr(featurize_cmd, "STREAM_BYTES", 1024 * 8 * 132)  # several row groups
    calls = []
    real = pq.ParquetWriter.write_table

    def failing(self, table, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("No space left on device")
        return real(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", failing)
    path = tmp_path / "f.csv"
    path.write_text("formula\n" + "\n".join(_formulas(5000)) + "\n")
    assert main(["featurize", str(path), "--featurizer", "magpie", "-o", str(tmp_path / "f.parquet")]) == 1
    assert "no space left" in capsys.readouterr().err.lower() and len(calls) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.csv"]


def _args(**changes) -> argparse.Namespace:
    base = dict(table="t.csv", input=None, target=None, kind=None, skip_invalid=False, duplicates="keep",
                structures_root=None, featurizer=["magpie"], output="o.parquet", quiet=True)
    return argparse.Namespace(**{**base, **changes})


@pytest.mark.parametrize("changes", [{"target": ["y"]}, {"duplicates": "mean"}, {"kind": "molecule"},
                                     {"output": "o.csv"}, {"output": "o.csv.gz"}, {"extra_inputs": ["T"]}])
def test_other_options_take_the_general_path(tmp_path, changes):
    path = tmp_path / "t.csv"
    path.write_text("formula\nFe2O3\nNaCl\n")
    assert fast.run_fast(_args(**{"table": str(path), "output": str(tmp_path / "o.parquet"), **changes})) is None


def test_unknown_featurizer_is_the_general_paths_error(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text("formula\nFe2O3\nNaCl\n")
    assert main(["featurize", str(path), "--featurizer", "magpi", "-o", str(tmp_path / "o.parquet")]) == 2
    assert "did you mean 'magpie'" in capsys.readouterr().err


@pytest.mark.parametrize("cells", [["Fe2O3", "NaCl"], ["CuSO4·5H2O", " Fe2O3 ", "Ca3(PO4)2"]])
@pytest.mark.parametrize("column", ["formula", "formule é"])
def test_own_column_is_what_from_pandas_makes_of_the_read_frame(tmp_path, cells, column):
    path = tmp_path / "t.csv"
    path.write_text(column + "\n" + "\n".join(cells) + "\n", encoding="utf-8")
    frame = read_table(path).frame
    expected = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    ours = fast.own_column(column, list(frame[column]))
    assert ours.schema.equals(expected.schema, check_metadata=True)
    assert ours.equals(expected)


def test_pandas_version_without_importing_pandas():
    assert fast.pandas_version() == pd.__version__
    code = ("import sys\nfrom matloop.cli.commands._featurize_fast import pandas_version\n"
            "print(pandas_version(), 'pandas' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == [pd.__version__, "False"]


def test_the_command_on_a_formula_list_does_not_import_pandas(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("formula\nFe2O3\nNaCl\nCa3(PO4)2\n")
    out = tmp_path / "f.parquet"
    code = ("import sys\nfrom matloop.cli.main import main\n"
            f"assert main(['featurize', {str(path)!r}, '--featurizer', 'magpie', '-o', {str(out)!r}, '-q']) == 0\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'sklearn', 'scipy', 'rdkit'}))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert run.stdout.strip().splitlines()[-1] == "[]"
    assert pd.read_parquet(out).shape == (3, 133)


def test_featurize_is_parsed_alone_with_the_same_options_help_and_errors(capsys):
    from matloop.cli.main import build_parser

    argv = ["featurize", "t.csv", "--featurizer", "magpie,stoichiometry", "--input", "f", "-o", "o.parquet", "-q"]
    full, alone = build_parser(), build_parser("featurize")
    assert {k: v for k, v in vars(full.parse_args(argv)).items() if k != "func"} == \
        {k: v for k, v in vars(alone.parse_args(argv)).items() if k != "func"}
    texts = []
    for parser in (full, alone):
        for bad in (["featurize", "--help"], ["featurize", "t.csv"], ["featurize", "t.csv", "-o", "o", "--bogus"]):
            with pytest.raises(SystemExit):
                parser.parse_args(bad)
            texts.append(capsys.readouterr())
    assert texts[:3] == texts[3:]
    assert "usage: matloop featurize" in texts[0].out
