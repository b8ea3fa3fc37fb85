"""The crystal graph network as a candidate of the structure AutoModel, by stacking on held-out predictions.

:class:`~matloop.models.structure_auto.FeatureSetAutoModel` chooses among feature sets by the
out-of-fold predictions of one AutoModel per set. The crystal graph network
(:class:`~matloop.models.gnn.estimator.CrystalGraphRegressor`) reads structures, not feature columns,
so it enters as a set of two columns made by the featurizer
(:class:`~matloop.models.structure_auto.StructureFeatureSets` with ``gnn``), ``gnn::prediction`` and
``gnn::std``:

- on the training rows, the prediction of the ensemble member that did not see the row (the network
  is cross-fitted: member k holds out fold k) and the std the model gives it;
- on new rows, the whole ensemble's mean and calibrated std.

The AutoModel ensemble takes these columns as the network's out-of-fold prediction, beside the other
sets' own, and its greedy selection (Caruana et al. 2004) weighs the network like any other candidate:
where it is worse than composition-only, it gets no weight, so the result can only be worse than
composition-only by the noise of that selection. Because its features depend on the target, a
featurizer with the network is fitted with ``y`` (:class:`~matloop.models.pipeline.MaterialModel`
passes it) and refitted in every fold of ``matloop validate``.

When it is considered (``gnn="auto"``, what ``matloop fit`` on a structure table uses): PyTorch is
installed and the table has between :data:`MIN_ROWS` and :data:`MAX_ROWS` structures. Below, a
network is not worth training (its held-out calibration rests on a few rows per member). Its time is
bounded by its budget, not by the rows: each member stops at its share of the budget (the CLI: half
of ``--time-budget``, :data:`GNN_BUDGET` = 300 s by default), so the upper cap only marks where that
budget leaves the members too few epochs to earn their time (epochs per member fall in proportion
to the rows). The cap was 2,000 rows, which left the network out of the two largest bundled sets,
where it helps most; it is 5,000 since session 9, measured with ``benchmarks/structures.py --models
structure_auto_gnn`` (what ``matloop fit --model auto`` builds) on perov_heat fold 0: 3,029 training
crystals, 2 cores at load average 8-10, the candidate took 314 s under the 300 s budget (members
stopped at 14-50 epochs), got ensemble weight 0.65 and took the structure AutoModel's MAE from 0.133
to 0.094 eV/cell (composition-only 0.48). At 5,000 rows the members get ~60 % of those epochs; above
that, ``gnn="yes"`` (with a larger budget) forces it in. ``"no"`` leaves it out. Structures the network
cannot read leave it out in ``auto`` (with the reason) and are an error with ``yes``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from matloop.errors import InputError

MIN_ROWS, MAX_ROWS = 50, 5000
#: seconds the network may take in a fit of the structure AutoModel (each member stops at its share)
GNN_BUDGET = 300.0
COLUMNS = ("prediction", "std")
CHOICES = ("auto", "yes", "no")


def gnn_decision(option: str | bool, n_rows: int) -> tuple[bool, str]:
    """``(considered, why)`` for the network as a candidate on ``n_rows`` training structures."""
    from importlib.util import find_spec

    option = {True: "yes", False: "no"}.get(option, option) if isinstance(option, bool) else str(option).lower()
    if option not in CHOICES:
        raise ValueError(f"gnn must be one of {CHOICES}, got {option!r}")
    if option == "no":
        return False, "left out (--gnn-candidate no)"
    if find_spec("torch") is None:
        if option == "yes":
            raise InputError('--gnn-candidate yes needs PyTorch, which is not installed: pip install "matloop[torch]"')
        return False, 'not considered: PyTorch is not installed (pip install "matloop[torch]")'
    if option == "yes":
        if n_rows < 10:
            raise InputError(f"--gnn-candidate yes needs at least 10 training structures, got {n_rows}")
        return True, f"considered ({n_rows} rows; --gnn-candidate yes)"
    if n_rows < MIN_ROWS:
        return False, (f"not considered: {n_rows} rows, fewer than {MIN_ROWS} to train and calibrate it "
                       "(--gnn-candidate yes forces it in)")
    if n_rows > MAX_ROWS:
        return False, (f"not considered: {n_rows} rows, more than {MAX_ROWS} (its time budget would leave each "
                       "member too few epochs; --gnn-candidate yes forces it in)")
    return True, f"considered ({n_rows} rows, within {MIN_ROWS}..{MAX_ROWS})"


def fit_gnn_block(structures: Sequence, y, option: str | bool, budget: float = GNN_BUDGET, network=None,
                  random_state: int | None = 0, rows: Sequence[int] | None = None):
    """``(fitted network or None, (n, 2) held-out prediction and std or None, note)``."""
    from matloop import progress

    use, note = gnn_decision(option, len(structures))
    if not use:
        return None, None, note
    if y is None:
        raise ValueError("the gnn feature set is fitted on the target: call fit(X, y) / fit_transform(X, y)")
    from sklearn.base import clone

    from matloop.models.gnn.cli import gnn_params
    from matloop.models.gnn.estimator import CrystalGraphRegressor

    net = clone(network) if network is not None else CrystalGraphRegressor(
        random_state=random_state, **gnn_params(len(structures), budget))
    progress.say(f"crystal graph network candidate on {len(structures):,} structures (up to {budget:.0f} s)")
    data = _with_rows(structures, rows)
    try:
        net.fit(data, np.asarray(y, dtype=float))
    except InputError as err:
        if str(option).lower() == "yes" or option is True:
            raise
        return None, None, f"not considered: the network cannot read every structure ({err.message})"
    block = np.column_stack([net.oof_prediction_, net.oof_std_])
    if not np.all(np.isfinite(block)):
        return None, None, "not considered: too few rows for held-out predictions"
    return net, block, note


def gnn_block(network, structures: Sequence, rows: Sequence[int] | None = None) -> np.ndarray:
    """``(n, 2)``: the fitted network's ensemble mean and calibrated std on new structures."""
    mean, std = network.predict(_with_rows(structures, rows), return_std=True)
    return np.column_stack([mean, std])


def _with_rows(structures: Sequence, rows: Sequence[int] | None):
    """The structures as a Series carrying the user's file rows (for the network's error reports)."""
    import pandas as pd

    if rows is None:
        return list(structures)
    from matloop.io.rows import attach_source_rows

    return attach_source_rows(pd.Series(list(structures), dtype=object, name="structure"), np.asarray(rows))
