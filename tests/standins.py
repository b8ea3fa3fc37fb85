"""Small stand-ins shared by tests (importable as ``standins``: pytest's pythonpath): estimators, test
crystals, clustered blobs, a ledger with a writer process, and skip markers for optional extras."""

import importlib.util

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.tree import DecisionTreeRegressor


class BootstrapTrees(RegressorMixin, BaseEstimator):
    """Stand-in ensemble with ``predict(X, return_std=True)``: std = spread of bootstrap trees
    (typically over-confident), independent of matloop's own forests."""

    def __init__(self, n_trees=20, max_depth=6, seed=0):
        self.n_trees, self.max_depth, self.seed = n_trees, max_depth, seed

    def fit(self, X, y):
        rng = np.random.default_rng(self.seed)
        X, y = np.asarray(X), np.asarray(y)
        self.trees_ = []
        for i in range(self.n_trees):
            idx = rng.integers(0, len(y), len(y))
            self.trees_.append(DecisionTreeRegressor(max_depth=self.max_depth, random_state=i).fit(X[idx], y[idx]))
        return self

    def predict(self, X, return_std=False):
        P = np.stack([t.predict(np.asarray(X)) for t in self.trees_])
        return (P.mean(0), P.std(0)) if return_std else P.mean(0)


def crystals():
    """Six hand-checkable crystals: rocksalt NaCl, perovskite SrTiO3, wurtzite ZnO, bcc Fe, fcc Cu, diamond Si."""
    from pymatgen.core import Lattice, Structure

    return {
        "NaCl": Structure.from_spacegroup(
            "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
        ),
        "SrTiO3": Structure.from_spacegroup(
            "Pm-3m", Lattice.cubic(3.905), ["Sr", "Ti", "O"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]]
        ),
        "ZnO": Structure.from_spacegroup(
            "P6_3mc", Lattice.hexagonal(3.25, 5.207), ["Zn", "O"], [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.382]]
        ),
        "Fe": Structure.from_spacegroup("Im-3m", Lattice.cubic(2.866), ["Fe"], [[0, 0, 0]]),
        "Cu": Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.615), ["Cu"], [[0, 0, 0]]),
        "Si": Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.431), ["Si"], [[0, 0, 0]]),
    }


def blobs(sizes=(60, 30, 10), d=4, spread=0.3, seed=0):
    """Well-separated Gaussian clusters of the given sizes: (features DataFrame, cluster labels)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=10.0, size=(len(sizes), d))
    X = np.vstack([c + rng.normal(scale=spread, size=(n, d)) for c, n in zip(centres, sizes, strict=True)])
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return pd.DataFrame(X, columns=[f"f{j}" for j in range(d)]), labels


def oxides_ledger(url: str, name: str = "oxides"):
    """A ledger whose pool is four oxides (target ``gap``, maximise)."""
    import pandas as pd

    from matloop.design.ledger import Ledger

    pool = pd.DataFrame({"formula": ["Fe2O3", "NiO", "CuO", "ZnO"], "note": ["a", "b", "c", "d"]})
    return Ledger.create(url, name, {"target": "gap", "direction": "max"}, pool, keys=pool["formula"].tolist(),
                         actor="tester@host")


#: ``python -c LEDGER_WRITER URL NAME TAG N MODE``: records N measurements of NiO in campaign NAME,
#: printing "ack i" after each is acknowledged; MODE "same" gives every process the same ids
LEDGER_WRITER = """
import sys, pandas as pd
from matloop.design.ledger import Ledger
led = Ledger(sys.argv[1], sys.argv[2])
tag, n, shared = sys.argv[3], int(sys.argv[4]), sys.argv[5] == "same"
for i in range(n):
    ident = f"m-{i}" if shared else f"{tag}-{i}"
    res = pd.DataFrame({"formula": ["NiO"], "gap": [float(i)], "measurement_id": [ident]})
    led.record(res, ["NiO"], ["gap"], tag, [1])
    print(f"ack {i}", flush=True)
"""


def has_module(module: str) -> bool:
    """Whether an optional dependency is installed (without importing it)."""
    return importlib.util.find_spec(module) is not None


needs_rdkit = pytest.mark.skipif(not has_module("rdkit"), reason="needs RDKit (the molecule extra)")
needs_pymatgen = pytest.mark.skipif(not has_module("pymatgen"), reason="needs pymatgen (the structure extra)")


#: the 2θ range (degrees) and step of :func:`three_peak_patterns`
PATTERN_RANGE = (15.0, 45.0, 0.05)


def three_peak_patterns(n_per_class: int, seed: int):
    """Generated diffraction curves of three classes: the same peaks at 20° and 36°, the third at 28°
    (a), 31° (b) or 39° (c), with jittered positions and heights and noise; one ``I(2θ=...)`` column per
    grid point plus ``peak 1 position``, a non-curve column a pattern model must ignore. Returns
    ``(frame, labels)``."""
    import pandas as pd

    from matloop.represent.diffraction import Grid
    from matloop.represent.diffraction_sim import render_peaks

    grid = Grid(*PATTERN_RANGE)
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for label, third in {"a": 28.0, "b": 31.0, "c": 39.0}.items():
        for _ in range(n_per_class):
            pos = np.array([20.0, 36.0, third]) + rng.normal(0, 0.08, 3)
            y = render_peaks(pos, np.array([100, 70, 60]) * rng.uniform(0.7, 1.3, 3), grid)
            y = np.clip(y / y.max() + rng.normal(0, 0.02, len(grid.points)), 0, None)
            rows.append(y / y.max())
            labels.append(label)
    frame = pd.DataFrame(np.array(rows), columns=[f"I(2θ={v:.4g})" for v in grid.points])
    frame["peak 1 position"] = 0.0
    return frame, np.array(labels)


def with_peak_bins(frame):
    """``frame`` of :func:`three_peak_patterns` with 1° binned maxima (as the peak featurizer gives the
    forest) and without the non-curve column."""
    from matloop.represent.diffraction import Grid

    points = Grid(*PATTERN_RANGE).points
    curve = frame.filter(like="I(").to_numpy()
    bins = {f"max I(2θ {a}-{a + 1})": curve[:, (points >= a) & (points < a + 1)].max(axis=1) for a in range(15, 45)}
    return frame.assign(**bins).drop(columns="peak 1 position")


def random_formulas(n: int, elements: list[str], seed: int) -> list[str]:
    """``n`` random formulas of 1–4 of ``elements``, each amount an integer or a 3-decimal fraction."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        picked = rng.choice(elements, size=int(rng.integers(1, 5)), replace=False)
        out.append("".join(f"{e}{rng.integers(1, 9)}" if rng.random() < 0.5 else f"{e}{rng.uniform(0.01, 5):.3f}"
                           for e in picked))
    return out
