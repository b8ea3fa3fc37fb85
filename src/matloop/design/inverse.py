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

``method="random"`` spends the same number of model evaluations on uniform random points of the
bounded simplex instead: the baseline that says whether the optimiser earns its keep
(``benchmarks/inverse_steels.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from matloop.design.acquisition import Context, Objective, make_acquisition
from matloop.design.screen import _ModelAdapter
from matloop.design.space import DesignSpace, Parameter
from matloop.errors import InputError, MatloopError
from matloop.io.elements import SYMBOLS
from matloop.io.formula import Compositions, parse_formulas

__all__ = ["METHODS", "composition_bounds", "design_compositions", "evolve", "fraction_formulas"]

METHODS = ("evolution", "random")
Z95 = 1.959963984540054
_RANDOM_BLOCK = 4096  # random candidates scored at once (memory stays flat for any budget)


def fraction_formulas(frame: pd.DataFrame, elements: Sequence[str], digits: int = 6) -> list[str]:
    """Formulas of atomic fractions written positionally (``Fe0.62Ni0.19Mn0.000099``), never with
    an exponent (``9.9e-05`` is read by matloop but not by every other tool); zero fractions are left out."""
    values = frame[list(elements)].to_numpy(dtype=float)
    text = np.vectorize(lambda x: np.format_float_positional(x, precision=digits, unique=True, fractional=False,
                                                              trim="-"), otypes=[object])(values)
    return ["".join(f"{el}{t}" for el, t, x in zip(elements, row_t, row_x, strict=True) if x > 0)
            for row_t, row_x in zip(text, values, strict=True)]


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


#: default smallest difference in some atomic fraction between two designs (and a design and a seed)
MIN_CHANGE = 0.05


def design_compositions(model, featurizer=None, elements_bounds: Mapping[str, tuple[float, float]] | None = None,
                        objective: Objective | str = "max", n: int = 10, *, acquisition: str = "mei",
                        best: float | None = None, domain=None, constraints: Sequence[str] | None = None,
                        in_domain_only: bool = False, seeds: Sequence[str] | Compositions | None = None,
                        seed: int = 0, n_initial: int = 2000, generations: int = 12,
                        population: int = 64, method: str = "evolution", budget: int | None = None,
                        min_change: float = MIN_CHANGE, min_change_known: float = 5e-4) -> pd.DataFrame:
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
    method : {"evolution", "random"}
        ``evolution`` (default): the optimiser; ``random``: score ``budget`` uniform random points of
        the bounded simplex and keep the best (the baseline; seeds are not used).
    budget : int, optional
        Model evaluations of ``method="random"`` (default: what the optimiser would spend without
        seeds, ``n_initial + 4 * population * generations``).
    min_change, min_change_known : float
        Designs differ from each other by at least ``min_change`` in some atomic fraction (default
        0.05, i.e. 5 at.%), and from every seed by at least ``min_change_known`` (default 0.0005, so a
        known material is never returned as a design): an optimiser's best points crowd together, and ten
        designs a fraction of a percent apart are one experiment, not a batch worth making. When the
        optimiser's crowd holds fewer than ``n`` such designs, scored random points of the simplex
        fill the rest.

    Returns
    -------
    DataFrame with ``rank``, ``formula``, one column per element (atomic fractions), ``prediction``,
    ``std``, ``lower_95``, ``upper_95`` (normal 95% interval), ``in_domain``, ``domain_distance``,
    ``score`` and, when ``best`` is given, ``p_above_best`` (probability under the predicted normal
    distribution of beating ``best``). ``attrs["design"]`` holds ``n_evaluated`` (model
    evaluations spent), ``method`` and ``best``.
    """
    if not elements_bounds:
        raise InputError("give elements_bounds: {element: (min fraction, max fraction)}")
    if method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if int(n) < 1:
        raise InputError(f"n must be at least 1, got {n}")
    if not 0 <= float(min_change) < 1:
        raise InputError(f"min_change is a fraction difference in [0, 1), got {min_change}")
    objective = Objective(objective) if isinstance(objective, str) else objective
    if objective.direction == "range":
        raise InputError("inverse design of compositions takes 'max' or 'min' objectives")
    try:
        acq = make_acquisition(acquisition, objective)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if acq.name in ("ei", "logei", "pi", "mli") and best is None:
        raise InputError(f"the {acq.name} acquisition needs best= (the best known value)")
    if acq.name == "novelty":
        raise InputError("novelty is not available here; use the domain_distance column")
    adapter = _ModelAdapter(model, featurizer, domain)
    try:
        space = DesignSpace([Parameter(name="composition", type="composition", elements=dict(elements_bounds))],
                            list(constraints or []))
    except MatloopError as exc:  # bad element, bounds or constraint: the user's input
        raise InputError(str(exc)) from None
    elements = space.columns
    rng = np.random.default_rng(seed)
    best_max = None if best is None else objective.best([best])
    spent = [0]

    def evaluate(frame: pd.DataFrame, with_domain: bool) -> dict:
        comps = parse_formulas(fraction_formulas(frame, elements))
        F = adapter.features(comps)
        mean, std = adapter.predict(F, True)
        mean, std = np.asarray(mean, dtype=float), np.asarray(std, dtype=float)
        post = objective.posterior(mean, std)
        ctx = Context(best=best_max, rng=np.random.default_rng([seed, len(frame)]))
        score = np.asarray(acq(post, ctx), dtype=float)
        flag, dist = adapter.in_domain(F) if with_domain else (None, None)
        return {"mean": mean, "std": std, "score": score, "in_domain": flag, "distance": dist}

    def score(frame: pd.DataFrame) -> np.ndarray:
        spent[0] += len(frame)
        result = evaluate(frame, in_domain_only)
        values = np.where(np.isnan(result["score"]), -np.inf, result["score"])
        return np.where(result["in_domain"], values, -np.inf) if in_domain_only else values

    n_pool = max(4 * int(n), 4 * int(population))  # candidates to thin down to n distinct designs
    start = _seed_frame(space, elements, seeds) if seeds is not None else None
    n_start = 0 if start is None else len(start)
    if method == "random":
        total = int(budget) if budget is not None else (int(n_initial) + 4 * int(population) * int(generations)
                                                        + n_start)
        found = _random_search(space, score, n_pool, rng, total)
    else:
        found = evolve(space, score, n_pool + n_start, rng, n_initial, generations, population, start=start)
    found = found[np.isfinite(found["_score"].to_numpy())].reset_index(drop=True)
    known = start[elements].to_numpy() if n_start else np.zeros((0, len(elements)))
    keep = _distinct(found[elements].to_numpy(), known, float(min_change), int(n), float(min_change_known))
    n_fill = 0
    if len(keep) < int(n) and method != "random":  # the crowd is too tight: add scored random points
        extra = space.sample(max(2000, 100 * int(n)), rng)
        n_fill = len(extra)
        extra["_score"] = score(extra[space.columns])
        found = pd.concat([found, extra[np.isfinite(extra["_score"].to_numpy())].sort_values(
            "_score", ascending=False)], ignore_index=True)
        keep = _distinct(found[elements].to_numpy(), known, float(min_change), int(n), float(min_change_known))
    found = found.iloc[keep].reset_index(drop=True)
    out = pd.DataFrame({"rank": np.arange(1, len(found) + 1),
                        "formula": fraction_formulas(found, elements) if len(found) else []})
    for el in elements:
        out[el] = found[el].to_numpy(dtype=float)
    if len(found):
        detail = evaluate(found[elements], True)
        mean, std = detail["mean"], detail["std"]
        flag, dist = np.asarray(detail["in_domain"], dtype=bool), np.asarray(detail["distance"], dtype=float)
    else:
        mean = std = dist = np.zeros(0)
        flag = np.zeros(0, dtype=bool)
    out["prediction"], out["std"] = mean, std
    out["lower_95"], out["upper_95"] = mean - Z95 * std, mean + Z95 * std
    out["in_domain"], out["domain_distance"] = flag, dist
    out["score"] = found["_score"].to_numpy(dtype=float)
    if best is not None:
        from scipy.special import ndtr

        post = objective.posterior(mean, std)
        out["p_above_best"] = ndtr((post.mean - best_max) / post.std) if len(out) else np.zeros(0)
    out.attrs["design"] = {"method": method, "n_evaluated": int(spent[0]), "n_fill": n_fill, "best": best,
                           "acquisition": acq.name, "in_domain_only": bool(in_domain_only)}
    return out


def evolve(space: DesignSpace, score, n: int, rng: np.random.Generator, n_initial: int = 2000,
           generations: int = 12, population: int = 64, start: pd.DataFrame | None = None) -> pd.DataFrame:
    """:func:`matloop.design.space.optimize` with a second, composition-aware move.

    A large random start (plus ``start``), then per generation the ``population`` best each get four
    children: two by the closed loop's Gaussian mutation (:meth:`DesignSpace.mutate`, every fraction
    moves, steps shrinking from 10% to 1% of each range) and two by *transfer*: a share of one
    element's fraction moves to another (sum and bounds kept; the share of the room shrinks from 50% to
    5%). Transfers change one ratio at a time, which is how alloys are tuned and what tree ensembles,
    whose predictions are flat between splits, reward; on Matbench steels they find designs the
    Gaussian moves alone miss (``benchmarks/results/inverse_steels.md``). Same evaluation budget as
    ``optimize``; returns the ``n`` best distinct candidates with their ``_score``.
    """
    comp = next(p for p in space.parameters if p.type == "composition")
    cols = list(comp.elements)
    lo = np.array([b[0] for b in comp.elements.values()], dtype=float)
    hi = np.array([b[1] for b in comp.elements.values()], dtype=float)
    pop = space.sample(int(n_initial), rng)
    if start is not None and len(start):
        pop = pd.concat([start[space.columns], pop], ignore_index=True)
    pop["_score"] = score(pop[space.columns])
    for g in range(int(generations)):
        elite = pop.nlargest(int(population), "_score")
        shrink = 0.1 ** (g / max(int(generations) - 1, 1))
        twice = pd.concat([elite[space.columns]] * 2, ignore_index=True)
        gauss = space.mutate(twice, 0.1 * shrink, rng)
        moved = twice.copy()
        moved[cols] = _transfer(twice[cols].to_numpy(dtype=float), lo, hi, 0.5 * shrink, rng)
        moved = moved[space.feasible(moved)]
        children = pd.concat([gauss, moved], ignore_index=True)
        if len(children):
            children["_score"] = score(children[space.columns])
            pop = pd.concat([elite, children], ignore_index=True)
    pop = pop.drop_duplicates(subset=space.columns)
    return pop.nlargest(int(n), "_score").reset_index(drop=True)


def _transfer(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """Move up to ``share`` of the room from one random element to another, row by row (vectorised)."""
    n, m = x.shape
    rows = np.arange(n)
    give = rng.integers(0, m, n)
    take = (give + rng.integers(1, m, n)) % m  # a different element
    room = np.minimum(x[rows, give] - lo[give], hi[take] - x[rows, take]).clip(min=0.0)
    step = rng.random(n) * share * room
    out = x.copy()
    out[rows, give] -= step
    out[rows, take] += step
    return out


def _random_search(space: DesignSpace, score, n: int, rng: np.random.Generator, total: int) -> pd.DataFrame:
    """The ``n`` best distinct of ``total`` uniform random points of the space, scored block by block."""
    if total < 1:
        raise InputError(f"budget must be at least 1, got {total}")
    kept = None
    for start in range(0, total, _RANDOM_BLOCK):
        block = space.sample(min(_RANDOM_BLOCK, total - start), rng).head(min(_RANDOM_BLOCK, total - start))
        block = block.reset_index(drop=True)
        block["_score"] = score(block[space.columns])
        kept = block if kept is None else pd.concat([kept, block], ignore_index=True)
        kept = kept.drop_duplicates(subset=space.columns).nlargest(n, "_score")
    return kept.reset_index(drop=True)


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


def _distinct(X: np.ndarray, known: np.ndarray, tol: float, n: int, tol_known: float | None = None) -> np.ndarray:
    """Positions of the first ``n`` rows of ``X`` (best first) that differ by at least ``tol`` in some
    fraction from every earlier kept row and by ``tol_known`` (default ``tol``) from every ``known``
    row (``tol=0``: exact duplicates only)."""
    tol = max(tol, 1e-9)
    tol_known = tol if tol_known is None else max(tol_known, 1e-9)
    near_known = np.zeros(len(X), dtype=bool)
    for start in range(0, len(known), 256):
        block = known[start:start + 256]
        near_known |= (np.abs(X[:, None, :] - block[None, :, :]).max(axis=2) < tol_known).any(axis=1)
    kept: list[int] = []
    for i in np.flatnonzero(~near_known).tolist():  # one vectorised distance per candidate
        if kept and np.abs(X[kept] - X[i]).max(axis=1).min() < tol:
            continue
        kept.append(i)
        if len(kept) == n:
            break
    return np.array(kept, dtype=np.int64)
