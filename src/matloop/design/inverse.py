"""Inverse design of compositions: search a composition simplex for what a model predicts is best.

Where screening ranks a finite list, :func:`design_compositions` *optimises* element fractions
(each within bounds, summing to 1; e.g. "a steel stronger than any in Matbench steels") with the
evolutionary optimiser of :mod:`matloop.design.space`: a large random start in the bounded simplex,
then generations of shrinking mutations around the best, scored by any acquisition of
:mod:`matloop.design.acquisition` on the model's prediction and uncertainty. Every design comes
with its predicted std and an applicability-domain flag, because an optimiser is drawn to where
the model extrapolates: a design far from the training data (``in_domain`` False) is a guess,
not a prediction. ``in_domain_only=True`` turns the domain into a hard constraint.

Tree ensembles cannot predict beyond the largest training target (their predictions are averages
of training values), so "better than any known" designs need a model that extrapolates (GP,
linear terms) or an optimistic acquisition such as ``ucb``; the output says how each design
compares with the best known value (``p_above_best``) so the claim can be judged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from matloop.design.acquisition import Context, Objective, make_acquisition
from matloop.design.screen import _ModelAdapter
from matloop.design.space import DesignSpace, Parameter, optimize
from matloop.errors import InputError
from matloop.io.elements import SYMBOLS
from matloop.io.formula import Compositions, parse_formulas

__all__ = ["composition_bounds", "design_compositions"]


def composition_bounds(formulas: Sequence[str] | Compositions, margin: float = 0.0,
                       min_share: float = 0.0) -> dict[str, tuple[float, float]]:
    """Atomic-fraction range of every element in a set of compositions (e.g. a training set).

    Parameters
    ----------
    formulas : formulas or Compositions
    margin : float
        Widen each range by this fraction of its width (clipped to [0, 1]); 0 stays inside the data.
    min_share : float
        Leave out elements that appear in fewer than this share of the compositions.

    Elements absent from some compositions get a lower bound of 0.
    """
    comps = formulas if isinstance(formulas, Compositions) else parse_formulas(list(formulas))
    dense = comps.to_dense()
    present = (dense > 0).mean(axis=0)
    out = {}
    for z in np.flatnonzero(present > max(min_share, 0.0)):
        col = dense[:, z]
        lo, hi = float(col.min()), float(col.max())
        pad = margin * (hi - lo)
        out[SYMBOLS[z]] = (max(0.0, lo - pad), min(1.0, hi + pad))
    return out


def design_compositions(model, featurizer=None, elements_bounds: Mapping[str, tuple[float, float]] | None = None,
                        objective: Objective | str = "max", n: int = 10, *, acquisition: str = "mei",
                        best: float | None = None, domain=None, constraints: Sequence[str] | None = None,
                        in_domain_only: bool = False, seeds: Sequence[str] | Compositions | None = None,
                        seed: int = 0, n_initial: int = 2000, generations: int = 12,
                        population: int = 64) -> pd.DataFrame:
    """Optimise element fractions for the model's predicted property.

    Parameters
    ----------
    model, featurizer, domain
        As in :func:`matloop.design.screen.screen`: a ``MaterialModel`` (knows its featurizer and
        domain), or a regressor with a featurizer (name or instance) and an optional fitted
        ApplicabilityDomain.
    elements_bounds : mapping
        ``{element: (min fraction, max fraction)}``; see :func:`composition_bounds`.
    objective : Objective or {"max", "min"}
    n : int
        Number of distinct designs returned, best first.
    acquisition : str
        ``mei`` (predicted value, default), ``ucb``, ``ei``, ``logei``, ``pi``, ... (improvement
        acquisitions need ``best``).
    best : float, optional
        Best known value (e.g. the training maximum); gives the ``p_above_best`` column.
    constraints : list of str
        Extra constraints on the fractions, e.g. ``["Ni + Co <= 0.25"]``.
    in_domain_only : bool
        Score out-of-domain designs as -inf (only in-domain designs are returned if any exist).
    seeds : formulas, optional
        Known compositions (e.g. the training set) added to the random start, so the search also
        refines the best known materials (those outside the bounds or constraints are left out,
        with a warning saying how many). The seeds themselves are never returned as designs.
    seed, n_initial, generations, population
        Optimiser settings (:func:`matloop.design.space.optimize`).

    Returns
    -------
    DataFrame with ``rank``, ``formula``, one column per element (atomic fractions), ``prediction``,
    ``std``, ``in_domain``, ``domain_distance``, ``score`` and, when ``best`` is given,
    ``p_above_best`` (probability under the predicted normal distribution of beating ``best``).
    """
    if not elements_bounds:
        raise InputError("give elements_bounds: {element: (min fraction, max fraction)}")
    objective = Objective(objective) if isinstance(objective, str) else objective
    if objective.direction == "range":
        raise InputError("inverse design of compositions takes 'max' or 'min' objectives")
    adapter = _ModelAdapter(model, featurizer, domain)
    acq = make_acquisition(acquisition, objective)
    if acq.name in ("ei", "logei", "pi", "mli") and best is None:
        raise InputError(f"the {acq.name} acquisition needs best= (the best known value)")
    if acq.name == "novelty":
        raise InputError("novelty is not available here; use the domain_distance column")
    space = DesignSpace([Parameter(name="composition", type="composition", elements=dict(elements_bounds))],
                        list(constraints or []))
    elements = space.columns
    rng = np.random.default_rng(seed)
    best_max = None if best is None else objective.best([best])

    def evaluate(frame: pd.DataFrame, with_domain: bool) -> dict:
        comps = parse_formulas(space.formulas(frame))
        F = adapter.features(comps)
        mean, std = adapter.predict(F, True)
        mean, std = np.asarray(mean, dtype=float), np.asarray(std, dtype=float)
        post = objective.posterior(mean, std)
        ctx = Context(best=best_max, rng=np.random.default_rng([seed, len(frame)]))
        score = np.asarray(acq(post, ctx), dtype=float)
        flag, dist = adapter.in_domain(F) if with_domain else (None, None)
        return {"mean": mean, "std": std, "score": score, "in_domain": flag, "distance": dist}

    def score(frame: pd.DataFrame) -> np.ndarray:
        result = evaluate(frame, in_domain_only)
        values = np.where(np.isnan(result["score"]), -np.inf, result["score"])
        return np.where(result["in_domain"], values, -np.inf) if in_domain_only else values

    n_keep = max(int(n), 1) * 4
    if seeds is None:
        found = optimize(space, score, n_keep, rng, n_initial=n_initial, generations=generations,
                         population=population)
    else:
        start = _seed_frame(space, elements, seeds)
        found = optimize(space, score, n_keep + len(start), rng, n_initial, generations, population, start=start)
        found = found[~_matches(found[elements].to_numpy(), start.to_numpy())].reset_index(drop=True)
    found = found[np.isfinite(found["_score"].to_numpy())].head(int(n)).reset_index(drop=True)
    detail = evaluate(found[elements], True) if len(found) else None
    out = pd.DataFrame({"rank": np.arange(1, len(found) + 1),
                        "formula": space.formulas(found[elements]) if len(found) else []})
    for el in elements:
        out[el] = found[el].to_numpy()
    if detail is None:
        for c in ("prediction", "std", "in_domain", "domain_distance", "score"):
            out[c] = []
        return out
    out["prediction"], out["std"] = detail["mean"], detail["std"]
    out["in_domain"], out["domain_distance"] = detail["in_domain"], detail["distance"]
    out["score"] = found["_score"].to_numpy()
    if best is not None:
        from scipy.special import ndtr

        post = objective.posterior(detail["mean"], detail["std"])
        out["p_above_best"] = ndtr((post.mean - best_max) / post.std)
    return out


def _seed_frame(space: DesignSpace, elements: list[str], seeds) -> pd.DataFrame:
    """Atomic fractions of the seed compositions over the space's elements; infeasible ones dropped."""
    comps = seeds if isinstance(seeds, Compositions) else parse_formulas(list(seeds))
    dense = comps.to_dense()
    z = [SYMBOLS.index(e) for e in elements]
    frame = pd.DataFrame(dense[:, z], columns=elements)
    inside = np.isclose(dense[:, z].sum(axis=1), 1.0) & space.feasible(frame)
    if not inside.all():
        import warnings

        warnings.warn(f"{int((~inside).sum())} of {len(inside)} seed compositions lie outside the design space "
                      "(other elements, bounds or constraints) and were not used", UserWarning, stacklevel=3)
    return frame[inside].drop_duplicates().reset_index(drop=True)


def _matches(found: np.ndarray, known: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Rows of ``found`` equal (to ``tol`` in every fraction) to some row of ``known``."""
    out = np.zeros(len(found), dtype=bool)
    for start in range(0, len(known), 256):
        block = known[start:start + 256]
        out |= (np.abs(found[:, None, :] - block[None, :, :]).max(axis=2) <= tol).any(axis=1)
    return out
