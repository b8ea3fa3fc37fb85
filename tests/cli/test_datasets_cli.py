"""``matloop datasets list | info | export``: exit codes and output, run in-process."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from matloop.cli.main import main
from matloop.datasets import names
from matloop.datasets.patterns import PATTERN_SETS
from matloop.datasets.potential_sets import POTENTIAL_SETS


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["datasets", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_every_dataset_with_rows(capsys):
    code, out, err = run(capsys, "list")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["name", "rows", "kind", "task"]
    listed = [ln.split()[0] for ln in lines[1:] if ln and not ln.startswith("50 datasets")]
    assert listed == [*names(), *PATTERN_SETS, *POTENTIAL_SETS]  # tables, pattern sets, potential records
    assert any(ln.startswith("oqmd_bandgap") and "341,608" in ln for ln in lines)
    assert "50 datasets" in out


def test_list_filters_and_machine_readable_formats(capsys):
    code, out, _ = run(capsys, "list", "--kind", "molecule")
    rows = [ln.split()[0] for ln in out.splitlines()[1:] if ln.strip() and "datasets." not in ln]
    assert code == 0 and rows == ["esol", "freesolv"] and "2 datasets" in out
    code, out, _ = run(capsys, "list", "--task", "classification", "--format", "csv")
    table = pd.read_csv(io.StringIO(out))
    assert code == 0 and sorted(table["name"]) == ["matbench_expt_is_metal", "matbench_glass", "matbench_mp_is_metal",
                                                   "vapdiff_crystal", "xrd_oviedo2019"]
    code, out, _ = run(capsys, "list", "--format", "json")
    records = json.loads(out)
    assert code == 0 and len(records) == 50 and {"license", "direction", "folds"} <= set(records[0])


def test_info_prints_provenance_and_licence(capsys):
    code, out, err = run(capsys, "info", "matbench_steels")
    assert code == 0 and err == ""
    for text in ("Rows:        312", "yield strength", "MPa", "maximise", "Folds:", "Licence:", "MIT",
                 "Citation", "Dunn", "Provenance:", "materialsproject/matbench", "936176db"):
        assert text in out, text


def test_info_unknown_name_exits_2_with_suggestions(capsys):
    code, out, err = run(capsys, "info", "freesolve")
    assert code == 2 and out == ""
    assert "unknown dataset 'freesolve'" in err and "freesolv" in err and "Traceback" not in err


def test_export_writes_file_and_reports_licence(capsys, tmp_path):
    target = tmp_path / "steels.parquet"
    code, out, err = run(capsys, "export", "matbench_steels", "-o", str(target))
    assert code == 0 and err == ""
    assert "wrote 312 rows" in out and "licence: MIT" in out and "cite:" in out
    assert len(pd.read_parquet(target)) == 312


def test_export_refuses_to_overwrite_without_force(capsys, tmp_path):
    target = tmp_path / "p3ht.csv"
    target.write_text("mine")
    code, _, err = run(capsys, "export", "liang_p3ht", "-o", str(target))
    assert code == 2 and "--force" in err and target.read_text() == "mine"
    code, out, _ = run(capsys, "export", "liang_p3ht", "-o", str(target), "--force")
    assert code == 0 and len(pd.read_csv(target)) == 233


@pytest.mark.parametrize(("argv", "expected_code", "message"), [
    (["export", "esol", "-o", "{tmp}/esol.docx"], 2, "cannot write"),
    (["export", "nope", "-o", "{tmp}/x.csv"], 2, "unknown dataset"),
    (["export", "esol", "-o", "{tmp}/missing/esol.csv"], 2, "does not exist"),
])
def test_export_errors_have_exit_codes_and_no_traceback(capsys, tmp_path, argv, expected_code, message):
    code, _, err = run(capsys, *[a.format(tmp=tmp_path) for a in argv])
    assert code == expected_code and message in err and "Traceback" not in err
    assert not list(tmp_path.rglob("*.*"))


def test_bare_datasets_command_prints_help(capsys):
    code, out, _ = run(capsys)
    assert code == 0 and "list" in out and "info" in out and "export" in out


@pytest.mark.parametrize("action", ["list", "info", "export"])
def test_every_action_has_help(capsys, action):
    with pytest.raises(SystemExit) as exc:
        main(["datasets", action, "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and f"matloop datasets {action}" in out and len(out) > 300


def test_export_requires_output(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["datasets", "export", "esol"])
    assert exc.value.code == 2 and "-o/--output" in capsys.readouterr().err
