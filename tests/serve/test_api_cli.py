"""``matloop serve`` on the command line: the first start's admin token (printed once, only its hash
stored), ``serve token create|revoke|list``, the bind address it announces, and bad options."""

from __future__ import annotations

import sqlite3

import pytest

pytest.importorskip("fastapi")

from matloop.cli.main import main  # noqa: E402
from matloop.serve import auth  # noqa: E402
from matloop.serve.db import open_db  # noqa: E402


def _token_lines(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.strip().startswith("mlt_")]


def test_first_start_prints_an_admin_token_once_and_stores_only_its_hash(tmp_path, capsys):
    db = str(tmp_path / "lab.db")
    assert main(["serve", "--db", db, "--check"]) == 0
    out = capsys.readouterr().out
    [token] = _token_lines(out)
    assert "admin token 1" in out and "bound to 127.0.0.1: only this machine can connect" in out
    assert main(["serve", "--db", db, "--check"]) == 0  # the second start creates and prints nothing
    out2 = capsys.readouterr().out
    assert _token_lines(out2) == [] and "first start" not in out2
    handle = open_db(db)
    try:
        principal = auth.verify_token(handle, token)
        assert principal is not None and principal.role == "admin"
    finally:
        handle.close()
    raw = (tmp_path / "lab.db").read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("lab.db-*"))
    assert token.encode() not in raw and token.split("_", 2)[2].encode() not in raw  # only a hash is on disk


def test_token_create_revoke_list(tmp_path, capsys):
    db = str(tmp_path / "lab.db")
    assert main(["serve", "token", "create", "--role", "experimenter", "--label", "robot-1", "--db", db]) == 0
    [token] = _token_lines(capsys.readouterr().out)
    assert main(["serve", "--db", db, "token", "list"]) == 0
    listing = capsys.readouterr().out
    assert "experimenter" in listing and "robot-1" in listing and "active" in listing and token not in listing
    handle = open_db(db)
    try:
        assert auth.verify_token(handle, token).label == "robot-1"
        assert main(["serve", "token", "revoke", "1", "--db", db]) == 0
        assert auth.verify_token(handle, token) is None
    finally:
        handle.close()
    assert main(["serve", "token", "revoke", "1", "--db", db]) == 2  # already revoked
    assert "no unrevoked token 1" in capsys.readouterr().err
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT revoked_at IS NOT NULL FROM serve_tokens WHERE id = 1").fetchone() == (1,)


def test_bad_options_and_ledgers_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for argv in (["serve", "--port", "70000", "--check"], ["serve", "token", "create", "--role", "boss"],
                 ["serve", "--db", "nosuch://x", "--check"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    assert main(["serve", "token", "list", "--db", str(tmp_path / "typo.db")]) == 2
    assert not (tmp_path / "typo.db").exists()
    assert main(["serve", "--db", str(tmp_path / "no" / "such" / "dir.db"), "--check"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_another_host_is_announced(tmp_path, capsys):
    assert main(["serve", "--db", str(tmp_path / "lab.db"), "--host", "0.0.0.0", "--port", "9000", "--check"]) == 0
    out = capsys.readouterr().out
    assert "http://0.0.0.0:9000/" in out and "other machines can connect" in out
