"""Featurizers for molecules and polymer repeat units given as SMILES (RDKit).

- :class:`MorganCounts`: Morgan (ECFP-like) count fingerprints, folded to ``n_bits`` columns.
- :class:`RDKitDescriptors`: RDKit's 2D descriptors (``Descriptors._descList``).
- :class:`MACCSKeys`: the 167 MACCS structural keys.
- :func:`default_molecule_featurizer`: Morgan counts + RDKit descriptors, parsing once.

All are scikit-learn transformers: a list, array, Series or one-column DataFrame of SMILES in,
a DataFrame with one row per input out (the input's index kept). Each distinct SMILES is parsed and
featurized once, then rows are filled by indexing. Invalid SMILES raise one
:class:`matloop.InputError` listing every bad row (see :mod:`matloop.represent.molecule_smiles`,
which also explains how polymer ``*`` end groups are capped before featurization). A list of RDKit
molecules is accepted too. The shared machinery (base class, union, input coercion) is in
:mod:`matloop.represent.molecule_base`; import everything from this module.

Missing descriptor values
-------------------------
Some RDKit descriptors are undefined for some molecules: Gasteiger partial charges (and the BCUT2D
and partial-charge descriptors built on them) have no parameters for elements such as Sn or Se;
BCUT2D needs bonds. These stay **NaN**, never a made-up 0, and ``transform`` emits one
:class:`UndefinedDescriptorWarning` naming the descriptors and rows. Infinite values become NaN too.
Every column is kept, so names do not depend on the data; matloop's model layer imputes NaN with the
training medians. ``Ipc`` (the Bonchev-Trinajstic information content) grows exponentially with size
(1e12 for a 30-atom molecule, overflowing for large ones), so by default it is emitted as
``Ipc_log1p`` = ln(1 + Ipc); pass ``log_ipc=False`` for RDKit's raw value.

RDKit computes descriptors one molecule and one descriptor at a time in Python: about 200
molecules/s on one core. Fingerprints run at tens of thousands per second.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from matloop.represent.molecule_base import (
    RDKIT,
    MoleculeFeatureUnion,
    MoleculeFeaturizer,
    UndefinedDescriptorWarning,
    _check_int,
    _warn_undefined,
)
from matloop.represent.molecule_smiles import (
    canonical_smiles,
    cap_end_groups,
    parse_smiles,
    require_rdkit,
)

__all__ = [
    "MoleculeFeaturizer",
    "MorganCounts",
    "RDKitDescriptors",
    "MACCSKeys",
    "MoleculeFeatureUnion",
    "default_molecule_featurizer",
    "UndefinedDescriptorWarning",
    "parse_smiles",
    "canonical_smiles",
    "cap_end_groups",
]

ECFP = (
    "D. Rogers, M. Hahn, Extended-Connectivity Fingerprints, J. Chem. Inf. Model. 50, 742-754 (2010), "
    "doi:10.1021/ci100160j"
)
MACCS = (
    "J. L. Durant, B. A. Leland, D. R. Henry, J. G. Nourse, Reoptimization of MDL Keys for Use in Drug "
    "Discovery, J. Chem. Inf. Comput. Sci. 42, 1273-1280 (2002), doi:10.1021/ci010132r"
)
CRIPPEN = (
    "S. A. Wildman, G. M. Crippen, Prediction of Physicochemical Parameters by Atomic Contributions, "
    "J. Chem. Inf. Comput. Sci. 39, 868-873 (1999), doi:10.1021/ci990307l"
)
TPSA = (
    "P. Ertl, B. Rohde, P. Selzer, Fast Calculation of Molecular Polar Surface Area, J. Med. Chem. 43, "
    "3714-3717 (2000), doi:10.1021/jm000942e"
)
QED = (
    "G. R. Bickerton et al., Quantifying the chemical beauty of drugs, Nat. Chem. 4, 90-98 (2012), "
    "doi:10.1038/nchem.1243"
)

_LABELS = {
    "MolWt": "molecular weight (g/mol)",
    "HeavyAtomMolWt": "heavy-atom molecular weight (g/mol)",
    "ExactMolWt": "monoisotopic mass (g/mol)",
    "MolLogP": "Wildman-Crippen logP",
    "MolMR": "Wildman-Crippen molar refractivity",
    "TPSA": "topological polar surface area (A^2)",
    "LabuteASA": "Labute approximate surface area (A^2)",
    "NumHDonors": "H-bond donors",
    "NumHAcceptors": "H-bond acceptors",
    "NumRotatableBonds": "rotatable bonds",
    "HeavyAtomCount": "heavy atoms",
    "RingCount": "rings",
    "NumAromaticRings": "aromatic rings",
    "FractionCSP3": "fraction of sp3 carbons",
    "NumValenceElectrons": "valence electrons",
    "qed": "QED drug-likeness",
    "Ipc_log1p": "ln(1 + Ipc information content)",
}

class MorganCounts(MoleculeFeaturizer):
    """Morgan count fingerprint: how often each circular atom environment occurs, folded to bits.

    Parameters
    ----------
    radius : int
        Environment radius in bonds (2 ~ ECFP4).
    n_bits : int
        Number of columns the environments are hashed (folded) into.
    use_chirality : bool
        Include CIP chirality in atom invariants.
    use_features : bool
        Pharmacophoric feature invariants (donor, acceptor, aromatic, ...: FCFP-like) instead of
        element-based ones.

    Columns are ``morgan_r2_0000`` ... (``morgan_feat_``/``_chiral`` mark the variants).
    """

    CITATIONS = (ECFP, RDKIT)

    def __init__(self, radius: int = 2, n_bits: int = 2048, use_chirality: bool = False,
                 use_features: bool = False):
        self.radius = radius
        self.n_bits = n_bits
        self.use_chirality = use_chirality
        self.use_features = use_features

    def _feature_names(self) -> list[str]:
        _check_int("radius", self.radius, 0)
        _check_int("n_bits", self.n_bits, 1)
        prefix = "morgan" + ("_feat" if self.use_features else "") + ("_chiral" if self.use_chirality else "")
        width = max(4, len(str(self.n_bits - 1)))
        return [f"{prefix}_r{self.radius}_{i:0{width}d}" for i in range(self.n_bits)]

    def feature_labels(self) -> list[str]:
        kind = "feature Morgan" if self.use_features else "Morgan"
        return [f"{kind} count, radius {self.radius}, bit {i}" for i in range(self.n_bits)]

    def _featurize_mols(self, mols: list) -> np.ndarray:
        self._feature_names()
        require_rdkit()
        from rdkit.Chem import rdFingerprintGenerator as rfg

        invariants = rfg.GetMorganFeatureAtomInvGen() if self.use_features else None
        generator = rfg.GetMorganGenerator(radius=int(self.radius), fpSize=int(self.n_bits),
                                           includeChirality=bool(self.use_chirality),
                                           atomInvariantsGenerator=invariants)
        out = np.empty((len(mols), int(self.n_bits)))
        for i, mol in enumerate(mols):
            out[i] = generator.GetCountFingerprintAsNumPy(mol)
        return out


class RDKitDescriptors(MoleculeFeaturizer):
    """RDKit 2D descriptors (molecular weight, logP, TPSA, counts, topological indices, ...).

    Parameters
    ----------
    names : sequence of str, optional
        RDKit descriptor names (as in ``rdkit.Chem.Descriptors._descList``); default all of them
        (217 in RDKit 2025/2026; the set follows the installed RDKit version).
    log_ipc : bool
        Emit ``Ipc`` as ``Ipc_log1p`` = ln(1 + Ipc) (default), because raw Ipc spans 0 to >1e12.

    Undefined values are NaN and reported by an :class:`UndefinedDescriptorWarning` (see the
    module docstring for the policy).
    """

    CITATIONS = (RDKIT, CRIPPEN, TPSA, QED)

    def __init__(self, names: Sequence[str] | None = None, log_ipc: bool = True):
        self.names = names
        self.log_ipc = log_ipc

    def _rdkit_names(self) -> list[str]:
        require_rdkit()
        from rdkit.Chem import Descriptors

        known = [name for name, _ in Descriptors._descList]
        if self.names is None:
            return known
        names = [self.names] if isinstance(self.names, str) else list(self.names)
        unknown = [n for n in names if n not in set(known)]
        if unknown:
            import difflib

            hints = {n: difflib.get_close_matches(n, known, n=3) for n in unknown}
            raise ValueError(f"unknown RDKit descriptors {unknown}; close matches: {hints}")
        if len(set(names)) != len(names):
            raise ValueError(f"descriptor names repeat: {names}")
        return names

    def _feature_names(self) -> list[str]:
        return ["Ipc_log1p" if n == "Ipc" and self.log_ipc else n for n in self._rdkit_names()]

    def feature_labels(self) -> list[str]:
        from rdkit.Chem import Descriptors

        funcs = dict(Descriptors._descList)
        labels = []
        for name, rd_name in zip(self._feature_names(), self._rdkit_names(), strict=True):
            doc = (funcs[rd_name].__doc__ or "").strip().splitlines()
            if name in _LABELS:
                labels.append(_LABELS[name])
            elif (name.startswith("fr_") or "VSA" in name) and doc:
                labels.append(f"{name}: {doc[0].rstrip('.')}")
            else:
                labels.append(name)
        return labels

    def _featurize_mols(self, mols: list) -> np.ndarray:
        from rdkit import rdBase
        from rdkit.Chem import Descriptors

        names = self._rdkit_names()
        funcs = dict(Descriptors._descList)
        calls = [funcs[n] for n in names]
        out = np.empty((len(mols), len(calls)))
        with rdBase.BlockLogs(), np.errstate(all="ignore"):
            for i, mol in enumerate(mols):
                out[i] = [_safe_call(fn, mol) for fn in calls]
        if self.log_ipc and "Ipc" in names:
            col = names.index("Ipc")
            with np.errstate(all="ignore"):
                out[:, col] = np.log1p(out[:, col])
        out[~np.isfinite(out)] = np.nan
        return out

    def _report_undefined(self, frame: pd.DataFrame, rows: np.ndarray) -> None:
        _warn_undefined(frame, rows)


class MACCSKeys(MoleculeFeaturizer):
    """The 166 public MACCS keys as 0/1 columns ``maccs_000`` ... ``maccs_166``.

    Column 0 is always 0 (RDKit keeps MDL's 1-based key numbers); key 1 (isotope) is undefined and
    always 0 too, but both are kept so that column ``maccs_k`` is MACCS key ``k``.
    """

    CITATIONS = (MACCS, RDKIT)

    def _feature_names(self) -> list[str]:
        return [f"maccs_{i:03d}" for i in range(167)]

    def feature_labels(self) -> list[str]:
        require_rdkit()
        from rdkit.Chem import MACCSkeys

        special = {0: "unused", 1: "isotope (undefined)", 125: "more than one aromatic ring",
                   166: "more than one fragment"}
        labels = []
        for i in range(167):
            smarts, count = MACCSkeys.smartsPatts.get(i, ("?", 0))
            text = special.get(i, smarts + (f" (more than {count})" if count else ""))
            labels.append(f"MACCS {i}: {text}")
        return labels

    def _featurize_mols(self, mols: list) -> np.ndarray:
        require_rdkit()
        from rdkit.Chem import MACCSkeys

        bits = "".join(MACCSkeys.GenMACCSKeys(mol).ToBitString() for mol in mols)
        codes = np.frombuffer(bits.encode("ascii"), dtype=np.uint8)
        return (codes - ord("0")).reshape(len(mols), 167).astype(float)

def default_molecule_featurizer(radius: int = 2, n_bits: int = 1024) -> MoleculeFeatureUnion:
    """Morgan counts (radius 2, 1024 bits) + all RDKit 2D descriptors: matloop's molecule default.

    1024 bits rather than 2048: with 30-5,000 training molecules the extra, mostly empty columns
    add noise, not information.
    """
    return MoleculeFeatureUnion([MorganCounts(radius=radius, n_bits=n_bits), RDKitDescriptors()])

def _safe_call(fn, mol) -> float:
    """One RDKit descriptor value; NaN where RDKit raises (undefined for this molecule)."""
    try:
        return float(fn(mol))
    except Exception:
        return np.nan
