"""Every ``matloop ...`` command shown in README.md and in the examples of every ``--help`` runs as written.

The commands are extracted, not copied: code spans and ``bash`` block lines of README.md that start
with ``matloop ``, and the example lines of every subcommand's ``--help`` (continuation lines ending
in a backslash joined, ``# comments`` dropped). They run in process (``matloop.cli.main.main``) in one
temporary folder, README first and then the help pages in parser order, so that a model written by
one command (``gap.model``) is read by the next, as a user following the page would do.

File names stand for bundled data, written by ``matloop datasets export NAME -o FILE`` (see
:data:`FILES`); to keep the test fast each export is cut to every k-th row, to the row count given
there. The README's own ``datasets export`` lines run too, writing ``readme_FILE`` beside them.
Two files are a user's own tables that the README describes in words, built from the same exports:
``pool.csv`` (``expt_gap.csv`` with the target of most rows left empty: the candidates) and
``results.csv`` (the rows ``campaign suggest`` wrote to ``next.csv``, with their measured gaps).

Commands are run as written except that tiny budgets are appended where a command takes one
(:data:`FAST`: fewer campaign runs and molecule-generation steps, a report's ``--time-budget 5``
without UMAP, ``--time-budget 3`` for fit and validate); the later option wins in argparse, so the
command itself is unchanged. Molecule commands are skipped
without RDKit, and the screening example with ``--scheduler`` (it needs a running Dask cluster). An
OPTIMADE provider URL (``--optimade URL``) is replaced by the ``optimade`` package's reference server
started on loopback (tests never reach the internet).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shlex
from pathlib import Path

import pandas as pd
import pytest

from matloop.cli.main import build_parser, main

ROOT = Path(__file__).resolve().parents[2]

#: file name used in the examples -> (bundled dataset, rows kept)
FILES = {
    "expt_gap.csv": ("matbench_expt_gap", 60),
    "steels.csv": ("matbench_steels", 40),
    "steels.xlsx": ("matbench_steels", 40),
    "p3ht.csv": ("liang_p3ht", 60),
    "esol.csv": ("esol", 40),
    "candidates.csv": ("matbench_expt_is_metal", 30),
    "perov.csv": ("perov_5", 40),
    "redoxmers.csv": ("redoxmers", 40),
    "plate_3851.csv": ("oer_plate_3851", 300),
    "plate_3496.csv": ("oer_plate_3496", 300),
}
PLATE_MEASURED = 10  # plate_3496_pool.csv: plate_3496.csv with the overpotential after the first 10 rows left empty
EXAMPLES = ROOT / "docs" / "examples"  # repository-shipped example files (design spaces), copied as they are
POOL_MEASURED = 40  # pool.csv: expt_gap.csv with the target of the rows after the first 40 left empty

#: options appended to keep the run short (argparse: the later value wins)
FAST = {
    ("benchmark", "campaign"): ["--runs", "2", "--budget", "6"],
    ("design", "molecules"): ["--steps", "2", "--population", "12", "--n", "5"],
    ("report",): ["--time-budget", "5", "--no-umap"],  # and --time-budget 3 wherever a command takes it
    ("phases", "map"): ["--components", "3", "--restarts", "1", "--bootstrap", "2"],
    ("serve", "token"): [],  # token commands run as written
    ("serve",): ["--check"],  # the server runs until stopped: --check opens the ledger, says where, exits
    ("potential", "fit"): ["--epochs", "1", "--max-structures", "6"],  # CHGNet fine-tuning: a 6-structure trial
    ("potential", "relax"): ["--steps", "2"],
    ("potential", "md"): ["--steps", "4"],
    ("structures", "relax"): ["--steps", "1"],
}
#: appended to a command with ``--validate stability``: one hit, one structure, a short relaxation
FAST_VALIDATE = ["--validate-top", "1", "--validate-structures", "1", "--relax-steps", "20"]


def _shell_words(command: str) -> list[str]:
    return shlex.split(command, comments=True)


def readme_commands(text: str | None = None) -> list[str]:
    """``matloop ...`` commands of README.md: code spans and lines of fenced blocks, in order."""
    text = (ROOT / "README.md").read_text() if text is None else text
    found: list[tuple[int, str]] = []
    for block in re.finditer(r"```[a-z]*\n(.*?)```", text, re.S):
        found += [(block.start() + m.start(), m.group(1)) for m in re.finditer(r"^(matloop .*)$", block.group(1), re.M)]
    outside = re.sub(r"```.*?```", lambda m: " " * len(m.group(0)), text, flags=re.S)
    found += [(m.start(), m.group(1)) for m in re.finditer(r"`(matloop [^`]+)`", outside)]
    return [command for _, command in sorted(found)]


def _subparsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subparsers(sub, (*path, name))


def _options(words: list[str]) -> set[str]:
    """Option strings of the (sub)command ``words`` starts with."""
    parsers = dict(_subparsers(build_parser()))
    path = max((p for p in parsers if tuple(words[:len(p)]) == p), key=len)
    return set(parsers[path]._option_string_actions)


def help_commands() -> list[str]:
    """Example lines (``  matloop ...``) of every subcommand's --help, continuation lines joined."""
    commands: list[str] = []
    for _, parser in _subparsers(build_parser()):
        # the raw texts: argparse's default formatter re-wraps an epilog, which would cut commands
        text = f"{parser.description or ''}\n{parser.epilog or ''}".replace("\\\n", " ")
        commands += [m.group(1).strip() for m in re.finditer(r"^(?:\s+|.*example: )(matloop [a-z].*)$", text, re.M)]
    return commands


def all_commands() -> list[list[str]]:
    """README then help commands as argument lists, each once; the README's ``datasets export``
    lines are left out (the workspace is made of cut exports instead, see the module docstring)."""
    seen, out = set(), []
    for command in readme_commands() + help_commands():
        words = _shell_words(command)[1:]
        if tuple(words) in seen:
            continue
        seen.add(tuple(words))
        out.append(words)
    return out


def _make_workspace(folder: Path) -> None:
    for name, (dataset, rows) in FILES.items():
        full = folder / f"full_{Path(name).stem}.csv"
        if not full.exists():
            assert main(["datasets", "export", dataset, "-o", str(full)]) == 0
        frame = pd.read_csv(full)
        frame = frame.iloc[:: max(1, len(frame) // rows)].head(rows)
        if name.endswith(".xlsx"):
            frame.to_excel(folder / name, index=False)
        else:
            frame.to_csv(folder / name, index=False)
    pool = pd.read_csv(folder / "expt_gap.csv")
    pool.loc[POOL_MEASURED:, "gap expt"] = None
    pool.to_csv(folder / "pool.csv", index=False)
    redox = pd.read_csv(folder / "redoxmers.csv")  # several goals: blank after the first 20 rows (the candidates)
    redox.loc[20:, ["abs_lam_diff", "ered", "gsol"]] = None
    redox.to_csv(folder / "redox_pool.csv", index=False)
    rest = pd.read_csv(folder / "full_redoxmers.csv").merge(redox[["r1_label", "r3_label", "r4_label", "r5_label"]],
                                                            how="left", indicator=True)
    rest = rest[rest["_merge"] == "left_only"].drop(columns="_merge")  # rows not in the pool: candidates, history
    rest.iloc[:30].drop(columns=["abs_lam_diff", "ered", "gsol"]).to_csv(folder / "redox_candidates.csv", index=False)
    rest.iloc[30:230].drop(columns=["abs_lam_diff"]).to_csv(folder / "redox_history.csv", index=False)
    plate = pd.read_csv(folder / "plate_3496.csv")
    plate.loc[PLATE_MEASURED:, "overpotential"] = None
    plate.to_csv(folder / "plate_3496_pool.csv", index=False)
    perov = pd.read_csv(folder / "perov.csv")  # --model gnn: 20 measured structures, 20 candidates
    perov.loc[20:, "heat_ref"] = None
    perov.to_csv(folder / "perov_pool.csv", index=False)
    assert main(["datasets", "export", "xrd_alli_fe_o", "-o", str(folder / "full_library.csv")]) == 0
    library = pd.read_csv(folder / "full_library.csv")  # patterns as inputs: fractions measured on the first 30
    library.loc[30:, "true_fraction_2"] = None
    library.to_csv(folder / "library_pool.csv", index=False)
    for example in EXAMPLES.glob("*.yaml"):
        (folder / example.name).write_text(example.read_text())


def _results_from_next(folder: Path) -> None:
    """results.csv: the rows of next.csv (from ``campaign suggest``) with their measured gap."""
    measured = pd.read_csv(folder / "full_expt_gap.csv").drop_duplicates("composition").set_index("composition")
    batch = pd.read_csv(folder / "next.csv")
    pd.DataFrame({"composition": batch["composition"],
                  "gap expt": measured.loc[batch["composition"], "gap expt"].to_numpy()}).to_csv(
        folder / "results.csv", index=False)


def _outputs(words: list[str]) -> list[str]:
    out = []
    for flag in ("-o", "--output", "--json", "--plot", "--predictions"):
        for i, w in enumerate(words[:-1]):
            if w == flag:
                out.append(words[i + 1])
    return out


def _needs_rdkit(words: list[str]) -> bool:
    return "molecules" in words or "esol.csv" in words or "logS.model" in words


def _needs_chgnet(words: list[str]) -> bool:
    return "--validate" in words or (words[:2] == ["structures", "relax"] and "emt" not in words)


def _needs_torch(words: list[str]) -> bool:
    return "gnn" in words and "--model" in words


def test_extraction_finds_the_examples():
    """The extraction sees the README table and the help examples (so the main test cannot pass empty)."""
    readme = readme_commands()
    assert any(c.startswith("matloop fit ") for c in readme)
    assert any(c.startswith("matloop design molecules ") for c in readme)
    helps = help_commands()
    assert any("campaign record" in c for c in helps)
    assert any(c.startswith("matloop design compositions") and "steel.model" in c for c in helps)
    assert readme_commands("text `matloop check a.csv --target y` and `python x`\n```bash\nmatloop fit a.csv  # c\n```") \
        == ["matloop check a.csv --target y", "matloop fit a.csv  # c"]


@pytest.mark.slow  # about 100 commands (4-5 min on an idle machine, 7 min beside the other suite)
def test_every_documented_command_runs(tmp_path, monkeypatch, capsys):
    import importlib.util

    has_rdkit = importlib.util.find_spec("rdkit") is not None
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MATLOOP_DB", raising=False)
    _make_workspace(tmp_path)
    monkeypatch.setenv("MATLOOP_CACHE_DIR", str(tmp_path / "cache"))
    servers = contextlib.ExitStack()
    optimade_url = None
    ran, skipped, failures = [], [], []
    for words in all_commands():
        if "--optimade" in words:  # a provider URL: the OPTIMADE reference server on loopback stands in
            if importlib.util.find_spec("optimade") is None:
                skipped.append((words, "the OPTIMADE reference server is not installed"))
                continue
            if optimade_url is None:
                from optimade_server import reference_server

                optimade_url = servers.enter_context(reference_server(tmp_path))
            words = [optimade_url if i and words[i - 1] == "--optimade" else w for i, w in enumerate(words)]
        if words[:2] == ["datasets", "export"] and words[-1] in FILES:
            words = [*words[:-1], f"readme_{words[-1]}"]  # keep the cut workspace copy
        if "--scheduler" in words:
            skipped.append((words, "needs a running Dask scheduler"))
            continue
        if _needs_rdkit(words) and not has_rdkit:
            skipped.append((words, "RDKit is not installed"))
            continue
        if words[0] == "potential" and importlib.util.find_spec("chgnet") is None:
            skipped.append((words, "chgnet is not installed"))
            continue
        if "--correction" in words and importlib.util.find_spec("dscribe") is None:
            skipped.append((words, "dscribe (the soap extra) is not installed"))
            continue
        if _needs_torch(words) and importlib.util.find_spec("torch") is None:
            skipped.append((words, "PyTorch is not installed"))
            continue
        if _needs_chgnet(words) and importlib.util.find_spec("chgnet") is None:
            skipped.append((words, "chgnet is not installed"))
            continue
        if words[:2] == ["campaign", "record"]:
            _results_from_next(tmp_path)
        extra = next((v for k, v in FAST.items() if tuple(words[:len(k)]) == k), [])
        if "--validate" in words:
            extra = [*extra, *FAST_VALIDATE]
        if "--correction" in words:  # CHGNet as it is plus a small SOAP correction, no fine-tuning epoch
            extra = ["--max-structures", "6", "--sparse", "30"]
        if "--time-budget" in _options(words) and "--time-budget" not in extra:
            extra = [*extra, "--time-budget", "3"]  # fit/validate's AutoModel: the first candidate, then stop
        try:
            code = main([*words, *extra])
        except SystemExit as exc:  # --help, or argparse rejecting the command line
            code = exc.code or 0
        out = capsys.readouterr()
        if code != 0:
            failures.append(f"matloop {shlex.join(words)} -> exit {code}\n{out.err[-1500:]}")
            continue
        missing = [p for p in _outputs(words) if not (tmp_path / p).exists()
                   or ((tmp_path / p).is_dir() and not any((tmp_path / p).iterdir()))]
        if missing:
            failures.append(f"matloop {shlex.join(words)}: no output {missing}")
        ran.append(words)
    servers.close()
    assert not failures, "\n\n".join(failures)
    assert len(ran) >= 25 if has_rdkit else len(ran) >= 18
    assert all("molecules" not in w for w, _ in skipped) or not has_rdkit
