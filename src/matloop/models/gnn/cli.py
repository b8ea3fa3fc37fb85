"""``--model gnn`` for ``matloop fit`` / ``validate`` / ``predict``: checks of the options, then the model.

The crystal graph network reads the structures itself, so it is not wrapped in a
:class:`~matloop.models.pipeline.MaterialModel` (which featurizes first): ``fit`` saves the
:class:`~matloop.models.gnn.estimator.CrystalGraphRegressor` directly, ``validate`` cross-validates it
on the structure column, and ``predict`` calls its ``predict_table``. Anything it cannot use
(a non-structure input, a featurizer, transfer, extra inputs, a missing PyTorch) is bad input
(exit 2) with a message saying what to do instead.
"""

from __future__ import annotations

import argparse

#: seconds one fit of the network may take when --time-budget is not given (each member stops at its share)
DEFAULT_BUDGET = 600.0
#: from this many rows on, the CLI trains two members at once (``CrystalGraphRegressor(n_jobs=2)``)
PARALLEL_ROWS = 500


def build_gnn(dataset, args: argparse.Namespace):
    """The unfitted :class:`CrystalGraphRegressor` the options describe, or :class:`matloop.InputError`."""
    from matloop.errors import InputError

    if dataset.kind != "structure":
        column = f" {dataset.input!r}" if dataset.input else ""
        raise InputError(f"--model gnn learns from crystal structures, but the input column{column} holds "
                         f"{dataset.kind} values: give a structure column (CIF/POSCAR paths or text, pymatgen "
                         "JSON) with --input COL --kind structure, or use a feature-based model (auto, rf, ...)")
    if getattr(args, "featurizer", None):
        raise InputError("--featurizer does not apply to --model gnn: the network learns its own features from "
                         "the structures; leave out --featurizer (or use it with another --model)")
    if str(getattr(args, "transfer", "none") or "none").lower() != "none":
        raise InputError("--transfer uses the composition library and does not apply to --model gnn")
    if dataset.extra_inputs:
        raise InputError("--model gnn does not take --extra-inputs yet; fit without them, or use another --model")
    try:
        import torch  # noqa: F401
    except ImportError:
        raise InputError('--model gnn needs PyTorch, which is not installed: pip install "matloop[torch]"') from None
    from matloop.models.registry import make_model

    # --time-budget: on fit the whole fit's, on validate shared by the folds (as for auto); without it every
    # fit (each fold's too) may take DEFAULT_BUDGET seconds (issue #19: 3,000 structures in < 10 min per fold)
    budget = DEFAULT_BUDGET
    if getattr(args, "time_budget", None):
        folds = int(getattr(args, "folds", 1) or 1) if hasattr(args, "cv") else 1
        budget = float(args.time_budget) / max(1, folds)
    params = gnn_params(len(dataset), budget)
    return make_model("gnn", "regression", random_state=args.seed, bounds=getattr(args, "bounds", "auto"), **params)


def gnn_params(n_rows: int, time_budget: float = DEFAULT_BUDGET) -> dict:
    """The CLI's settings of :class:`CrystalGraphRegressor` for ``n_rows`` training rows: the time budget,
    and two members at once on two or more cores, where training outweighs starting the worker processes
    (~3 s each)."""
    import os

    n_jobs = 2 if n_rows >= PARALLEL_ROWS and (os.cpu_count() or 1) >= 2 else 1
    return {"time_budget": float(time_budget), "n_jobs": n_jobs}
