"""RDKit helpers shared by the molecule generators: validity, canonical forms, fingerprints, metrics.

Generated strings are judged by RDKit alone: a SMILES is *valid* when ``Chem.MolFromSmiles`` parses
and sanitizes it and it is one connected molecule (no ``.``) without dummy atoms. Identity is the
RDKit canonical SMILES, so two spellings of one molecule count once; a molecule is *new* only if it
differs from every training molecule both as written and with stereochemistry removed
(:func:`without_stereo`).

Fingerprint similarities are computed on dense 0/1 matrices with matrix products (intersection
``A @ B.T``, union ``|a| + |b| - intersection``), so nearest-neighbour and diversity figures for
thousands of molecules are a few BLAS calls rather than a Python loop over pairs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from matloop.io.smiles import bounds_problem
from matloop.represent.molecule_smiles import require_rdkit

__all__ = [
    "to_mol",
    "canonical_or_none",
    "without_stereo",
    "heavy_atom_counts",
    "largest_ring",
    "rings_ok",
    "fingerprint_matrix",
    "tanimoto_matrix",
    "nearest_similarity",
    "internal_diversity",
    "generation_metrics",
]


def to_mol(smiles: object):
    """The sanitized RDKit molecule of ``smiles``, or ``None`` if it is not a valid single molecule."""
    if not isinstance(smiles, str) or not smiles or "." in smiles or "*" in smiles:
        return None
    if bounds_problem(smiles) is not None:  # too large to hand to RDKit safely
        return None
    Chem = require_rdkit()
    from rdkit import rdBase

    with rdBase.BlockLogs():
        try:
            return Chem.MolFromSmiles(smiles)
        except Exception:  # RDKit raises on a few pathological inputs instead of returning None
            return None


def canonical_or_none(smiles: object) -> str | None:
    """RDKit canonical SMILES of a valid single molecule, else ``None``."""
    mol = to_mol(smiles)
    if mol is None:
        return None
    Chem = require_rdkit()
    return Chem.MolToSmiles(mol)


def without_stereo(smiles: str) -> str | None:
    """Canonical SMILES with stereochemistry removed (``C[C@H](O)CC`` -> ``CC(O)CC``), or ``None``.

    Used to decide whether a generated molecule is *new*: adding or changing a stereo tag on a
    training molecule does not make a new molecule for these 2D featurizers and models.
    """
    mol = to_mol(smiles)
    if mol is None:
        return None
    Chem = require_rdkit()
    Chem.RemoveStereochemistry(mol)
    return Chem.MolToSmiles(mol)


def heavy_atom_counts(smiles: Sequence[str]) -> np.ndarray:
    """Heavy-atom count of each SMILES (0 for invalid strings)."""
    out = np.zeros(len(smiles), dtype=int)
    for i, s in enumerate(smiles):
        mol = to_mol(s)
        out[i] = 0 if mol is None else mol.GetNumHeavyAtoms()
    return out


_RING_PATTERNS: dict[str, object] = {}


def _pattern(smarts: str):
    if smarts not in _RING_PATTERNS:
        _RING_PATTERNS[smarts] = require_rdkit().MolFromSmarts(smarts)
    return _RING_PATTERNS[smarts]


def largest_ring(mol) -> int:
    """Atoms in the largest ring of the smallest set of smallest rings (0 without rings)."""
    return max((len(r) for r in mol.GetRingInfo().AtomRings()), default=0)


def rings_ok(mol, max_ring: int = 6) -> bool:
    """Jensen's (2019) ring sanity: no ring above ``max_ring`` atoms, no double bond inside a 3- or
    4-membered ring, no allene in a ring. Needs a sanitized molecule."""
    if mol.GetRingInfo().NumRings() == 0:
        return True
    if mol.HasSubstructMatch(_pattern("[R]=[R]=[R]")) or mol.HasSubstructMatch(_pattern("[r3,r4]=[r3,r4]")):
        return False
    return largest_ring(mol) <= max_ring


def fingerprint_matrix(smiles_or_mols: Iterable, radius: int = 2, n_bits: int = 2048) -> np.ndarray:
    """Morgan bit fingerprints (radius 2 ~ ECFP4) as a dense ``(n, n_bits)`` uint8 matrix.

    Invalid entries give an all-zero row (similarity 0 to everything).
    """
    require_rdkit()
    from rdkit.Chem import rdFingerprintGenerator

    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    items = list(smiles_or_mols)
    out = np.zeros((len(items), n_bits), dtype=np.uint8)
    for i, item in enumerate(items):
        mol = to_mol(item) if isinstance(item, str) or item is None else item
        if mol is not None:
            out[i] = generator.GetFingerprintAsNumPy(mol)
    return out


def tanimoto_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Tanimoto similarity of every row of ``a`` with every row of ``b`` (0/1 matrices)."""
    af = np.asarray(a, dtype=np.float32)
    bf = np.asarray(b, dtype=np.float32)
    inter = af @ bf.T
    union = af.sum(axis=1)[:, None] + bf.sum(axis=1)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = np.where(union > 0, inter / np.maximum(union, 1.0), 0.0)
    return sim.astype(float)


def nearest_similarity(query: np.ndarray, reference: np.ndarray, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """(highest Tanimoto similarity, index of that reference row) for each query fingerprint."""
    best = np.zeros(len(query))
    where = np.zeros(len(query), dtype=int)
    if len(reference) == 0:
        return best, where
    for start in range(0, len(query), chunk):
        sim = tanimoto_matrix(query[start:start + chunk], reference)
        where[start:start + chunk] = sim.argmax(axis=1)
        best[start:start + chunk] = sim.max(axis=1)
    return best, where


def internal_diversity(fingerprints: np.ndarray) -> float:
    """Mean pairwise Tanimoto distance (1 - similarity) over distinct pairs; NaN for fewer than 2."""
    n = len(fingerprints)
    if n < 2:
        return float("nan")
    sim = tanimoto_matrix(fingerprints, fingerprints)
    upper = sim[np.triu_indices(n, k=1)]
    return float(np.mean(1.0 - upper))


def generation_metrics(generated: Sequence[object], training: Iterable[str]) -> dict[str, float]:
    """Validity, uniqueness, novelty and diversity of a list of generated SMILES.

    ``validity`` = valid / generated; ``uniqueness`` = distinct valid (canonical) / valid;
    ``novelty`` = distinct valid not in ``training`` (canonical, with and without stereo tags) /
    distinct valid; ``diversity`` =
    mean pairwise Tanimoto distance (Morgan radius 2, 2048 bits) of the distinct valid molecules.
    """
    canon = [canonical_or_none(s) for s in generated]
    valid = [c for c in canon if c is not None]
    unique = list(dict.fromkeys(valid))
    train = {c for c in (canonical_or_none(s) for s in training) if c is not None}
    train |= {without_stereo(c) for c in train}
    novel = [c for c in unique if c not in train and without_stereo(c) not in train]
    n = max(len(generated), 1)
    return {
        "n_generated": len(generated),
        "validity": len(valid) / n,
        "uniqueness": len(unique) / max(len(valid), 1),
        "novelty": len(novel) / max(len(unique), 1),
        "diversity": internal_diversity(fingerprint_matrix(unique)),
    }
