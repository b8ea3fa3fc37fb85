"""Hostile files through every command that reads a user's table (issue 16 item 11, issue 15).

Property: for random bytes, encodings and cells (``hostile.hostile_files``), each command exits 2
with a message or reads the table successfully; never another exit code, never a traceback. To keep
this fast, a successful read stops the command right after reading (the ``_ReadOK`` sentinel), and
commands that load a model before the table get a stand-in model: what is under test is each
command's reading path, not its modelling. A few real runs in a
subprocess check the console script end to end: NUL cells, a missing file, a closed stdout pipe.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import matloop.io.files
import matloop.io.table
from hostile import hostile_files
from matloop.cli.main import main

GOOD = "formula,y\nFe2O3,1.5\nNiO,2.0\nCuO,3.1\nZnO,0.5\nMgO,4.2\nAl2O3,3.3\nTiO2,2.2\nSiO2,1.1\n"

SMILES = "smiles,y\nCCO,0.5\nCCCO,0.2\nc1ccccc1,0.9\nCC(=O)O,0.4\n"


class _ReadOK(BaseException):
    """Raised right after a table was read successfully (a BaseException: no command swallows it)."""


class _StubModel:
    """Stands in for a saved composition model: model files are checked elsewhere (tests/models), and
    loading a real one for every example would dominate this test's time."""

    featurizer_ = featurizer = "magpie"
    kind, task = "composition", "regression"

    def predict_table(self, X):  # pragma: no cover - never reached: the test stops after reading
        raise AssertionError("the stand-in model cannot predict")


@pytest.fixture
def model(tmp_path, monkeypatch) -> Path:
    import matloop.models.persistence as persistence

    monkeypatch.setattr(persistence, "load_model", lambda *a, **k: _StubModel())
    monkeypatch.setattr(persistence, "read_model_metadata",
                        lambda *a, **k: {"metadata": {"kind": "composition", "target": "y"}})
    path = tmp_path / "m.model"
    path.write_bytes(b"stub")
    return path


@pytest.fixture(scope="module")
def campaign(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("campaign")
    (folder / "pool.csv").write_text("formula,y\nFe2O3,1.5\nNiO,2.0\nCuO,\nZnO,\n")
    db = f"sqlite:///{folder / 'ledger.db'}"
    assert main(["campaign", "new", "c", "--pool", str(folder / "pool.csv"), "--target", "y", "--maximize",
                 "--db", db]) == 0
    return db


def _commands(table: str, out: Path, model: Path, db: str) -> dict[str, list[str]]:
    return {
        "check": ["check", table, "--target", "y"],
        "featurize": ["featurize", table, "-o", str(out / "f.parquet")],
        "fit": ["fit", table, "--target", "y", "--model", "rf", "-o", str(out / "x.model")],
        "validate": ["validate", table, "--target", "y", "--model", "rf"],
        "predict": ["predict", str(model), table, "-o", str(out / "p.csv")],
        "report": ["report", table, "--target", "y", "-o", str(out / "r.html")],
        "suggest": ["suggest", table, "--target", "y", "--maximize", "-o", str(out / "next.csv")],
        "campaign new": ["campaign", "new", "n", "--pool", table, "--target", "y", "--maximize",
                         "--db", f"sqlite:///{out / 'new.db'}"],
        "campaign record": ["campaign", "record", "c", table, "--db", db],
        "benchmark campaign": ["benchmark", "campaign", table, "--target", "y", "--maximize", "--runs", "1"],
        "screen --candidates": ["screen", "--candidates", table, "--model", str(model), "-o", str(out / "h.csv")],
        "design molecules": ["design", "molecules", "--train", table, "--target", "y=0:1", "-o",
                             str(out / "d.csv")],
        "design compositions --seeds": ["design", "compositions", "--model", str(model), "--seeds", table,
                                        "--maximize", "-o", str(out / "dc.csv")],
    }


def _stop_after_reading(monkeypatch) -> None:
    real_inspect, real_raw = matloop.io.table.inspect_table, matloop.io.files.read_raw

    def inspect(*args, **kwargs):
        real_inspect(*args, **kwargs)
        raise _ReadOK

    def raw(*args, **kwargs):
        real_raw(*args, **kwargs)
        raise _ReadOK

    monkeypatch.setattr(matloop.io.table, "inspect_table", inspect)
    monkeypatch.setattr(matloop.io.files, "read_raw", raw)  # campaign record reads the raw table


def _exit_code(argv: list[str]) -> int | str:
    """main's exit code, or "read" when the command got as far as reading its table successfully."""
    try:
        return main(argv)
    except _ReadOK:
        return "read"
    except SystemExit as exc:  # argparse
        return int(exc.code or 0)


@pytest.mark.parametrize("command", list(_commands("T", Path("."), Path("m"), "db")))
def test_every_reader_exits_0_or_2_on_random_files(command, tmp_path, model, campaign, monkeypatch, capsys):
    _stop_after_reading(monkeypatch)
    good = tmp_path / "good.csv"
    good.write_text(SMILES if command == "design molecules" else GOOD)
    if command != "design molecules" or importlib.util.find_spec("rdkit"):  # SMILES need RDKit to be read
        assert _exit_code(_commands(str(good), tmp_path, model, campaign)[command]) == "read", \
            capsys.readouterr().err

    @settings(max_examples=12, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(hostile_files())
    def run(file):
        suffix, data = file
        path = tmp_path / f"table{suffix}"
        path.write_bytes(data)
        code = _exit_code(_commands(str(path), tmp_path, model, campaign)[command])
        err = capsys.readouterr().err
        assert code in ("read", 0, 2), err[-2000:]
        assert "Traceback" not in err and len(err) < 50_000

    run()


@pytest.mark.parametrize("command", ["check", "fit", "predict", "campaign record", "screen --candidates"])
def test_nul_cells_exit_2_and_missing_files_exit_2(command, tmp_path, model, campaign, capsys):
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"formula,y\nFe2O3\x00junk,1\nNiO,1\x00999\nCuO,3\n")
    assert main(_commands(str(nul), tmp_path, model, campaign)[command]) == 2
    err = capsys.readouterr().err
    assert "control character U+0000 (NUL)" in err and "Fe2O3\\x00junk" in err
    assert main(_commands(str(tmp_path / "missing.csv"), tmp_path, model, campaign)[command]) == 2
    assert "no such file" in capsys.readouterr().err


def test_header_only_results_and_bad_output_folders_exit_2(tmp_path, campaign, capsys):
    results = tmp_path / "results.csv"
    results.write_text("formula,y\n")
    assert main(["campaign", "record", "c", str(results), "--db", campaign]) == 2
    assert "has no data rows" in capsys.readouterr().err
    assert main(["datasets", "export", "esol", "-o", str(tmp_path / "no" / "x.csv")]) == 2


def _console(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "matloop.cli.main", *args], capture_output=True, text=True,
                          timeout=120, **kwargs)


def test_console_script_exit_codes_for_bad_files(tmp_path):
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"formula,y\nFe2O3\x00junk,1\nNiO,2\n")
    done = _console("check", str(nul), "--target", "y")
    assert done.returncode == 2 and "row" in done.stderr and "Traceback" not in done.stderr
    done = _console("check", str(tmp_path / "none.csv"), "--target", "y")
    assert done.returncode == 2 and "no such file" in done.stderr
    big = tmp_path / "big.csv"
    big.write_text(GOOD + "Q" * 2_000_000 + ",1\n")
    done = _console("check", str(big), "--target", "y")
    assert done.returncode == 2 and len(done.stderr) < 3_000, done.stderr[:3000]


def test_closed_stdout_pipe_ends_quietly(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text(GOOD)
    proc = subprocess.Popen([sys.executable, "-m", "matloop.cli.main", "check", str(table), "--target", "y"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # like `| head` exiting before matloop writes
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) in (0, 1)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
