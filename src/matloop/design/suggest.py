"""One-shot suggestions: "what should I make next?" from a table of measured and candidate rows.

:func:`suggest` fits a surrogate with uncertainty on the labelled rows, scores the candidate rows
(empty target) with an acquisition, picks a diverse batch and explains each pick. The campaign
ledger (:mod:`matloop.design.campaign`) uses the same machinery with a durable history.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

from matloop.design.acquisition import Context, Objective, make_acquisition, nearest_distance
from matloop.design.batch import DEFAULT_BATCH_METHOD, batch_covariance, select_batch
from matloop.design.batch_groups import rank_in_one_group, same_groups
from matloop.design.multiobjective import parse_constraint, probability_of_feasibility
from matloop.design.outcomes import STATUS_COLUMN, failure_outcomes, without_outcome_columns
from matloop.design.output_columns import OUTPUT_COLUMNS, output_candidates, table_columns_kept  # noqa: F401
from matloop.design.surrogate import DEFAULT_SURROGATE, featurize, make_surrogate
from matloop.errors import InputError, error_table
from matloop.io.dataset import Dataset

NO_CANDIDATES = ("no candidates to choose from. Candidates are rows whose target cell is empty: add rows with "
                 "the material (or the parameter values) to the table and leave the target blank, or give a "
                 "second table of candidates (matloop suggest ... --candidates TABLE; Python: candidates=)")


@dataclass
class Ranking:
    """Scored candidates: the chosen batch and what produced it (for the ledger)."""

    chosen: pd.DataFrame  # chosen rows (original columns) + prediction, std, acquisition, rank, reason
    chosen_positions: np.ndarray  # positions of the chosen rows among the candidates
    model_name: str
    model_version: str
    acquisition: str
    feasibility_model: str | None = None  # how P(success) was estimated (design/feasibility.py), if failures count


def default_acquisition(objective: Objective) -> str:
    """Log-EI for maximise/minimise (stable where EI underflows), the window probability for ranges."""
    return "window" if objective.direction == "range" else "logei"


def rank_candidates(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_candidates: np.ndarray,
    candidates: pd.DataFrame,
    objective: Objective,
    batch: int = 5,
    acquisition: str | None = None,
    batch_method: str = DEFAULT_BATCH_METHOD,
    model: str = DEFAULT_SURROGATE,
    seed: int = 0,
    constraints: list[tuple[np.ndarray, np.ndarray, float | None, float | None, str]] | None = None,
    failed_X: np.ndarray | None = None,
    impute_failures: bool = True,
    top_score: float | None = None,
    feasible_train: np.ndarray | None = None,
    categories: list | None = None,
) -> Ranking:
    """Fit, score and pick a batch among ``candidates`` (features ``X_candidates``).

    ``constraints`` are ``(X_measured, values, low, high, name)`` for other measured properties: a
    surrogate is fitted to each and the acquisition is weighted by the probability of feasibility.
    ``failed_X``: features of failed experiments (possibly none); when given, the acquisition is
    multiplied by P(success) of :func:`matloop.design.feasibility.feasibility_weights` and the output
    has a ``p_success`` column; with ``impute_failures`` the surrogate also sees each failure at the
    worst measured value (:func:`matloop.design.feasibility.failure_training`).
    ``top_score``: the best score an ordinal goal can take (labels scored 0, 1, 2, ...; maximised). Once a
    measured value reaches it nothing can improve on it, so candidates are ranked by the probability of
    reaching it again (the window ``top_score ± 0.5``) instead of an improvement above it
    (``benchmarks/results/campaign_failures.md``: more top-label results and fewer failures).
    ``feasible_train``: the training rows that meet the outcome ``constraints``; the best of them is the
    incumbent an improvement is measured against (constrained EI), when any does. ``categories``: the
    feature columns of each categorical input, for a cold start (:func:`matloop.design.coldstart.balanced_pool`).
    """
    if int(batch) < 1:
        raise InputError(f"the batch size must be at least 1, got {batch}")
    if len(X_candidates) == 0:
        raise InputError(NO_CANDIDATES)
    if len(y_train) < 2 and not getattr(model, "fits_without_data", False):  # cold start (design/coldstart.py)
        from matloop.design.coldstart import cold_start_ranking

        return cold_start_ranking(X_candidates, candidates, batch, X_train if len(y_train) else None, seed,
                                  categories=categories)
    top_note = None
    if top_score is not None and objective.direction == "max" and np.nanmax(y_train) >= top_score:
        objective, acquisition = Objective("range", top_score - 0.5, top_score + 0.5), None
        top_note = "the best label is measured already: ranked by the probability of reaching it again"
    X_fit, y_fit = X_train, y_train
    if failed_X is not None and impute_failures:
        from matloop.design.feasibility import failure_training

        X_fit, y_fit = failure_training(X_train, y_train, failed_X, objective)
    surrogate = make_surrogate(model, seed).fit(X_fit, y_fit)
    mean, std = surrogate.predict(X_candidates, return_std=True)
    name = acquisition or default_acquisition(objective)
    acq = make_acquisition(name, objective)
    rng = np.random.default_rng(seed)
    scale = _scaler(np.vstack([X_train, X_candidates]))
    y_best = y_train[feasible_train] if feasible_train is not None and np.any(feasible_train) else y_train
    ctx = Context(best=objective.best(y_best), X_candidates=scale(X_candidates), X_measured=scale(X_train), rng=rng)
    posterior = objective.posterior(mean, std) if objective.direction != "range" else _raw(mean, std)
    feasibility = np.ones(len(mean))
    for Xc, vals, lo, hi, _cname in constraints or []:
        cm, cs = make_surrogate("rf", seed).fit(Xc, vals).predict(X_candidates, return_std=True)
        feasibility *= probability_of_feasibility(cm, cs, lo, hi)
    p_constraints = feasibility  # the outcome constraints alone (column p_feasible, as with several goals)
    p_success, feas_name = _p_success(X_train, failed_X, X_candidates, seed)
    if p_success is not None:
        feasibility = feasibility * p_success
    if constraints or p_success is not None:
        acq = _Weighted(acq, feasibility)
    cov = (batch_covariance(surrogate, X_fit, y_fit, X_candidates, seed)
           if batch_method == "fantasy" and min(batch, len(X_candidates)) > 1 else None)
    idx, values = select_batch(acq, posterior, ctx, batch, method=batch_method, covariance=cov,
                               refit=_believer_refit(surrogate, X_fit, y_fit, X_candidates, objective))
    out = candidates.iloc[idx].reset_index(drop=True).copy()
    out["prediction"] = mean[idx]
    out["std"] = std[idx]
    if constraints:
        out["p_feasible"] = p_constraints[idx]
    out["acquisition"] = values
    if p_success is not None:
        out["p_success"] = p_success[idx]
    out["rank"] = np.arange(1, len(idx) + 1)
    novelty = nearest_distance(ctx.X_candidates[idx], ctx.X_measured)
    spread = _typical_spacing(ctx.X_measured)
    out["reason"] = [
        _reason(acq, objective, ctx.best, m, s, nov, spread, feasibility[i] if constraints else None)
        for i, m, s, nov in zip(idx, mean[idx], std[idx], novelty, strict=True)
    ]
    chosen_model = getattr(surrogate, "chosen_", model)
    version = hashlib.sha256(np.ascontiguousarray(X_fit).tobytes() + np.ascontiguousarray(y_fit).tobytes()
                             + f"{chosen_model}|{seed}".encode()).hexdigest()[:16]
    if p_success is not None and failed_X is not None and len(failed_X):
        out["reason"] = [f"{r}; P(success) = {p:.0%}" for r, p in zip(out["reason"], p_success[idx], strict=True)]
    if top_note is not None:
        out["reason"] = out["reason"] + f"; {top_note}"
    return Ranking(out, idx, str(chosen_model), version, acq.name or name, feas_name)


def _p_success(X_train, failed_X, X_candidates, seed):
    """``(P(success) of each candidate, model description)``, or ``(None, None)`` when failures do not
    count (no ``failed_X``)."""
    if failed_X is None:
        return None, None
    from matloop.design.feasibility import feasibility_weights

    failed_X = np.asarray(failed_X, dtype=float).reshape(-1, np.shape(X_train)[1])
    tried = np.vstack([X_train, failed_X])
    mask = np.r_[np.zeros(len(X_train), dtype=bool), np.ones(len(failed_X), dtype=bool)]
    return feasibility_weights(tried, mask, X_candidates, seed)


def suggest(
    dataset: Dataset,
    objective: Objective,
    batch: int = 5,
    acquisition: str | None = None,
    batch_method: str = DEFAULT_BATCH_METHOD,
    model: str = DEFAULT_SURROGATE,
    seed: int = 0,
    constraints: list[str] | None = None,
    candidates: Dataset | None = None,
    allow_replicates: bool = False,
    failed_if: str | None = None,
    retry_failed: bool = False,
    history: list[tuple[pd.DataFrame, str]] | None = None,
    transfer: str = "none",
    featurizer: str | None = None,
    top_score: float | None = None,
    same: list[str] | None = None,
) -> pd.DataFrame:
    """Rank the candidate rows (empty target) of ``dataset``; returns the chosen batch.

    Replicated inputs (one material or setting measured on several rows) count once, with the mean
    of their values, in the model and as "best measured" (``result.attrs["best_rule"]``), as in a
    campaign. A blank row whose input is already measured, or repeats an earlier blank row, is not
    a candidate unless ``allow_replicates``.

    Output: every column of the chosen rows as given, plus ``prediction``, ``std``,
    ``acquisition``, ``rank`` and a short ``reason``. ``constraints`` such as ``"density < 8"``
    name other columns of the table measured on some rows. ``candidates``, a second table of the
    same kind of input (its material column may have another name), adds its rows to the
    candidates; those already measured in ``dataset`` are left out and counted in
    ``result.attrs["n_known_left_out"]`` (``result.attrs["n_candidates"]``: how many were ranked).

    Failed experiments (:mod:`matloop.design.outcomes`): rows whose ``status`` is ``failed`` or that
    match ``failed_if`` (e.g. ``"crystal_score == 'clear_solution'"``) are neither measurements nor
    candidates (nor are the same materials in ``candidates``) unless ``retry_failed``; when a table
    has a ``status`` column or a rule, the acquisition is multiplied by P(success) and the output has
    a ``p_success`` column (``result.attrs["n_failed"]``: how many rows failed). ``top_score``: an
    ordinal goal's best score (:func:`rank_candidates`). ``same``: columns whose values every row of
    the batch shares (:mod:`matloop.design.batch_groups`).
    """
    graph = isinstance(model, str) and model == "gnn"  # the crystal graph network (design.structure_surrogate)
    if graph:
        from matloop.design.structure_surrogate import check_graph_design

        check_graph_design(dataset.kind, batch_method, bool(history))
    target = dataset.target
    y = pd.to_numeric(dataset.frame[target], errors="coerce").to_numpy(dtype=float)
    outcomes = failed_if is not None or STATUS_COLUMN in dataset.frame.columns
    if outcomes:  # status, reason and the columns the rule reads are outcomes, never inputs
        dataset = without_outcome_columns(dataset, failed_if)
    failed = (failure_outcomes(dataset.frame, dataset.rows, failed_if)[0] if outcomes
              else np.zeros(len(y), dtype=bool))
    labelled = np.isfinite(y) & ~failed
    if featurizer is not None:  # a registry name (e.g. chgnet): used for the table's rows and the candidates
        dataset._featurizer_name = featurizer
    if candidates is not None and dataset.kind == "parameters":  # the encoding knows the candidates' labels too
        from matloop.design.encode import dataset_encoder

        dataset_encoder(dataset, [candidates.frame], refit=True)
    features = featurize(dataset).to_numpy(dtype=float)
    from matloop.design.encode import category_features
    from matloop.design.history import transfer_features
    from matloop.design.replicates import replicate_groups

    use_transfer = str(transfer or "none").lower() != "none"
    if use_transfer:  # the pre-trained library's values join the features (as fit --transfer auto)
        if dataset.kind != "composition":
            raise InputError("--transfer uses the pre-trained composition library: it needs a formula column")
        features = np.column_stack([features, transfer_features(transfer, dataset.frame[dataset.input])])

    reps = replicate_groups(dataset, labelled, allow_replicates)
    reps.open_rows &= ~failed | retry_failed  # a failed experiment is not proposed again unless asked
    pool, pool_X, n_known = dataset.frame.loc[reps.open_rows], features[reps.open_rows], 0
    if candidates is not None:
        extra, extra_X, n_known = _candidate_table(dataset, candidates, labelled | (failed & (not retry_failed)))
        if len(extra) and use_transfer:
            extra_X = np.column_stack([extra_X, transfer_features(transfer, extra[dataset.input])])
        if len(extra):
            pool = pd.concat([pool, extra], ignore_index=True) if len(pool) else extra.reset_index(drop=True)
            pool_X = np.vstack([pool_X, extra_X])
    if graph:  # the network reads the structures behind the feature rows of the table and the candidates
        from matloop.design.structure_surrogate import graph_surrogate

        model = graph_surrogate(dataset, [(dataset.frame, features, dataset.rows)] + (
            [(extra, extra_X, None)] if candidates is not None and len(extra) else []), seed)
    cons = []
    for text in constraints or []:
        col, lo, hi = parse_constraint(text)
        if col not in dataset.frame.columns:
            raise InputError(f"constraint {text!r} names no column of the table",
                             error_table([{"row": 0, "column": col, "value": text,
                                           "reason": f"columns are {list(dataset.frame.columns)}"}]))
        vals = pd.to_numeric(dataset.frame[col], errors="coerce").to_numpy(dtype=float)
        have = np.isfinite(vals)
        cons.append((features[have], vals[have], lo, hi, col))
    if candidates is not None and not len(pool_X):
        raise InputError(f"every row of the candidates table is already measured in the table ({n_known} rows); "
                         "nothing is left to suggest")
    if not len(pool_X) and reps.n_open_replicates:
        raise InputError(f"every blank row repeats an input that is measured or already listed "
                         f"({reps.n_open_replicates} rows); nothing is left to suggest (allow replicates with "
                         "--allow-replicates; Python: allow_replicates=True)")
    X_train, y_train, note = features[reps.first_rows], reps.mean_of(y), None
    if history:  # related campaigns as the prior mean, unless the safeguard sets them aside (design/history.py)
        from matloop.design.history import HistoryPrior, apply_history

        prior = HistoryPrior(dataset.parameter_columns if dataset.kind == "parameters" else [dataset.input],
                             target, seed, dataset).fit(history)
        h = apply_history(prior, X_train, y_train, dataset.frame.iloc[reps.first_rows], pool_X, pool, model,
                          acquisition, batch_method, objective, seed)
        X_train, pool_X, model, acquisition, batch_method = (h["X_train"], h["X_candidates"], h["model"],
                                                             h["acquisition"], h["batch_method"])
        note = f"{h['note']}: {prior.describe()}"
        if h["used"]:  # the other models see the same columns (the history's prediction, kernel inputs)
            features = np.column_stack([features, h["extra"](dataset.frame)])
            cons = [(np.column_stack([Xc, h["extra"](dataset.frame.loc[pd.to_numeric(
                dataset.frame[c], errors="coerce").notna().to_numpy()])]), v, lo, hi, c)
                for Xc, v, lo, hi, c in cons]
    ok = None
    if constraints:  # the incumbent and "best measured" meet the constraints (as a campaign's do)
        from matloop.design.multi_options import violations

        ok = ~violations(dataset.frame, constraints)[reps.first_rows]
    shown, cats = output_candidates(dataset, pool, targets=[target]), category_features(dataset)
    failed_X = features[failed] if outcomes else None

    def rank(pos: np.ndarray, k: int) -> Ranking:
        return rank_candidates(X_train, y_train, pool_X[pos], shown.iloc[pos], objective, k, acquisition, batch_method,
                               model, seed, cons, failed_X, top_score=top_score, feasible_train=ok, categories=cats)
    ranking = rank_in_one_group(rank, len(pool_X), same_groups(pool, same), batch, same or ())  # --same
    ranking.chosen = table_columns_kept(ranking.chosen)
    if note is not None:
        from matloop.design.history import batch_note

        note = batch_note(note, ranking.model_name, prior.describe())  # the results may have set it aside
        ranking.chosen["reason"] = ranking.chosen["reason"] + "; " + note.split(" (")[0]
        ranking.chosen.attrs["history"] = note
    ranking.chosen.attrs.update(n_failed=int(failed.sum()), feasibility_model=ranking.feasibility_model,
                                n_failed_with_value=int((failed & dataset.frame[target].notna().to_numpy()).sum()))
    ranking.chosen.attrs.update(n_candidates=len(pool_X), n_known_left_out=n_known,
                                n_replicates_left_out=reps.n_open_replicates, **reps.best(y, objective, ok))
    if getattr(dataset, "encoding", None) is not None:  # how the parameters were encoded (design.encode)
        ranking.chosen.attrs["encoding"] = dataset.encoding.records()
    return ranking.chosen


def align_candidates(dataset: Dataset, candidates: Dataset, input_option: str = "--input") -> tuple[pd.DataFrame, np.ndarray]:
    """(frame, file rows) of a second table of candidates with ``dataset``'s column names: same kind, the
    table's parameter columns present, its material column renamed to ``dataset.input``."""
    if candidates.kind != dataset.kind:
        raise InputError(f"the candidates are {candidates.kind} rows but the table's inputs are {dataset.kind}; "
                         "give candidates of the same kind")
    frame = candidates.frame.copy()
    rows = np.asarray(candidates.rows)
    if dataset.kind == "parameters":
        missing = [c for c in dataset.parameter_columns if c not in frame.columns]
        if missing:
            raise InputError("the candidates table lacks parameter columns of the table", error_table(
                [{"row": 0, "column": c, "value": None, "reason": "column missing from the candidates"} for c in missing]))
    elif candidates.input != dataset.input:
        if dataset.input in frame.columns:
            raise InputError(f"the candidates table has both {candidates.input!r} (its material column) and "
                             f"{dataset.input!r}; give {input_option} to say which holds the candidates")
        frame = frame.rename(columns={candidates.input: dataset.input})
    return frame, rows


def _candidate_table(dataset: Dataset, candidates: Dataset, labelled: np.ndarray):
    """(frame, features, n already measured) of a second table of candidates, checked against ``dataset``."""
    from matloop.design.surrogate import material_keys

    frame, rows = align_candidates(dataset, candidates)
    target = dataset.target
    if target in frame.columns:
        filled = pd.to_numeric(frame[target], errors="coerce").notna().to_numpy()
        if filled.any():
            raise InputError("rows of the candidates table have a measured target: measured rows belong in the "
                             "table the model is trained on", error_table(
                                 [{"row": int(r), "column": target, "value": v, "reason": "candidates are unmeasured"}
                                  for r, v in zip(rows[filled], frame.loc[filled, target], strict=True)]))
    measured = set(material_keys(dataset, dataset.frame.loc[labelled]))
    known = np.array([k in measured for k in material_keys(dataset, frame)], dtype=bool)
    frame = frame.loc[~known]
    feats = featurize(dataset, frame, rows=rows[~known]).to_numpy(dtype=float) if len(frame) else np.empty((0, 0))
    return frame, feats, int(known.sum())


class _Weighted:
    """An acquisition multiplied by a feasibility probability (added in log for log acquisitions)."""

    def __init__(self, inner, weight):
        self.inner, self.weight = inner, weight
        self.name, self.explanation = inner.name, inner.explanation

    def __call__(self, posterior, context=None):
        v = self.inner(posterior, context)
        if self.name in ("logei", "mli"):
            return v + np.log(np.maximum(self.weight, 1e-300))
        return np.where(v >= 0, v * self.weight, v / np.maximum(self.weight, 1e-12))


def _raw(mean, std):
    from matloop.design.acquisition import Posterior

    return Posterior(mean, std)


def _scaler(X: np.ndarray):
    mu = np.nanmean(X, axis=0)
    sd = np.nanstd(X, axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return lambda A: np.nan_to_num((A - mu) / sd)


def _typical_spacing(Xm: np.ndarray) -> float:
    if len(Xm) < 3:
        return np.inf
    sq = np.einsum("ij,ij->i", Xm, Xm)
    d2 = sq[:, None] + sq[None, :] - 2 * Xm @ Xm.T
    np.fill_diagonal(d2, np.inf)
    return float(np.quantile(np.sqrt(np.maximum(d2.min(axis=1), 0)), 0.9))


def _believer_refit(surrogate, X_train, y_train, X_candidates, objective):
    from sklearn.base import clone

    from matloop.design.acquisition import Posterior

    def refit(chosen, fantasies):
        fantasies_raw = objective.sign * np.asarray(fantasies) if objective.direction != "range" else fantasies
        m = clone(getattr(surrogate, "model_", surrogate)).fit(np.vstack([X_train, X_candidates[chosen]]),
                                                               np.r_[y_train, fantasies_raw])
        mu, sd = m.predict(X_candidates, return_std=True)
        return objective.posterior(mu, sd) if objective.direction != "range" else Posterior(mu, sd)
    return refit


def _reason(acq, objective, best, mean, std, novelty, spread, feasible) -> str:
    parts = [f"{acq.explanation}: predicted {mean:.4g} ± {std:.2g}"]
    if objective.direction == "range":
        p = ndtr((objective.high - mean) / std) - ndtr((objective.low - mean) / std)
        parts.append(f"P(in {objective.low:g}..{objective.high:g}) = {p:.0%}")
    elif best is not None:
        best_raw = objective.sign * best
        p = ndtr((objective.sign * mean - best) / std)
        parts.append(f"P({'above' if objective.sign > 0 else 'below'} best measured {best_raw:.4g}) = {p:.0%}")
    if feasible is not None:
        parts.append(f"P(constraints met) = {feasible:.0%}")
    if np.isfinite(spread) and novelty > spread:
        parts.append("far from everything measured (exploration)")
    return "; ".join(parts)
