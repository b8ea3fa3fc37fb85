"""``--model gnn`` in design: the crystal graph network as the surrogate of ``suggest`` and ``campaign suggest``.

The design machinery (acquisitions, batch diversity, feasibility, constraints) works on numeric
feature rows: distances between candidates, the novelty of a pick, the GP that conditions a
``fantasy`` batch are all computed on the table's structure descriptors. The crystal graph network
(:class:`~matloop.models.gnn.estimator.CrystalGraphRegressor`) does not read descriptors: it reads
the structures. :class:`GraphNetworkSurrogate` bridges the two: it is fitted and queried with the
same feature rows as every other surrogate, and looks each row up in a :class:`StructureLookup`
(feature row -> the structure it was computed from, filled once from the table and the candidates),
so the network is trained on the measured structures and its ensemble mean and calibrated std feed
the acquisition exactly as a forest's or a GP's do.

The lookup is keyed by the bytes of the feature row. Two different structures with identical
descriptor rows (density, symmetry, RDF, sine-Coulomb eigenvalues, Magpie statistics) would share
the first one's graph; distinct crystals practically never do, and identical rows are usually the
same crystal written twice.

What the network cannot do here is refused up front (exit 2, :func:`check_graph_design`): non-structure
input, a missing PyTorch, ``--history`` (it adds a prior column the network cannot read), several goals,
and the ``believer`` batch, which would refit the network once per pick. Fewer than :data:`MIN_ROWS`
measured structures cannot be split into held-out folds that calibrate the std: an error says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone

from matloop.errors import InputError

#: fewest measured structures the network is trained on (each of its members holds out a fold)
MIN_ROWS = 10
#: seconds one fit of the network may take in a suggestion (as ``matloop fit --model gnn``'s default)
DESIGN_BUDGET = 600.0


def check_graph_design(kind: str, batch_method: str = "fantasy", history: bool = False, n_goals: int = 1) -> bool:
    """Refuse, before any work, what ``--model gnn`` cannot do in a suggestion (:class:`InputError`); True if
    it can."""
    if kind != "structure":
        raise InputError(f"--model gnn learns from crystal structures, but the table's inputs are {kind} values: "
                         "give a structure column (CIF/POSCAR paths or text, pymatgen JSON) with --input COL --kind "
                         "structure, or use another --model (the default etgp, rf, gp, ...)")
    if n_goals > 1:
        raise InputError("--model gnn ranks one goal; with several goals use another --model (the default etgp)")
    if history:
        raise InputError("--history adds a prior model's prediction as a feature, which the crystal graph network "
                         "cannot read: leave out --history with --model gnn, or use another --model")
    if batch_method == "believer":
        raise InputError("--batch-method believer refits the surrogate once per pick (one crystal graph network fit "
                         "each): with --model gnn use fantasy (the default), penalized or thompson")
    try:
        import torch  # noqa: F401
    except ImportError:
        raise InputError('--model gnn needs PyTorch, which is not installed: pip install "matloop[torch]"') from None
    return True


class StructureLookup:
    """Feature row (its bytes, as float64) -> pymatgen structure; shared by the clones of a surrogate."""

    def __init__(self):
        self._by_row: dict[bytes, object] = {}

    @staticmethod
    def _keys(X) -> list[bytes]:
        A = np.ascontiguousarray(np.asarray(X, dtype=np.float64))
        return [row.tobytes() for row in A.reshape(len(A), -1)]

    def add(self, X, structures: Sequence) -> StructureLookup:
        """Remember ``structures[i]`` as the structure of feature row ``X[i]`` (the first one wins)."""
        keys = self._keys(X)
        if len(keys) != len(structures):
            raise ValueError(f"{len(keys)} feature rows for {len(structures)} structures")
        for key, s in zip(keys, structures, strict=True):
            self._by_row.setdefault(key, s)
        return self

    def __call__(self, X) -> list:
        """The structures of the feature rows ``X``; a row never added is a programming error."""
        keys = self._keys(X)
        missing = [i for i, k in enumerate(keys) if k not in self._by_row]
        if missing:
            raise ValueError(f"{len(missing)} feature rows have no structure (first: row {missing[0]}); the "
                             "lookup must hold every row the surrogate is fitted on or asked about")
        return [self._by_row[k] for k in keys]

    def __len__(self) -> int:
        return len(self._by_row)

    def __deepcopy__(self, memo) -> StructureLookup:  # sklearn.clone deep-copies parameters: share instead
        return self


class GraphNetworkSurrogate(RegressorMixin, BaseEstimator):
    """The crystal graph network as a design surrogate on feature rows (see the module docstring).

    Parameters
    ----------
    lookup : StructureLookup
        Maps every feature row that ``fit`` and ``predict`` will see to its structure.
    network : estimator, optional
        An unfitted :class:`~matloop.models.gnn.estimator.CrystalGraphRegressor` (cloned at each fit);
        default: :func:`default_network` for the number of rows.
    random_state : int or None
        Seed of the default network.
    """

    def __init__(self, lookup: StructureLookup | None = None, network=None, random_state: int | None = 0):
        self.lookup = lookup
        self.network = network
        self.random_state = random_state

    def fit(self, X, y) -> GraphNetworkSurrogate:
        """Train the network on the structures behind ``X``."""
        y = np.asarray(y, dtype=float)
        if len(y) < MIN_ROWS:
            raise InputError(f"--model gnn needs at least {MIN_ROWS} measured structures (each member of its ensemble "
                             f"holds out a fold to calibrate its uncertainty); this table has {len(y)}: use the "
                             "default surrogate until more are measured")
        net = clone(self.network) if self.network is not None else default_network(len(y), self.random_state)
        self.network_ = net.fit(self.lookup(X), y)
        self.chosen_ = "gnn"
        self.n_features_in_ = int(np.shape(X)[1])
        return self

    def predict(self, X, return_std: bool = False):
        """The ensemble mean (and calibrated std) of the structures behind ``X``."""
        return self.network_.predict(self.lookup(X), return_std=return_std)


def default_network(n_rows: int, random_state: int | None = 0, time_budget: float = DESIGN_BUDGET):
    """The :class:`CrystalGraphRegressor` ``matloop fit --model gnn`` would train on ``n_rows`` rows."""
    from matloop.models.gnn.cli import gnn_params
    from matloop.models.registry import make_model

    return make_model("gnn", "regression", random_state=random_state, **gnn_params(n_rows, time_budget))


def graph_surrogate(dataset, parts: Sequence[tuple[pd.DataFrame, np.ndarray, np.ndarray | None]],
                    random_state: int | None = 0, network=None) -> GraphNetworkSurrogate:
    """A :class:`GraphNetworkSurrogate` whose lookup holds the structures of ``parts``.

    ``parts``: ``(frame, feature rows, 1-based file rows or None)`` for the table and any candidates
    table; the structures are read from ``frame[dataset.input]`` (bad ones reported by row).
    """
    from matloop.represent.structure_io import read_structures

    lookup = StructureLookup()
    for frame, X, rows in parts:
        if len(frame):
            structures = read_structures(frame[dataset.input].tolist(), column=str(dataset.input), rows=rows,
                                         base_dir=getattr(dataset, "base_dir", None))
            lookup.add(X, structures)
    return GraphNetworkSurrogate(lookup, network, random_state)
