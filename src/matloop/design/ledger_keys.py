"""Ledger keys of process-table campaigns whose parameters include SMILES-valued columns.

A campaign recognises a candidate by its key (:func:`matloop.design.surrogate.parameter_keys`: the
parameter values as JSON). A SMILES column (a fragment, a ligand, a solvent written as a molecule)
can spell one molecule in several ways (``OCC``, ``C(O)C``, ``CCO``); with RDKit, the cells of such
columns are replaced by RDKit's canonical SMILES before keying, so every spelling is one candidate
and a result written with another spelling is recorded against it. Without RDKit the raw text is the
key (and :func:`smiles_key_config` says so in its note): two spellings are then two candidates.

Which columns are SMILES is decided once, when the campaign is created, by the parameter encoder
(:mod:`matloop.design.encode`), and stored in the ledger's configuration as ``smiles_keys``
(``{"columns": [...], "canonical": bool}``). Ledgers written before this have no such entry and keep
the raw-text keys they were created with, so they read and record exactly as before.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["smiles_key_config", "ledger_parameter_keys", "canonical_cells"]


def _rdkit() -> bool:
    import importlib.util

    return importlib.util.find_spec("rdkit") is not None


def smiles_key_config(dataset) -> tuple[dict | None, str | None]:
    """``(config entry, note)`` for a new campaign's parameter table: the SMILES columns its encoder
    found and whether their keys are canonical (RDKit installed); ``(None, None)`` when there are none."""
    if dataset.kind != "parameters":
        return None, None
    from matloop.design.encode import dataset_encoder

    enc = dataset_encoder(dataset)
    cols = [s["column"] for s in enc.specs_ if s["kind"] == "smiles"]
    if not cols:
        return None, None
    canonical = _rdkit()
    note = None if canonical else (f"SMILES column(s) {', '.join(cols)}: ledger keys are the raw text because RDKit "
                                   "is not installed, so two spellings of one molecule are two candidates "
                                   "(pip install 'matloop[molecule]' for canonical keys)")
    return {"columns": cols, "canonical": canonical}, note


def canonical_cells(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """A copy of ``frame`` whose ``columns`` hold RDKit canonical SMILES (a cell RDKit cannot read, or an
    empty one, is kept as written: it still has a key, and the encoder reports it where it matters)."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    out = frame.copy()
    cache: dict[str, str] = {}
    for col in columns:
        if col not in out.columns:
            continue
        cells = out[col].to_numpy(dtype=object)
        new = []
        for v in cells:
            if not isinstance(v, str) or not v.strip():
                new.append(v)
                continue
            text = v.strip()
            if text not in cache:
                mol = Chem.MolFromSmiles(text) if len(text) <= 2000 else None  # the SMILES length bound of io.smiles
                cache[text] = Chem.MolToSmiles(mol) if mol is not None else text
            new.append(cache[text])
        out[col] = pd.Series(new, index=out.index, dtype=object)
    return out


def ledger_parameter_keys(config: dict, frame: pd.DataFrame, columns: list[str] | None = None) -> list[str]:
    """The keys of ``frame``'s rows in a campaign with this configuration: SMILES columns canonical when
    the campaign was created with canonical keys, the raw text otherwise (older ledgers included)."""
    from matloop.design.surrogate import parameter_keys

    cols = list(columns or config["parameter_columns"])
    spec = config.get("smiles_keys") or {}
    if spec.get("canonical") and spec.get("columns"):
        if not _rdkit():
            from matloop.errors import InputError

            raise InputError(f"this campaign keys its SMILES column(s) {', '.join(spec['columns'])} by canonical "
                             "SMILES, which needs RDKit: pip install 'matloop[molecule]'")
        frame = canonical_cells(frame, [c for c in spec["columns"] if c in cols])
    return parameter_keys(frame, cols)
