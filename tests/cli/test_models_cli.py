"""``matloop models list | info``: the pre-trained library from the shell, run in-process."""

from __future__ import annotations

import io
import json

import pandas as pd

from matloop.cli.main import main
from matloop.models.pretrained import model_card, model_names


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["models", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_every_model_with_card_highlights(capsys):
    code, out, err = run(capsys, "list")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["name", "property", "units"]
    listed = [ln.split()[0] for ln in lines[1:len(model_names()) + 1]]
    assert listed == model_names()
    gap_line = next(ln for ln in lines if ln.startswith("mp_gap "))
    assert "mae" in gap_line and f"{model_card('mp_gap')['data']['train_rows']:,}" in gap_line
    assert f"{len(model_names())} models" in out and "MB" in out


def test_list_machine_readable(capsys):
    code, out, _ = run(capsys, "list", "--format", "csv")
    table = pd.read_csv(io.StringIO(out))
    assert code == 0 and list(table["name"]) == model_names()
    code, out, _ = run(capsys, "list", "--format", "json")
    assert code == 0 and json.loads(out)[0]["name"] == model_names()[0]


def test_info_prints_the_full_card(capsys):
    code, out, _ = run(capsys, "info", "mp_gap")
    card = model_card("mp_gap")
    assert code == 0 and out.startswith("mp_gap: PBE band gap")
    for text in ("Data", "Training", "Test metrics", card["weights_sha256"], card["code_version"], "matbench_mp_gap"):
        assert text in out
    code, out, _ = run(capsys, "info", "mp_gap", "--format", "json")
    assert code == 0 and json.loads(out) == card


def test_unknown_model_exits_2_with_suggestion(capsys):
    code, out, err = run(capsys, "info", "mp_gapp")
    assert code == 2 and "mp_gap" in err and out == ""
