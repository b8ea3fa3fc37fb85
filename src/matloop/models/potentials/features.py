"""Pre-trained universal-potential features: :class:`UniversalPotentialFeatures` (CHGNet).

CHGNet (Deng et al. 2023) is a graph network trained on 1.58 million DFT energies, forces,
stresses and magnetic moments of the Materials Project trajectory set (MPtrj). Its last hidden
layer, pooled over the atoms of a crystal (the 64-number "crystal feature" its energy head reads),
encodes what it learnt about bonding in that structure; fed to a small-data model, it transfers
that knowledge to the user's property, as the shotgun-transfer descriptors of
:mod:`matloop.models.transfer_features` do for compositions. Beside the embedding the network
gives, per structure and almost free, its energy per atom and site magnetic moments, and, from
two more energy evaluations at +-3 % volume, a bulk-modulus estimate from the curvature of E(V)
(the quantity elastic-property targets need and the embedding of one cell cannot show).

The network comes from the ``chgnet`` wheel (its weights ship inside it: offline); it is imported
on first use, so this module costs nothing where PyTorch is absent. Rows are computed in batches
and cached on disk by structure content in the shared feature cache
(:class:`matloop.represent.feature_cache.FeatureCache`, keyed by each structure's canonical JSON): a
second run on the same table, or on the same structures in another order or table, does not run the
network again. In the models layer, like the transfer features,
because ``matloop.represent`` may not import models; the featurizer registry names it
``chgnet`` (loaded lazily by name).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from matloop.errors import InputError, MatloopError, error_table
from matloop.represent.api import FeaturizerAPI

CITATION = ("Deng, B. et al. CHGNet as a pretrained universal neural network potential for charge-informed "
            "atomistic modelling. Nat. Mach. Intell. 5, 1031-1041 (2023). doi:10.1038/s42256-023-00716-3")
MPTRJ = ("Materials Project trajectory (MPtrj) data: Jain, A. et al. The Materials Project. APL Mater. 1, "
         "011002 (2013). doi:10.1063/1.4812323")
GROUPS = ("embedding", "energy", "magmom", "eos", "forces")
DEFAULT_GROUPS = ("embedding", "energy", "magmom", "eos")
EMBEDDING_SIZE = 64
EOS_STRAIN = 0.03  # volume strain of the two extra energy evaluations
EV_PER_A3_IN_GPA = 160.21766208
#: bumped whenever a group's columns or their computation change: part of the cache token
FEATURES_VERSION = 2


@lru_cache(maxsize=2)
def load_chgnet(model_name: str = "0.3.0", device: str = "cpu"):
    """The pre-trained CHGNet shipped in the ``chgnet`` wheel (loaded once per process).

    Only the wheel's own checkpoint is read (CHGNet's loader calls ``torch.load`` on it); no user
    file is ever unpickled here.
    """
    try:
        from chgnet.model import CHGNet
    except ImportError as err:
        raise MatloopError('the chgnet featurizer needs CHGNet and PyTorch: pip install "matloop[chgnet]"') from err
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # CHGNet prints its parameter count
        model = CHGNet.load(model_name=model_name, use_device=device, verbose=False)
    return model.eval()


def chgnet_available() -> bool:
    """True when ``chgnet`` and ``torch`` can be imported (without importing them)."""
    from importlib.util import find_spec

    return find_spec("chgnet") is not None and find_spec("torch") is not None


def _names(groups: Sequence[str]) -> list[str]:
    out: list[str] = []
    for g in groups:
        out += {"embedding": [f"chgnet_emb_{j:02d}" for j in range(EMBEDDING_SIZE)],
                "energy": ["chgnet_energy_per_atom", "chgnet_energy_above_atomref"],
                "magmom": ["chgnet_magmom_mean", "chgnet_magmom_max", "chgnet_magmom_std"],
                "eos": ["chgnet_bulk_modulus", "chgnet_pressure"],
                "forces": ["chgnet_force_mean", "chgnet_force_max", "chgnet_stress_von_mises"]}[g]
    return out


_LABELS = {
    "chgnet_energy_per_atom": "CHGNet energy per atom (eV/atom, MPtrj-compatible total energy)",
    "chgnet_energy_above_atomref": "CHGNet energy per atom above its linear elemental references (eV/atom, "
                                   "formation-energy-like)",
    "chgnet_magmom_mean": "CHGNet mean site magnetic moment (Bohr magnetons)",
    "chgnet_magmom_max": "CHGNet largest site magnetic moment (Bohr magnetons)",
    "chgnet_magmom_std": "CHGNet spread of site magnetic moments (Bohr magnetons)",
    "chgnet_bulk_modulus": "CHGNet bulk modulus from E(V) curvature at the given volume (GPa)",
    "chgnet_pressure": "CHGNet pressure -dE/dV at the given volume (GPa)",
    "chgnet_force_mean": "CHGNet mean force on an atom (eV/A)",
    "chgnet_force_max": "CHGNet largest force on an atom (eV/A)",
    "chgnet_stress_von_mises": "CHGNet von Mises stress of the cell (GPa)",
}


class UniversalPotentialFeatures(FeaturizerAPI, TransformerMixin, BaseEstimator):
    """Per-structure descriptors from the pre-trained CHGNet universal potential.

    Parameters
    ----------
    groups : sequence of str, optional
        Any of ``embedding`` (the 64-number pooled crystal feature, ``chgnet_emb_00..63``),
        ``energy`` (predicted energy per atom, and the same above CHGNet's linear elemental
        references: a formation-energy-like number), ``magmom`` (mean, max and std of the predicted site
        magnetic moments), ``eos`` (bulk modulus and pressure from energies at +-3 % volume: two
        more energy passes) and ``forces`` (mean and largest force, von Mises stress: needs
        gradients, about 15x the cost of an energy pass). Default: all but ``forces``.
    batch_size : int
        Structures per network call.
    cache : bool or path
        ``True``: cache rows in the feature cache (``$MATLOOP_CACHE_DIR``, default the user cache
        dir; ``MATLOOP_CACHE_DIR=off`` disables it); a path: a cache root there; ``False``: never
        read or write a cache.
    n_threads : int, optional
        PyTorch threads while featurizing (default: PyTorch's own setting).
    model_name : str
        Which of the wheel's checkpoints: ``"0.3.0"`` (default) or ``"r2scan"``.
    base_dir : path, optional
        Folder that relative structure paths are resolved against.

    Stateless like the other featurizers: ``fit`` only fixes the column names. Structures the
    network cannot take (partial occupancies, an atom with no neighbour within 6 A, elements
    beyond Pu) are reported together in one :class:`matloop.InputError`.
    """

    CITATIONS = (CITATION, MPTRJ)
    #: rows are cached here by structure content (:meth:`transform_structures`), so
    #: :class:`~matloop.models.pipeline.MaterialModel` need not cache them a second time by input text
    feature_cache = False

    def __init__(self, groups: Sequence[str] | None = None, batch_size: int = 64, cache: bool | str | os.PathLike = True,
                 n_threads: int | None = None, model_name: str = "0.3.0", base_dir: str | os.PathLike | None = None):
        self.groups = groups
        self.batch_size = batch_size
        self.cache = cache
        self.n_threads = n_threads
        self.model_name = model_name
        self.base_dir = base_dir

    def _groups(self) -> tuple[str, ...]:
        groups = tuple(DEFAULT_GROUPS if self.groups is None else
                       ([self.groups] if isinstance(self.groups, str) else self.groups))
        unknown = [g for g in groups if g not in GROUPS]
        if unknown or not groups or len(set(groups)) != len(groups):
            raise ValueError(f"groups must be distinct names among {GROUPS}, got {list(groups)}")
        return tuple(g for g in GROUPS if g in groups)  # canonical order

    def _feature_names(self) -> list[str]:
        return _names(self._groups())

    def fit(self, X=None, y=None) -> UniversalPotentialFeatures:
        """Fix the column names; ``X`` and ``y`` are ignored."""
        self.feature_names_out_ = self._feature_names()
        self.n_features_in_ = 1
        return self

    def feature_labels(self) -> list[str]:
        """Readable labels (``CHGNet embedding unit 3``, ``CHGNet bulk modulus ... (GPa)``)."""
        return [_LABELS.get(n, f"CHGNet embedding unit {n.rsplit('_', 1)[-1]}") for n in self._feature_names()]

    def transform(self, X) -> pd.DataFrame:
        """Descriptors of structures (paths, file text, pymatgen Structures or dicts), one row each."""
        from matloop.represent.structure_features import as_structures

        structures, index = as_structures(X, self.base_dir)
        values = self.transform_structures(structures, rows=_rows(X, len(structures)))
        return pd.DataFrame(values, columns=self._feature_names(), index=index, copy=False)

    def transform_structures(self, structures: Sequence, rows: Sequence[int] | None = None) -> np.ndarray:
        """Descriptor array of pymatgen structures (cached rows read back, the rest computed in batches)."""
        from matloop import progress

        groups = self._groups()
        names = _names(groups)
        rows = list(rows) if rows is not None else list(range(1, len(structures) + 1))
        _check_structures(structures, rows)
        cache = self._cache()
        values = np.full((len(structures), len(names)), np.nan)
        found = np.zeros(len(structures), dtype=bool)
        keys: list = []
        if cache is not None:
            from matloop.represent.feature_cache import content_keys

            keys = content_keys(structures)
            stored = cache.lookup(keys) if cache.columns() in (None, names) else {}
            for i, key in enumerate(keys):
                if key in stored:
                    values[i], found[i] = stored[key], True
        todo = np.flatnonzero(~found)
        if len(todo):
            model = load_chgnet(self.model_name)
            size = max(1, int(self.batch_size))
            batches = [todo[i:i + size] for i in range(0, len(todo), size)]
            with _threads(self.n_threads):
                for batch in progress.steps(batches, "CHGNet batch") if len(batches) > 1 else batches:
                    values[batch] = _compute(model, [structures[i] for i in batch], [rows[i] for i in batch], groups)
                    if cache is not None and all(keys[i] is not None for i in batch):
                        cache.store([keys[i] for i in batch], values[batch], names,
                                    {"featurizer": "chgnet", "tag": self.cache_token()})
        return values

    def cache_token(self) -> str:
        """What the rows depend on: CHGNet's version and checkpoint, the groups, the EOS strain."""
        return (f"chgnet|v{FEATURES_VERSION}|{_chgnet_version()}|{self.model_name}|{','.join(self._groups())}|"
                f"{EOS_STRAIN}")

    def _cache(self):
        if self.cache is False or self.cache is None:
            return None
        import hashlib

        from matloop.represent.feature_cache import FeatureCache, cache_root

        root = cache_root(None if self.cache is True else self.cache)
        token = "chgnet-" + hashlib.sha256(self.cache_token().encode()).hexdigest()[:24]
        return None if root is None else FeatureCache(root, token)

    def citations(self) -> list[str]:
        """CHGNet and its training data."""
        return list(self.CITATIONS)

    def get_feature_names_out(self, input_features: Iterable[str] | None = None) -> np.ndarray:
        """``chgnet_emb_00..63`` then the scalar features of the chosen groups."""
        return np.asarray(self._feature_names(), dtype=object)


def _rows(X, n: int) -> list[int]:
    from matloop.io.rows import source_rows

    return [int(r) for r in source_rows(X, n)] if isinstance(X, (pd.Series, pd.DataFrame)) else list(range(1, n + 1))


def _chgnet_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chgnet")
    except PackageNotFoundError:
        return "absent"


class _threads:
    """Set PyTorch's thread count for a block (when asked), then restore it."""

    def __init__(self, n: int | None):
        self.n = n

    def __enter__(self):
        if self.n:
            import torch

            self.before = torch.get_num_threads()
            torch.set_num_threads(int(self.n))

    def __exit__(self, *exc):
        if self.n:
            import torch

            torch.set_num_threads(self.before)


def _check_structures(structures: Sequence, rows: Sequence[int]) -> None:
    """Refuse, all at once, structures CHGNet cannot take (partial occupancy, elements beyond Pu)."""
    records = []
    for row, s in zip(rows, structures, strict=True):
        if not s.is_ordered:
            records.append({"row": row, "column": "structure", "value": s.composition.reduced_formula,
                            "reason": "partial occupancies: CHGNet needs one element per site"})
        elif max(site.specie.Z for site in s) > 94:
            records.append({"row": row, "column": "structure", "value": s.composition.reduced_formula,
                            "reason": "CHGNet knows elements up to Pu (Z = 94)"})
    if records:
        raise InputError(f"CHGNet cannot featurize {len(records)} of {len(structures)} structures", error_table(records))


def _graphs(model, structures: Sequence, rows: Sequence[int]) -> list:
    graphs, records = [], []
    for row, s in zip(rows, structures, strict=True):
        try:
            graphs.append(model.graph_converter(s))
        except (ValueError, RuntimeError) as err:
            records.append({"row": row, "column": "structure", "value": s.composition.reduced_formula,
                            "reason": f"CHGNet cannot build its graph: {str(err).splitlines()[0][:160]}"})
    if records:
        raise InputError(f"CHGNet cannot featurize {len(records)} of {len(structures)} structures", error_table(records))
    return graphs


def _as_list(pred) -> list:
    return pred if isinstance(pred, list) else [pred]


def _compute(model, structures: Sequence, rows: Sequence[int], groups: tuple[str, ...]) -> np.ndarray:
    """One batch: one network pass (two more for ``eos``), features in :func:`_names` order."""
    import torch

    graphs = _graphs(model, structures, rows)
    need_m = "magmom" in groups
    task = "efsm" if "forces" in groups else ("em" if need_m else "e")
    n = len(structures)
    if task == "efsm":
        main = _as_list(model.predict_graph(graphs, task=task, return_crystal_feas=True, batch_size=n))
    else:
        with torch.no_grad():
            main = _as_list(model.predict_graph(graphs, task=task, return_crystal_feas=True, batch_size=n))
    cols: list[np.ndarray] = []
    energy = np.array([float(p["e"]) for p in main])
    for g in groups:
        if g == "embedding":
            cols.append(np.stack([np.asarray(p["crystal_fea"], dtype=float) for p in main]))
        elif g == "energy":
            with torch.no_grad():  # CHGNet's own linear elemental-reference model (AtomRef), eV/atom
                ref = model.composition_model(graphs).detach().cpu().numpy().reshape(-1)
            cols.append(np.column_stack([energy, energy - ref]))
        elif g == "magmom":
            mags = [np.abs(np.asarray(p["m"], dtype=float).ravel()) for p in main]
            cols.append(np.array([[m.mean(), m.max(), m.std()] for m in mags]))
        elif g == "eos":
            cols.append(_eos(model, structures, rows, energy))
        elif g == "forces":
            out = []
            for p in main:
                norms = np.linalg.norm(np.asarray(p["f"], dtype=float), axis=1)
                s = np.asarray(p["s"], dtype=float)
                dev = s - np.trace(s) / 3 * np.eye(3)
                out.append([norms.mean(), norms.max(), float(np.sqrt(1.5 * np.sum(dev * dev)))])
            cols.append(np.array(out))
    return np.hstack(cols)


def _eos(model, structures: Sequence, rows: Sequence[int], energy: np.ndarray) -> np.ndarray:
    """Bulk modulus ``V d2E/dV2`` and pressure ``-dE/dV`` (GPa) by central differences at +-EOS_STRAIN volume."""
    import torch

    energies = []
    for sign in (-1.0, 1.0):
        strained = []
        for s in structures:
            t = s.copy()
            t.scale_lattice(s.volume * (1.0 + sign * EOS_STRAIN))
            strained.append(t)
        with torch.no_grad():
            pred = _as_list(model.predict_graph(_graphs(model, strained, rows), task="e", batch_size=len(strained)))
        energies.append(np.array([float(p["e"]) for p in pred]))
    v = np.array([s.volume / len(s) for s in structures])  # A^3 per atom; energies are eV per atom
    h = EOS_STRAIN * v
    second = (energies[1] - 2 * energy + energies[0]) / h**2
    first = (energies[1] - energies[0]) / (2 * h)
    return np.column_stack([v * second * EV_PER_A3_IN_GPA, -first * EV_PER_A3_IN_GPA])
