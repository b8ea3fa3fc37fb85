"""Chemical and element-aware numbers for :class:`matloop.represent.parameter_encoder.ParameterEncoder`.

Two encodings that let a model see *what* a categorical choice is, not only *which* one it is:

- :func:`smiles_descriptors` / :func:`fit_smiles_embedding`: a molecule given as SMILES (a solvent,
  a fragment, a ligand) becomes a handful of numbers - RDKit descriptors (size, polarity, rings,
  H-bonding) and a folded Morgan fingerprint, reduced by PCA over the column's distinct options to at
  most ``n_components`` dimensions. A new molecule at prediction time is projected the same way, so
  the model can say something about a solvent it has never seen.
- :func:`composition_features`: element loadings that sum to 1 (``ni_load, fe_load, ...``) become
  the loading-weighted mean and mean absolute deviation of the 22 Magpie element properties
  (electronegativity, radius, valence electrons, ...). Two campaigns with different element sets
  (plates 3496 and 3851 share Ni, Fe, Co, Mn) then live in one feature space, which is what a
  transferred prior (``--history``) needs.

Everything is plain numpy and JSON-safe lists, so a fitted encoding is saved without pickle.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["DESCRIPTORS", "MAGPIE_PROPERTIES", "column_element", "composition_features", "fit_smiles_embedding",
           "looks_like_smiles", "smiles_descriptors"]

#: RDKit descriptors computed for each SMILES option (cheap, defined for every molecule)
DESCRIPTORS = ("MolWt", "MolLogP", "TPSA", "NumHDonors", "NumHAcceptors", "NumRotatableBonds", "RingCount",
               "NumAromaticRings", "FractionCSP3", "HeavyAtomCount", "NumHeteroatoms", "NumValenceElectrons")
FP_BITS = 512
_SMILES_CHARS = re.compile(r"^[A-Za-z0-9@+\-\[\]()=#$%/\\.:*~]+$")
_SMILES_SYNTAX = re.compile(r"[()=#\[\]@/\\]|(?<![A-Za-z])[cnosp]\d|(?<![A-Za-z])(?:Cl|Br|[BCNOSPFI])\d")
_SMILES_STRONG = re.compile(r"[=#\[\]@/\\]|(?<![A-Za-z])[cnosp]\d")  # not in formulas such as Ca3(PO4)2

# element columns: Ni, ni_load, ni_frac, x_Ni, frac_ni, Ni_at%, Ni (at%), at% Ni, ...
_ELEMENT_NAME = [re.compile(p, re.IGNORECASE) for p in (
    r"^([a-z]{1,2})[ _\-]?(?:load|loading|frac|fraction|x|at|atfrac|at_frac|mol_frac|molfrac|content|amount|pct|"
    r"at%|wt%|%)$",
    r"^(?:x|frac|load|loading|fraction|c)[ _\-]([a-z]{1,2})$",
    r"^([a-z]{1,2})\s*[(\[]\s*(?:at|mol|wt)?\.?\s*(?:%|frac|fraction)\s*[)\]]$",  # Ni (at%), Co [mol %], Fe (frac)
    r"^(?:at|mol|wt)\.?\s*%\s*([a-z]{1,2})$",  # at% Ni
)]


def column_element(name: str) -> str | None:
    """The element a column name stands for (``Ni``, ``ni_load``, ``fe_frac``, ``x_Co`` ...), or ``None``.

    A bare name must be a case-correct symbol (``Ni``, not ``ni`` or ``NI``: ``P`` or ``B`` alone are
    too often other things, and are still accepted only as part of a group, see the encoder)."""
    from matloop.io.elements import ATOMIC_NUMBER

    text = str(name).strip()
    if text in ATOMIC_NUMBER:
        return text
    for pattern in _ELEMENT_NAME:
        m = pattern.match(text)
        if m:
            symbol = m.group(1).capitalize()
            return symbol if symbol in ATOMIC_NUMBER else None
    return None


def looks_like_smiles(values: Sequence[str]) -> float:
    """Share of ``values`` written in SMILES syntax (no RDKit: characters, bonds, rings, brackets).

    Used to recognise a SMILES-valued column where RDKit is missing, so that it is reported as
    molecules (encoded one-hot, with a note) rather than as plain labels."""
    from matloop.io.formula import parse_formulas

    vals = [str(v).strip() for v in values if isinstance(v, str) and v.strip()]
    if not vals:
        return 0.0
    _, errors = parse_formulas(vals, column="x", errors="collect")
    not_formula = np.zeros(len(vals), dtype=bool)
    not_formula[errors["row"].to_numpy(dtype=np.int64) - 1] = True
    ok = np.array([bool(_SMILES_CHARS.match(v)) and bool(_SMILES_SYNTAX.search(v)) for v in vals])
    strong = np.array([bool(_SMILES_STRONG.search(v)) for v in vals])
    return float(np.mean(ok & (not_formula | strong)))


def smiles_descriptors(smiles: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(descriptors n x len(DESCRIPTORS), folded Morgan fingerprints n x FP_BITS, problems) of SMILES.

    ``problems`` lists, per input, ``""`` or why it could not be read (bounds first, then RDKit);
    rows with a problem are NaN. Needs RDKit."""
    from rdkit import Chem, rdBase
    from rdkit.Chem import Descriptors, rdFingerprintGenerator

    from matloop.io.smiles import bounds_problem

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=FP_BITS)
    funcs = dict(Descriptors.descList)
    D = np.full((len(smiles), len(DESCRIPTORS)), np.nan)
    F = np.full((len(smiles), FP_BITS), np.nan)
    problems: list[str] = []
    blocker = rdBase.BlockLogs()  # noqa: F841
    for i, s in enumerate(smiles):
        why = bounds_problem(str(s))
        mol = None if why else Chem.MolFromSmiles(str(s))
        if mol is None:
            problems.append(why or "not a valid SMILES (RDKit cannot read it)")
            continue
        problems.append("")
        D[i] = [float(funcs[name](mol)) for name in DESCRIPTORS]
        F[i] = gen.GetFingerprintAsNumPy(mol).astype(float)
    return D, F, problems


def fit_smiles_embedding(options: Sequence[str], n_components: int = 4) -> dict:
    """A PCA embedding of a column's distinct SMILES options (JSON-safe dict; see :func:`embed_smiles`).

    Descriptors are standardised over the options; the fingerprint block is weighted so that it
    carries as much total variance as the descriptors; the joint matrix is centred and reduced to the
    components that explain 95 % of the variance (at most ``n_components`` and ``len(options) - 1``)."""
    D, F, problems = smiles_descriptors(options)
    bad = [o for o, p in zip(options, problems, strict=True) if p]
    if bad:
        raise ValueError(f"SMILES options that RDKit cannot read: {bad[:5]}")
    d_mean, d_sd = D.mean(axis=0), D.std(axis=0)
    d_sd = np.where(d_sd > 0, d_sd, 1.0)
    Dz = (D - d_mean) / d_sd
    f_var = F.var(axis=0).sum()
    f_weight = float(np.sqrt(max(Dz.var(axis=0).sum(), 1.0) / f_var)) if f_var > 0 else 0.0
    M = np.hstack([Dz, f_weight * F])
    center = M.mean(axis=0)
    _, s, vt = np.linalg.svd(M - center, full_matrices=False)
    var = s**2
    share = np.cumsum(var) / var.sum() if var.sum() > 0 else np.ones_like(var)
    k = int(min(n_components, len(options) - 1, np.searchsorted(share, 0.95) + 1))
    k = max(k, 1)
    return {"descriptors": list(DESCRIPTORS), "fp_bits": FP_BITS, "d_mean": d_mean.tolist(), "d_sd": d_sd.tolist(),
            "fp_weight": f_weight, "center": center.tolist(), "components": vt[:k].tolist(),
            "explained": (var[:k] / var.sum()).tolist() if var.sum() > 0 else [1.0] * k}


def embed_smiles(spec: Mapping, smiles: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Project SMILES with a fitted embedding (:func:`fit_smiles_embedding`): (n x k, problems)."""
    D, F, problems = smiles_descriptors(smiles)
    Dz = (D - np.asarray(spec["d_mean"])) / np.asarray(spec["d_sd"])
    M = np.hstack([Dz, float(spec["fp_weight"]) * F]) - np.asarray(spec["center"])
    return M @ np.asarray(spec["components"]).T, problems


# ---------------------------------------------------------------------------------------- compositions
#: the 22 properties of matminer's ``magpie`` preset (the first 22 columns of the bundled table)
MAGPIE_PROPERTIES = 22


def _element_properties(symbols: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    from matloop.io.elements import ATOMIC_NUMBER
    from matloop.represent.element_data import element_table, impute_mean

    table = element_table("magpie")
    names = [str(c) for c in table.columns[:MAGPIE_PROPERTIES]]
    values = impute_mean(table.iloc[:, :MAGPIE_PROPERTIES])
    return values[[ATOMIC_NUMBER[s] for s in symbols]], names


def composition_features(frame: pd.DataFrame, columns: Sequence[str] | Mapping[str, str],
                         stats: Sequence[str] = ("mean", "dev")) -> pd.DataFrame:
    """Element-aware features of composition-valued columns: the public entry for transfer between plates.

    Parameters
    ----------
    frame : DataFrame
        One row per experiment.
    columns : list of column names, or {column: element symbol}
        Loading columns (``ni_load``, ``Fe``, ``x_Co`` ... ; the element is read from the name, see
        :func:`column_element`). Loadings are normalised to sum to 1 in each row (a row of zeros stays
        zero), so percentages work too.
    stats : "mean" and/or "dev"
        Loading-weighted mean and mean absolute deviation of each of the 22 Magpie element properties.

    Returns
    -------
    DataFrame with columns ``elem_mean_<Property>`` / ``elem_dev_<Property>`` - the same names for any
    element set, so a model trained on one plate (Ni, Fe, Co, Ta, Mn, Cu) can predict another (Ni, Fe,
    Co, Mn, Ce, La). Public entry for ``--history`` (transfer between campaigns, also exported by
    :mod:`matloop.design.encode`); the encoder uses it for ``composition="elements"``/``"both"``.

    Measured (``benchmarks/results/encodings.md``): trained on one whole OER plate, the default
    surrogate ranks the other plate's shared-element compositions equally well with these features
    (Spearman 0.61) and with the raw loadings (0.62); on all the other plate's rows, raw loadings
    (zero-filled over the union of elements) plus these features did best (0.64 against 0.59).
    """
    mapping = dict(columns) if isinstance(columns, Mapping) else {c: column_element(c) for c in columns}
    unknown = [c for c, el in mapping.items() if el is None]
    if unknown:
        raise ValueError(f"columns {unknown} do not name an element (expected e.g. Ni, ni_load, fe_frac, x_Co)")
    cols = list(mapping)
    W = frame[cols].to_numpy(dtype=float)
    total = W.sum(axis=1, keepdims=True)
    W = np.divide(W, total, out=np.zeros_like(W), where=total > 0)
    P, names = _element_properties([mapping[c] for c in cols])
    mean = W @ P
    out = {}
    if "mean" in stats:
        out.update({f"elem_mean_{n}": mean[:, j] for j, n in enumerate(names)})
    if "dev" in stats:
        dev = np.einsum("ie,iej->ij", W, np.abs(P[None, :, :] - mean[:, None, :]))
        out.update({f"elem_dev_{n}": dev[:, j] for j, n in enumerate(names)})
    return pd.DataFrame(out, index=frame.index)
