"""Reading SMILES with RDKit: row-level error reports, polymer repeat units, canonical forms.

Every distinct string is parsed once. RDKit's error log is silenced and captured, so that each
bad SMILES becomes one row of a single :class:`matloop.InputError` table (``row, column, value,
reason``) instead of lines scrolling past on stderr. The reason is RDKit's own message, tidied
(atoms are numbered from 1 in the order they are written)::

    CC(C              SMILES parse error: extra open parentheses (near position 3)
    N(C)(C)(C)(C)C    explicit valence of atom 1 N is 5, greater than permitted
    c1cccc1           can't kekulize aromatic atoms 1 2 3 4 5

Surrounding whitespace is stripped (the ESOL file has trailing spaces); whitespace *inside* a
SMILES is an error, because RDKit would silently read ``"CCO ethanol"`` as ``CCO`` and
``"CC O"`` as ethane. Missing and empty values are errors too.

Polymers
--------
Repeat units are written with ``*`` end groups: ``*CC(*)c1ccccc1`` (polystyrene),
``*OCC*`` (poly(ethylene oxide)), ``*c1ccc(*)cc1``. :func:`parse_smiles` keeps the ``*`` as
RDKit dummy atoms (atomic number 0), so :func:`canonical_smiles` tells polymers from small
molecules. For featurization, :func:`cap_end_groups` replaces every ``*`` by a methyl carbon
(a ``=CH2``/``#CH`` when the ``*`` is double/triple bonded). Why methyl, not hydrogen:

- Gasteiger charges, BCUT2D and the partial-charge descriptors are undefined (NaN) on dummy
  atoms, and MACCS keys count a dummy as a hetero atom ``[!#6;!#1]``.
- Hydrogen caps invent functional groups the polymer does not have: ``*OCC*`` becomes ethanol
  (an OH donor that PEO lacks), a polyester's ``*C(=O)O*`` ends become carboxylic acids.
- A carbon cap keeps every backbone atom's degree, hybridisation and H count as in the chain, so
  H-bond donor/acceptor counts, fragment counts and radius-1 Morgan environments are right.

The cost: descriptors describe the methyl-capped unit (``*CC*`` is featurized as butane; MolWt
includes the two CH3 caps, a constant offset for units with two ends). A functional group split
by the cut (nylon-6 written ``*NCCCCCC(=O)*``) is seen as its two halves; write the repeat unit so
the cut falls on a C-C bond (``*CCNC(=O)CCC*``) for the best descriptors. Canonical SMILES do not
identify cyclic shifts of one repeat unit (``*OCC*`` and ``*COC*`` differ).

Each ``*`` must be bonded to exactly one real atom; anything else (a ``*`` inside a ring, a bare
``*``, ``**``) is reported as a bad row.

The validity rule itself (including the size bounds checked before RDKit sees a string, which keep
a 20,000-character SMILES from crashing RDKit) lives in :mod:`matloop.io.smiles`, shared with
``read_table``'s validation, so ``check`` and featurization always agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from matloop.errors import InputError, error_table
from matloop.io.factorize import factorize_exact
from matloop.io.smiles import cap_end_groups, parse_unique, require_rdkit

__all__ = ["parse_smiles", "canonical_smiles", "cap_end_groups", "require_rdkit"]


def kekule_copy(mol):
    """A copy of an RDKit molecule with explicit single/double bonds (aromatic flags cleared), or
    None when RDKit cannot kekulize it. Generators edit and write molecules in this form."""
    Chem = require_rdkit()
    mol = Chem.Mol(mol)
    try:
        Chem.Kekulize(mol, clearAromaticFlags=True)
    except Exception:  # noqa: BLE001 - RDKit raises several types for an unkekulizable ring
        return None
    return mol


def parse_smiles(
    values: Sequence[object] | pd.Series | np.ndarray,
    column: str = "smiles",
    rows: Sequence[int] | np.ndarray | None = None,
    errors: str = "raise",
) -> list | tuple[list, pd.DataFrame]:
    """Parse a column of SMILES into RDKit molecules, reporting every bad row at once.

    Parameters
    ----------
    values : sequence of str
        SMILES strings; surrounding whitespace is stripped. ``None``/NaN/empty are errors.
    column : str
        Column name used in error reports.
    rows : sequence of int, optional
        Row numbers used in error reports (default: 1-based positions).
    errors : {"raise", "collect"}
        ``"raise"`` raises :class:`InputError` with one row per bad SMILES; ``"collect"``
        returns ``(mols, error_table)`` with ``None`` in place of each bad molecule.

    Returns
    -------
    list of rdkit.Chem.Mol
        One molecule per input row, ``*`` end groups kept as dummy atoms. Rows holding the same
        string share one Mol object (each distinct string is parsed once).
    """
    mols, _, codes, table = _parse_column(values, column, rows, errors)
    out = [None if c < 0 else mols[c] for c in codes]
    return (out, table) if errors == "collect" else out


def canonical_smiles(
    values: Sequence[object] | pd.Series | np.ndarray,
    column: str = "smiles",
    rows: Sequence[int] | np.ndarray | None = None,
    errors: str = "raise",
) -> list | tuple[list, pd.DataFrame]:
    """RDKit canonical (isomeric) SMILES of each row, for duplicate detection.

    Two spellings of one molecule (``OCC`` and ``C(O)C``) give the same string; ``*`` end groups
    are kept, so a polymer never collides with its capped small-molecule analogue. Errors are
    handled as in :func:`parse_smiles` (``"collect"`` puts ``None`` for bad rows).
    """
    Chem = require_rdkit()
    mols, _, codes, table = _parse_column(values, column, rows, errors)
    canon = [None if m is None else Chem.MolToSmiles(m) for m in mols]
    out = [None if c < 0 else canon[c] for c in codes]
    return (out, table) if errors == "collect" else out


def _parse_column(values, column: str, rows, errors: str):
    """Parse distinct strings once: ``(mols, capped, codes, table)`` per distinct value.

    ``codes[i]`` is the distinct index of row ``i`` (-1 for a bad row); ``mols``/``capped`` hold
    the molecule as written and the featurization-ready copy (``None`` where bad).
    """
    if errors not in ("raise", "collect"):
        raise ValueError(f"errors must be 'raise' or 'collect', got {errors!r}")
    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise ValueError(f"expected one column of SMILES, got {values.shape[1]} columns")
        values = values.iloc[:, 0]
    if isinstance(values, pd.Series):
        values = values.to_numpy(dtype=object)
    elif isinstance(values, np.ndarray):
        values = values.reshape(-1)
    raw = np.empty(len(values), dtype=object)
    raw[:] = [str(v) if isinstance(v, np.str_) else v for v in values]
    keys = np.array([v.strip() if isinstance(v, str) else v for v in raw], dtype=object)
    codes, uniques = factorize_exact(pd.Series(keys, dtype=object))
    mols, capped, reasons = parse_unique(list(uniques))

    bad_unique = np.array([r is not None for r in reasons] + [True])  # last slot: missing (code -1)
    bad_rows = bad_unique[codes]
    table = error_table()
    if bad_rows.any():
        labels = np.arange(1, len(raw) + 1) if rows is None else np.asarray(rows)
        records = [
            {
                "row": labels[i],
                "column": column,
                "value": raw[i],
                "reason": "missing SMILES" if codes[i] < 0 else reasons[codes[i]],
            }
            for i in np.flatnonzero(bad_rows)
        ]
        table = error_table(records)
        if errors == "raise":
            raise InputError(f"Could not read column '{column}' as SMILES", table)
    codes = np.where(bad_rows, -1, codes)
    return mols, capped, codes, table
