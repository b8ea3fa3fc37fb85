"""Design-space files (JSON/YAML) from a user: every unreadable one is an InputError (issue 16, item 11's
class beyond tables), repeated keys and YAML aliases are refused, and a good file reads as before."""

from __future__ import annotations

import pytest

from matloop import InputError
from matloop.cli.main import main
from matloop.design.campaign import read_space
from matloop.design.space import DesignSpace
from matloop.io.specfile import MAX_SPEC_BYTES, read_spec

GOOD_YAML = "parameters:\n  - {name: t, type: continuous, low: 20, high: 200}\n  - {name: c, type: categorical, " \
            "values: [a, b]}\n"

BAD = {
    "deep.json": b"[" * 100_000 + b"]" * 100_000,
    "deep.yaml": b"[" * 5_000 + b"]" * 5_000,
    "malformed.yaml": b"parameters: [\n  - {name: a",
    "malformed.json": b'{"parameters": [',
    "binary.yaml": b"\x81\x82\xff",
    "nul.json": b'{"parameters": [{"name": "a\x00", "type": "continuous", "low": 0, "high": 1}]}',
    "dup.json": b'{"parameters": [], "parameters": [{"name": "a", "type": "continuous", "low": 0, "high": 1}]}',
    "dup.yaml": b"parameters: []\nparameters: [1]\n",
    "alias.yaml": b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nparameters: []\n",
    "list.json": b"[1, 2]",
    "badtype.json": b'{"parameters": [{"name": "a", "type": "continuous", "low": "x", "high": 1}]}',
    "badvalues.yaml": b"parameters:\n  - {name: c, type: categorical, values: 3}\n",
    "empty.yaml": b"",
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_space_files_are_input_errors(tmp_path, name, capsys):
    path = tmp_path / name
    path.write_bytes(BAD[name])
    with pytest.raises(InputError):
        read_space(path)
    with pytest.raises(InputError):
        DesignSpace.from_file(path)
    code = main(["campaign", "new", "c", "--space", str(path), "--target", "y", "--maximize",
                 "--db", f"sqlite:///{tmp_path / 'l.db'}"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err) < 2_000


def test_specific_messages(tmp_path):
    for name, pattern in [("dup.yaml", "the key 'parameters' appears twice in one mapping \\(line 1\\)"),
                          ("dup.json", "the key 'parameters' appears twice"),
                          ("alias.yaml", "YAML aliases \\(\\*a\\) are not allowed"),
                          ("deep.json", "nested too deeply"),
                          ("nul.json", "control character U\\+0000 on line 1")]:
        path = tmp_path / name
        path.write_bytes(BAD[name])
        with pytest.raises(InputError, match=pattern):
            read_spec(path)


def test_good_space_file_reads_and_limits_hold(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(GOOD_YAML)
    space, spec = read_space(path)
    assert space.columns == ["t", "c"] and spec["parameters"][1]["values"] == ["a", "b"]
    crlf = tmp_path / "crlf.yaml"
    crlf.write_bytes(GOOD_YAML.replace("\n", "\r\n").encode("utf-16"))
    assert DesignSpace.from_file(crlf).columns == ["t", "c"]
    big = tmp_path / "big.yaml"
    big.write_bytes(GOOD_YAML.encode() + b"#" * MAX_SPEC_BYTES)
    with pytest.raises(InputError, match="a spec file holds at most"):
        read_spec(big)
    with pytest.raises(FileNotFoundError):
        read_spec(tmp_path / "none.yaml")
