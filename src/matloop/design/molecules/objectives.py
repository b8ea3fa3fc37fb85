"""What the molecule generators optimise: target-window likelihoods and GuacaMol-style objectives.

Window likelihood (iQSPR)
-------------------------
With a forward model that predicts a Gaussian ``N(mean, std**2)`` for each property, the probability
that the property of a molecule lies in its target window ``[lo, hi]`` is
``Phi((hi - mean) / std) - Phi((lo - mean) / std)``; the likelihood of "all properties in their
windows" is the product over targets (treated as independent given the molecule). It rewards
molecules predicted inside the window *and* predicted confidently; a far-from-training molecule with a
large std cannot score high by luck of its mean. :func:`log_window_probability` computes the log
stably in both tails (``scipy.special.log_ndtr``), so molecules far outside the window still rank.

GuacaMol objectives (Brown et al. 2019, J. Chem. Inf. Model. 59, 1096)
-----------------------------------------------------------------------
Re-implemented from the paper's definitions with RDKit only (no ChEMBL data needed): Tanimoto
similarity on count Morgan fingerprints (ECFP4 = radius 2, ECFP6 = radius 3, FCFP4 = radius 2 with
feature invariants), the isomer score (geometric mean of Gaussian scores of each element count,
sigma 1, and of the total atom count including hydrogens, sigma 2), the score modifiers and the
geometric mean of several scores. Each objective maps a list of SMILES to scores in [0, 1]; invalid
SMILES score 0. :data:`GUACAMOL_TASKS` lists the tasks with GuacaMol's top-k aggregation and the
Graph GA score published in the paper's Table 2.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
from scipy.special import log_ndtr

from matloop.design.molecules.chem import to_mol
from matloop.represent.molecule_smiles import require_rdkit

__all__ = [
    "log_window_probability",
    "Objective",
    "similarity",
    "isomer",
    "osimertinib_mpo",
    "median_camphor_menthol",
    "qed_logp_window",
    "GUACAMOL_TASKS",
    "guacamol_score",
]

Objective = Callable[[Sequence[str]], np.ndarray]


def log_window_probability(mean: np.ndarray, std: np.ndarray, lo: float | None, hi: float | None) -> np.ndarray:
    """``log P(lo < Y < hi)`` for ``Y ~ N(mean, std**2)``, elementwise; open ends given as None/inf.

    Computed as ``log Phi(b) + log(1 - Phi(a)/Phi(b))`` in the lower tail and mirrored in the upper
    tail, so it stays finite (and ordered) even 30 standard deviations away from the window.
    """
    mean = np.asarray(mean, dtype=float)
    std = np.maximum(np.asarray(std, dtype=float), 1e-12)
    lo = -np.inf if lo is None else float(lo)
    hi = np.inf if hi is None else float(hi)
    if not lo < hi:
        raise ValueError(f"empty window: need lo < hi, got [{lo}, {hi}]")
    a = (lo - mean) / std
    b = (hi - mean) / std
    upper = a > 0  # window above the mean: mirror so that both bounds sit in the lower tail
    a2 = np.where(upper, -b, a)
    b2 = np.where(upper, -a, b)
    log_b, log_a = log_ndtr(b2), log_ndtr(a2)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.where(np.isneginf(log_a), 0.0, np.exp(log_a - log_b))
        out = log_b + np.log1p(-np.minimum(diff, 1.0))
    return np.where(np.isfinite(out), out, -1e6)


# ---------------------------------------------------------------------- score modifiers
def gaussian(x, mu: float, sigma: float):
    """``exp(-(x - mu)^2 / (2 sigma^2))``."""
    return np.exp(-0.5 * ((np.asarray(x, dtype=float) - mu) / sigma) ** 2)


def min_gaussian(x, mu: float, sigma: float):
    """1 for ``x <= mu``, a Gaussian decay above (GuacaMol ``MinGaussianModifier``)."""
    return gaussian(np.maximum(x, mu), mu, sigma)


def max_gaussian(x, mu: float, sigma: float):
    """1 for ``x >= mu``, a Gaussian decay below (GuacaMol ``MaxGaussianModifier``)."""
    return gaussian(np.minimum(x, mu), mu, sigma)


def clipped(x, upper: float, lower: float = 0.0):
    """Linear from 0 at ``lower`` to 1 at ``upper``, clipped (GuacaMol ``ClippedScoreModifier``)."""
    return np.clip((np.asarray(x, dtype=float) - lower) / (upper - lower), 0.0, 1.0)


# ---------------------------------------------------------------------- building blocks
_FINGERPRINTS = {"ECFP4": (2, False), "ECFP6": (3, False), "FCFP4": (2, True), "FCFP6": (3, True)}


def _generator(kind: str):
    from rdkit.Chem import rdFingerprintGenerator as rfg

    if kind not in _FINGERPRINTS:
        raise ValueError(f"unknown fingerprint {kind!r}; known: {', '.join(_FINGERPRINTS)}")
    radius, features = _FINGERPRINTS[kind]
    invariants = rfg.GetMorganFeatureAtomInvGen() if features else None
    return rfg.GetMorganGenerator(radius=radius, atomInvariantsGenerator=invariants)


def _mols(smiles: Sequence[str]) -> list:
    return [to_mol(s) for s in smiles]


def _descriptor_scores(mols: list, fn: Callable) -> np.ndarray:
    return np.array([np.nan if m is None else float(fn(m)) for m in mols])


class _Tanimoto:
    """Tanimoto similarity of count fingerprints to one target molecule."""

    def __init__(self, target: str, fp: str = "ECFP4"):
        from rdkit import DataStructs

        mol = to_mol(target)
        if mol is None:
            raise ValueError(f"target {target!r} is not a valid SMILES")
        self._bulk = DataStructs.BulkTanimotoSimilarity
        self.gen = _generator(fp)
        self.ref = self.gen.GetSparseCountFingerprint(mol)

    def __call__(self, mols: list) -> np.ndarray:
        out = np.full(len(mols), np.nan)
        ok = [i for i, m in enumerate(mols) if m is not None]
        if ok:
            fps = [self.gen.GetSparseCountFingerprint(mols[i]) for i in ok]
            out[ok] = self._bulk(self.ref, fps)
        return out


def _finish(values: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)


def similarity(target: str, fp: str = "ECFP4", threshold: float = 1.0) -> Objective:
    """Similarity to ``target``, clipped linearly to reach 1 at ``threshold`` (GuacaMol similarity and
    rediscovery: threshold 0.7 and 1.0)."""
    tanimoto = _Tanimoto(target, fp)

    def objective(smiles: Sequence[str]) -> np.ndarray:
        return _finish(clipped(tanimoto(_mols(smiles)), threshold))

    return objective


_FORMULA = re.compile(r"([A-Z][a-z]?)(\d*)")


def _atom_counts(mol, elements: list[str]) -> tuple[np.ndarray, int]:
    Chem = require_rdkit()
    full = Chem.AddHs(mol)
    symbols = [a.GetSymbol() for a in full.GetAtoms()]
    return np.array([symbols.count(e) for e in elements]), len(symbols)


def isomer(formula: str) -> Objective:
    """GuacaMol isomer score of ``formula`` (e.g. ``"C11H24"``): geometric mean of a Gaussian score
    (sigma 1) per element count and one (sigma 2) for the total number of atoms, hydrogens included."""
    parts = [(e, int(n) if n else 1) for e, n in _FORMULA.findall(formula)]
    if not parts or "".join(f"{e}{n}" for e, n in _FORMULA.findall(formula)) != formula:
        raise ValueError(f"cannot read molecular formula {formula!r}")
    elements = [e for e, _ in parts]
    target = np.array([n for _, n in parts], dtype=float)

    def objective(smiles: Sequence[str]) -> np.ndarray:
        out = np.zeros(len(smiles))
        for i, mol in enumerate(_mols(smiles)):
            if mol is None:
                continue
            counts, total = _atom_counts(mol, elements)
            scores = np.append(gaussian(counts, target, 1.0), gaussian(total, target.sum(), 2.0))
            out[i] = float(np.exp(np.mean(np.log(np.maximum(scores, 1e-300)))))
        return out

    return objective


def _geometric_mean(columns: list[np.ndarray]) -> np.ndarray:
    stacked = np.nan_to_num(np.vstack(columns), nan=0.0)
    with np.errstate(divide="ignore"):
        return np.exp(np.mean(np.log(stacked), axis=0))


OSIMERTINIB = "COc1cc(N(C)CCN(C)C)c(NC(=O)C=C)cc1Nc2nccc(n2)c3cn(C)c4ccccc34"


def osimertinib_mpo() -> Objective:
    """GuacaMol Osimertinib MPO: geometric mean of FCFP4 similarity (clipped at 0.8), ECFP6 similarity
    not above 0.85 (min-Gaussian, sigma 0.1), TPSA above 100 (max-Gaussian, sigma 10) and logP below
    1 (min-Gaussian, sigma 1)."""
    from rdkit.Chem import Crippen, rdMolDescriptors

    fcfp4, ecfp6 = _Tanimoto(OSIMERTINIB, "FCFP4"), _Tanimoto(OSIMERTINIB, "ECFP6")

    def objective(smiles: Sequence[str]) -> np.ndarray:
        mols = _mols(smiles)
        return _geometric_mean([
            clipped(fcfp4(mols), 0.8),
            min_gaussian(ecfp6(mols), 0.85, 0.1),
            max_gaussian(_descriptor_scores(mols, rdMolDescriptors.CalcTPSA), 100.0, 10.0),
            min_gaussian(_descriptor_scores(mols, Crippen.MolLogP), 1.0, 1.0),
        ])

    return objective


def median_camphor_menthol() -> Objective:
    """GuacaMol Median molecules 1: geometric mean of the ECFP4 similarities to camphor and menthol."""
    camphor, menthol = _Tanimoto("CC1(C)C2CCC1(C)C(=O)C2"), _Tanimoto("CC(C)C1CCC(C)CC1O")

    def objective(smiles: Sequence[str]) -> np.ndarray:
        mols = _mols(smiles)
        return _geometric_mean([camphor(mols), menthol(mols)])

    return objective


def qed_logp_window(lo: float = 2.0, hi: float = 3.0, sigma: float = 0.5) -> Objective:
    """Not a GuacaMol task: QED drug-likeness times a logP window score (1 inside ``[lo, hi]``,
    Gaussian decay with ``sigma`` outside), a two-property objective from RDKit descriptors."""
    from rdkit.Chem import QED, Crippen

    def objective(smiles: Sequence[str]) -> np.ndarray:
        mols = _mols(smiles)
        logp = _descriptor_scores(mols, Crippen.MolLogP)
        window = min_gaussian(max_gaussian(logp, lo, sigma), hi, sigma)
        return _finish(_descriptor_scores(mols, QED.qed) * window)

    return objective


CELECOXIB = "CC1=CC=C(C=C1)C1=CC(=NN1C1=CC=C(C=C1)S(N)(=O)=O)C(F)(F)F"
TROGLITAZONE = "Cc1c(C)c2OC(C)(COc3ccc(CC4SC(=O)NC4=O)cc3)CCc2c(C)c1O"

#: name -> (objective factory, GuacaMol top-k aggregation, published Graph GA score or None)
GUACAMOL_TASKS: dict[str, tuple[Callable[[], Objective], tuple[int, ...], float | None]] = {
    "Celecoxib rediscovery": (lambda: similarity(CELECOXIB, "ECFP4", 1.0), (1,), 1.000),
    "Troglitazone rediscovery": (lambda: similarity(TROGLITAZONE, "ECFP4", 1.0), (1,), 1.000),
    "C11H24": (lambda: isomer("C11H24"), (159,), 0.971),
    "C9H10N2O2PF2Cl": (lambda: isomer("C9H10N2O2PF2Cl"), (250,), 0.982),
    "Median molecules 1": (median_camphor_menthol, (1, 10, 100), 0.406),
    "Osimertinib MPO": (osimertinib_mpo, (1, 10, 100), 0.953),
    "QED x logP in [2, 3] (not GuacaMol)": (qed_logp_window, (1, 10, 100), None),
}


def guacamol_score(scores: Sequence[float], top: Sequence[int]) -> float:
    """GuacaMol's aggregate: the mean over ``k`` in ``top`` of the mean of the ``k`` best scores of
    distinct molecules (missing molecules count 0, as in GuacaMol)."""
    ranked = np.sort(np.asarray(scores, dtype=float))[::-1]
    values = []
    for k in top:
        best = np.zeros(k)
        best[: min(k, len(ranked))] = ranked[:k]
        values.append(best.mean())
    return float(np.mean(values))
