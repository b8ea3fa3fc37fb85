"""Campaigns: suggest, measure, record, repeat, with every step kept in the ledger.

A campaign is either pool-based (candidates are the rows of a table whose target is empty) or
space-based (candidates are generated from a YAML/JSON :class:`~matloop.design.space.DesignSpace`
by optimising the acquisition). Its configuration, candidates, suggestions (with the model and
acquisition values behind them) and measurements live in a :class:`~matloop.design.ledger.Ledger`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pandas as pd

from matloop.design.acquisition import Objective, make_acquisition
from matloop.design.batch import DEFAULT_BATCH_METHOD
from matloop.design.batch_groups import campaign_same, effective_same, rank_in_one_group, same_groups
from matloop.design.campaign_failures import exclusions, initial_failures, open_candidates, record_results
from matloop.design.campaign_files import _staging_path, check_output, export_table, read_space  # noqa: F401
from matloop.design.campaign_multi import one_goal_constraints, outcome_columns
from matloop.design.campaign_status import CampaignStatus, _fmt  # noqa: F401 (re-exported)
from matloop.design.encode import category_features
from matloop.design.ledger import InitialMeasurements, Ledger, RecordResult
from matloop.design.ledger_events import awaited_suggestions, correction_counts
from matloop.design.ordinal import config_note, order_labels, score_labels, top_score
from matloop.design.outcomes import without_outcome_columns
from matloop.design.output_columns import check_campaign_columns, with_result_columns
from matloop.design.space import DesignSpace, optimize
from matloop.design.structure_surrogate import check_graph_design, graph_surrogate
from matloop.design.suggest import OUTPUT_COLUMNS, default_acquisition, rank_candidates
from matloop.design.surrogate import (
    DEFAULT_SURROGATE,
    featurize,
    make_surrogate,
    material_keys,
    parameter_keys,
)
from matloop.errors import InputError, MatloopError, error_table
from matloop.io.dataset import Dataset

#: the ``source`` of measurements recorded from the pool table when the campaign was created
INITIAL_SOURCE = "initial pool table"


def objective_from_config(config: dict) -> Objective:
    return Objective(config["direction"], config.get("low"), config.get("high"))


def goal_text(objective: Objective) -> str:
    if objective.direction == "range":
        return f"land in [{objective.low:g}, {objective.high:g}]:"
    return "maximise" if objective.direction == "max" else "minimise"


class Campaign:
    """A ledger-backed closed loop for one target."""

    def __init__(self, name: str, db: str, engine=None):
        self.ledger = Ledger(db, name, engine)  # engine: a server's shared one (matloop.serve)
        self.config = self.ledger.config
        self.objective = objective_from_config(self.config)
        from matloop.design.goals import goals_from_config

        self.goals = goals_from_config(self.config)  # several with campaign new --goal (design/campaign_multi.py)
        space = self.config.get("space")  # read as stored; composition elements in the parameter columns' order
        self.space = DesignSpace.from_dict(space, strict=False).ordered_as(self.config["parameter_columns"]) \
            if space else None

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(cls, name: str, db: str, objective: Objective, target: str, pool: Dataset | None = None,
               space: DesignSpace | None = None, space_spec: dict | None = None, actor: str | None = None,
               failed_if: str | None = None, history: list[tuple[pd.DataFrame, str]] | None = None,
               goals: list | None = None, constraints: list[str] | None = None,
               scalarize: str | None = None, target_order: dict | None = None,
               same: list[str] | None = None) -> Campaign:
        """Start a campaign from a pool table or a design space. Measured rows of the pool table
        (target present) are recorded as the first measurements; rows whose ``status`` is ``failed`` or
        that match ``failed_if`` (kept in the config, applied to every later ``record``) as failures.

        ``history``: ``(table, source name)`` pairs of related measurements (:mod:`matloop.design.history`),
        copied into the ledger's configuration with their source, apart from the campaign's own
        measurements (they are never candidates, results or "best measured"); every suggestion uses
        them as prior knowledge (:func:`matloop.design.history.apply_history`). ``same``: columns every
        batch shares unless a suggestion says otherwise (:func:`matloop.design.batch_groups.campaign_same`)."""
        if (pool is None) == (space is None):
            raise MatloopError("a campaign needs exactly one of a pool table or a design space")
        campaign_same(same, None, space)  # a design space fixes a parameter in its file instead
        config = {"target": target, "direction": objective.direction, "low": objective.low,
                  "high": objective.high}
        if goals and len(goals) > 1:  # several goals: design/campaign_multi.py
            from matloop.design.goals import goals_to_config

            config.update(goals=goals_to_config(goals), scalarize=scalarize)
        if constraints:
            config["constraints"] = list(constraints)
        outcomes = outcome_columns(config)  # the goal (or goals) and constraint columns: recorded, not inputs
        if history:
            from matloop.design.history import history_records
            from matloop.design.multi_options import check_history_goals

            for frame, source in history:  # several goals: each table measures at least one of them
                check_history_goals(frame, [g.column for g in goals] if goals and len(goals) > 1 else [target], source)
            config["history"] = history_records(history)
        if failed_if is not None:
            config["failed_if"] = failed_if
        if target_order:  # an ordinal goal: {"column", "labels" worst to best}, scored at every record (design/ordinal.py)
            config["target_order"] = {"column": target_order["column"], "labels": list(target_order["labels"])}
        if pool is not None:
            missing = [c for c in outcomes if c not in pool.frame.columns]
            if missing:
                raise InputError(f"the pool table has no column {missing[0]!r}",
                                 error_table([{"row": 0, "column": c, "value": None,
                                               "reason": f"columns are {list(pool.frame.columns)}"} for c in missing]))
            pool = without_outcome_columns(pool, failed_if)  # status, reason, the rule's columns: not inputs
            check_campaign_columns(pool.frame, outcomes, goals)  # 'rank' would be lost; a goal known everywhere
            if same:
                config["same"] = campaign_same(same, pool.frame, outcomes=outcomes)
            config.update(kind=pool.kind, input=pool.input, parameter_columns=pool.parameter_columns
                          if pool.kind == "parameters" else None, columns=list(map(str, pool.frame.columns)),
                          extra_inputs=list(pool.extra_inputs), pattern_options=pool.pattern_options)
            from matloop.design.ledger_keys import ledger_parameter_keys, smiles_key_config

            smiles_keys, note = smiles_key_config(pool)  # SMILES parameters: canonical keys (design/ledger_keys.py)
            if smiles_keys:
                from matloop.progress import say

                config["smiles_keys"] = smiles_keys
                say(note or f"SMILES column(s) {', '.join(smiles_keys['columns'])}: ledger keys are canonical SMILES")
            keys = ledger_parameter_keys(config, pool.frame) if smiles_keys else material_keys(pool)
            frame = pool.frame.copy()
            dupes = pd.Series(keys).duplicated(keep="first").to_numpy()
            # a filled cell is a measurement (the ledger refuses one that is not a finite number); only an
            # empty cell makes a candidate, never a value that fails to parse
            measured = ~frame[outcomes].map(lambda v: pd.isna(v) or (isinstance(v, str) and not v.strip())).all(
                axis=1).to_numpy()
            failed = initial_failures(frame, keys, pool.rows, failed_if)
            rows = np.flatnonzero(measured & ~failed.mask)
            initial = InitialMeasurements(frame.iloc[rows], [keys[i] for i in rows], outcomes, INITIAL_SOURCE,
                                          [int(r) for r in np.asarray(pool.rows)[rows]], then=failed.write)
            # one transaction: the campaign, its candidates and its first measurements, or nothing
            Ledger.create(db, name, config, frame.loc[~dupes].drop(columns=outcomes),
                          [k for k, d in zip(keys, dupes, strict=True) if not d], actor, measured=initial)
        else:
            clash = [c for c in outcomes if c in space.columns]
            if clash:
                raise InputError(f"{clash[0]!r} is a parameter of the design space; a goal or constraint is measured")
            config.update(kind="parameters", input=None, parameter_columns=space.columns, space=space_spec,
                          columns=space.columns)
            Ledger.create(db, name, config, None, None, actor)
        return cls(name, db)

    # ------------------------------------------------------------------ state
    def _dataset(self, frame: pd.DataFrame) -> Dataset:
        cfg = self.config
        params = cfg.get("parameter_columns") if cfg["kind"] == "parameters" else None
        return Dataset(frame=frame, input=cfg.get("input"), kind=cfg["kind"], targets=[cfg["target"]],
                       parameters=list(params) if params else None, extra_inputs=list(cfg.get("extra_inputs") or []),
                       pattern_options=cfg.get("pattern_options"))

    def table(self) -> pd.DataFrame:
        """Every candidate with its mean measured target (NaN if unmeasured) and replicate count."""
        cands = self.ledger.candidates()
        meas = self.ledger.measurements()
        counts = np.zeros(len(cands), dtype=int)
        for target in outcome_columns(self.config):  # the target, or every goal and constraint column
            if len(meas):
                agg = meas[meas["target"] == target].groupby("candidate_id")["value"].agg(["mean", "count"])
                cands[target] = cands["candidate_id"].map(agg["mean"])
                counts = np.maximum(counts, cands["candidate_id"].map(agg["count"]).fillna(0).to_numpy(dtype=int))
            else:
                cands[target] = np.nan
        cands["n_measurements"] = counts
        return cands

    def status(self) -> CampaignStatus:
        t = self.table()
        target = self.config["target"]
        sug = self.ledger.suggestions()
        measured = t[[g.column for g in self.goals]].notna().any(axis=1)  # any goal measured
        ex = exclusions(self, t)
        pending = len(self._pending_ids() - set(t.loc[measured, "candidate_id"]) - set(t.loc[ex.failed, "candidate_id"]))
        best = best_material = best_setting = None
        best_replicates, (ok, cons_words) = 1, one_goal_constraints(self, t, measured)
        if ok.any():
            y = t.loc[ok, target].to_numpy(dtype=float)
            i = int(np.argmin(self.objective.distance_to_window(y)) if self.objective.direction == "range"
                    else np.argmax(self.objective.sign * y))
            best = float(y[i])
            row = t.loc[ok].iloc[i]
            best_material = str(row["key"])
            cols = (self.config.get("parameter_columns") or [] if self.config["kind"] == "parameters"
                    else [self.config.get("input")])
            best_setting = {c: row[c] for c in cols if c in row.index} or None
            best_replicates = int(row["n_measurements"]) if "n_measurements" in row.index else 1
        meas = self.ledger.measurements()
        meas = meas[meas["target"].isin([g.column for g in self.goals])]
        n_initial = int(meas.loc[meas["source"] == INITIAL_SOURCE, "candidate_id"].nunique())
        # an experiment is one recorded result row, however many of the goals it measured
        later = meas[meas["source"] != INITIAL_SOURCE].drop_duplicates(["candidate_id", "recorded_at", "extra"])
        return dataclasses.replace(CampaignStatus(
            self.ledger.name, target, goal_text(self.objective) + config_note(self.config), len(t),
            int(measured.sum()), 0 if sug.empty else len(sug), pending, best, best_material, best_setting, n_initial,
            len(later), n_failed=int(ex.failed.sum()), n_vetoed=int(ex.vetoed.sum()),
            **correction_counts(self.ledger),
            best_replicates=max(best_replicates, 1), subject=cons_words, same=self.config.get("same")),
            **self._multi_status(t))

    def _multi_status(self, table: pd.DataFrame) -> dict:
        """Several goals: the goals in words, the measured front and its hypervolume instead of one best."""
        if len(self.goals) < 2:
            return {}
        from matloop.design.campaign_multi import multi_status

        extra = multi_status(self, table)
        return {"goal": extra["goal_text"], "best": None, "front": extra["front_lines"],
                **{k: extra[k] for k in ("hypervolume", "hypervolume_start")}}

    def history(self) -> pd.DataFrame:
        """Measurements in recording order with the best-so-far value (for progress plots).

        ``experiment`` counts only measurements recorded during the campaign (1, 2, ...); the measured
        rows of the pool table given at creation are the start (``experiment`` 0, ``phase`` "start")."""
        meas = self.ledger.measurements()
        meas = meas[meas["target"] == self.config["target"]].reset_index(drop=True)
        start = (meas["source"] == INITIAL_SOURCE).to_numpy()
        meas = pd.concat([meas[start], meas[~start]], ignore_index=True)  # the start first
        start = np.sort(start)[::-1]
        y = meas["value"].to_numpy(dtype=float)
        if self.objective.direction == "range":
            score = -self.objective.distance_to_window(y)
        else:
            score = self.objective.sign * y
        meas["phase"] = np.where(start, "start", "campaign")
        meas["experiment"] = np.where(start, 0, np.cumsum(~start))
        best_idx = pd.Series(score).cummax()
        meas["best_so_far"] = [y[np.flatnonzero(score == b)[0]] for b in best_idx] if len(y) else []
        return meas

    # ------------------------------------------------------------------ actions
    def suggest(self, batch: int = 5, acquisition: str | None = None, batch_method: str = DEFAULT_BATCH_METHOD,
                model: str = DEFAULT_SURROGATE, seed: int = 0, actor: str | None = None,
                output: str | Path | None = None, retry_failed: bool = False,
                allow_replicates: bool = False, scalarize: str | None = None, transfer: str = "none",
                same: list[str] | None = None) -> pd.DataFrame:
        """Choose the next batch, store it in the ledger, and return it (original columns +
        prediction, std, acquisition, rank, reason; ``p_success`` once failures count).

        Fewer than 2 results: a space-filling first batch (:mod:`matloop.design.coldstart`). History
        tables given at creation are prior knowledge (:mod:`matloop.design.history`). A
        measured candidate is suggested again only with ``allow_replicates``. ``transfer`` (``auto`` or
        source names): the pre-trained library's values join a composition campaign's features. ``same``:
        columns every row of the batch shares (:mod:`matloop.design.batch_groups`; pools only); None: the
        campaign's default (``campaign new --same``), ``[]``: none.

        Vetoed candidates are never suggested, failed ones only with ``retry_failed``; with a
        ``failed_if`` rule or failures recorded, the acquisition is multiplied by P(success)
        (:mod:`matloop.design.feasibility`).

        With ``output`` the batch is also written there, all or nothing with the ledger: the file name
        and folder are checked before any work, the file is written (to a temporary name beside it)
        inside the ledger transaction, and renamed into place after the commit. A batch that cannot be
        written is not stored, so its candidates are not left "awaiting results"."""
        out_path = check_output(output) if output is not None else None
        if batch < 1:
            raise InputError(f"the batch size must be at least 1, got {batch}")
        same = effective_same(same, self.config.get("same"), self.space)
        table = self.table()
        target = self.config["target"]
        measured = table[target].notna().to_numpy()
        # fewer than 2 measured: rank_candidates / _suggest_from_space give a space-filling first batch
        ex = exclusions(self, table, retry_failed)
        pending = self._pending_ids() - set(table.loc[ex.failed, "candidate_id"])  # a failure is not awaited
        data_cols = [c for c in table.columns if c not in ("candidate_id", "key", "source", "n_measurements")]
        frame = table[data_cols]
        ds = self._dataset(frame)
        graph = isinstance(model, str) and model == "gnn" and check_graph_design(  # design.structure_surrogate
            ds.kind, batch_method, bool(self.config.get("history")), len(self.goals) + bool(self.config.get("constraints")))
        multi_rows = None
        if len(self.goals) > 1 or self.config.get("constraints"):  # design/campaign_multi.py: EHVI, ParEGO, Chimera
            from matloop.design.campaign_multi import space_pool, suggest_multi_batch
            from matloop.design.multi_options import check_batch_method

            check_batch_method(batch_method)  # several goals: the batch always conditions on fantasies
            measured = table[[g.column for g in self.goals]].notna().any(axis=1).to_numpy()
            open_rows = ~table["candidate_id"].isin(pending).to_numpy() & ~ex.excluded
            pool, failed = table, ex.failed
            if self.space is not None:  # candidates drawn from the space beside the ledger's (design/campaign_multi.py)
                pool, open_rows, failed = space_pool(self, table, open_rows, ex.failed, measured, seed, batch)
            chosen, keys, ranking, multi_rows, _ = suggest_multi_batch(
                self, pool, open_rows, batch, scalarize, model, seed, acquisition=acquisition,
                allow_replicates=allow_replicates, failed=failed if ex.counts else None, transfer=transfer, same=same)
        elif self.space is None:
            open_rows = open_candidates(table, measured, pending, ex, allow_replicates)
            feats = featurize(ds, frame).to_numpy(dtype=float)
            if str(transfer or "none").lower() != "none":  # the pre-trained library (as fit --transfer auto)
                if self.config["kind"] != "composition":
                    raise InputError("--transfer uses the pre-trained composition library: it needs a formula column")
                from matloop.design.history import transfer_features

                feats = np.column_stack([feats, transfer_features(transfer, frame[self.config["input"]])])
            X_train, X_open = feats[measured], feats[open_rows]
            y_train = frame.loc[measured, target].to_numpy(dtype=float)
            if graph:  # the network reads the structures behind the feature rows
                model = graph_surrogate(ds, [(frame, feats, None)], seed)
            prior = self._history_prior(seed)
            if prior is not None:
                from matloop.design.history import apply_history, batch_note

                h = apply_history(prior, X_train, y_train, frame.loc[measured], X_open, frame.loc[open_rows], model,
                                  acquisition, batch_method, self.objective, seed)
                X_train, X_open, model, acquisition, batch_method = (h["X_train"], h["X_candidates"], h["model"],
                                                                     h["acquisition"], h["batch_method"])
                if h["used"]:
                    feats = np.column_stack([feats, h["extra"](frame)])
            shown, cats, top = (frame.loc[open_rows].drop(columns=[target]), category_features(ds),
                                top_score(order_labels(self.config), self.objective))
            ranking = rank_in_one_group(lambda pos, k: rank_candidates(  # pos: all open candidates, or --same's group
                X_train, y_train, X_open[pos], shown.iloc[pos], self.objective, k, acquisition, batch_method, model, seed,
                failed_X=feats[ex.failed] if ex.counts else None, categories=cats, top_score=top), len(X_open),
                same_groups(shown, same), batch, same or ())
            if prior is not None:  # (the note says when the campaign's results set the history aside)
                note = batch_note(h["note"], ranking.model_name)
                ranking.chosen["reason"] = ranking.chosen["reason"] + "; " + note.split(" (")[0]
                ranking.chosen.attrs["history"] = f"{note}: {prior.describe()}"
            chosen = ranking.chosen
            keys = table.loc[open_rows, "key"].to_numpy()[ranking.chosen_positions]
        else:
            chosen, keys, ranking = self._suggest_from_space(frame.loc[measured], batch, acquisition, batch_method,
                                                            model, seed, frame.loc[~measured & (table["candidate_id"]
                                                                                   .isin(pending).to_numpy() | ex.excluded)],
                                                            frame.loc[ex.failed] if ex.counts else None, transfer,
                                                            allow_replicates)
        data = chosen.drop(columns=[*OUTPUT_COLUMNS, "p_success", "p_feasible"], errors="ignore")
        rows = multi_rows if multi_rows is not None else pd.DataFrame(
            {"key": keys, "data": data.to_dict(orient="records"), "rank": chosen["rank"],
             "prediction": chosen["prediction"], "std": chosen["std"], "acquisition": chosen["acquisition"],
             "reason": chosen["reason"]})
        strategy = {"acquisition": ranking.acquisition, "batch": batch_method, "k": batch, "seed": seed}
        if getattr(ranking, "feasibility_model", None):
            strategy["feasibility"] = ranking.feasibility_model
        if getattr(ds, "encoding", None) is not None and not ds.encoding.trivial:  # how inputs became numbers
            strategy["encoding"] = ds.encoding.records()
        if multi_rows is not None:  # every goal's prediction and std by rank (matloop serve's parity panels)
            from matloop.design.campaign_multi import goal_predictions

            strategy["goal_predictions"] = goal_predictions(chosen, [g.column for g in self.goals])
        if out_path is None:
            self.ledger.add_suggestions(rows, strategy, ranking.model_name, ranking.model_version,
                                        int(measured.sum()), actor)
            return chosen
        staged = _staging_path(out_path)

        def write_staged():
            from matloop.io.write import write_table

            try:
                write_table(with_result_columns(chosen, outcome_columns(self.config)), staged,  # blanks to fill in
                            round_columns=[c for c in chosen.columns if c not in frame.columns  # 6 digits
                                           and c not in ("rank", "reason", *(self.config.get("parameter_columns") or []))])
            except OSError as exc:
                raise MatloopError(f"cannot write {out_path} ({exc.strerror or exc}); nothing was stored "
                                   "in the ledger") from None
        try:
            self.ledger.add_suggestions(rows, strategy, ranking.model_name, ranking.model_version,
                                        int(measured.sum()), actor, before_commit=write_staged)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        try:
            os.replace(staged, out_path)
        except OSError as exc:
            raise MatloopError(f"the batch is stored in the ledger and written to {staged}, but it could not be "
                               f"renamed to {out_path} ({exc.strerror or exc})") from None
        return chosen

    def _suggest_from_space(self, measured: pd.DataFrame, batch, acquisition, batch_method, model, seed,
                            pending: pd.DataFrame | None = None, failed: pd.DataFrame | None = None,
                            transfer: str = "none", replicates: bool = False):
        """A batch from the design space: a space-filling design (scrambled Sobol, k-means medoids) while fewer
        than 2 results are measured, else the acquisition's optimisation. Every point is rounded to the
        parameters' resolution, is not measured or awaiting results, and differs from the batch's other
        points by at least the space's ``min_separation`` (so a batch is never near-identical points)."""
        from matloop.design.coldstart import cold_start_ranking, in_space_words, space_filling_design

        space, target, cols = self.space, self.config["target"], self.space.columns
        rng = np.random.default_rng(seed)
        measured = measured.reindex(columns=[*cols, target])  # an empty ledger has no columns yet
        done = measured[cols] if pending is None or not len(pending) else pd.concat(
            [measured[cols], pending.reindex(columns=cols)], ignore_index=True)
        if len(measured) < 2:
            design = space_filling_design(space, batch, measured=done, seed=seed)
            ranking = cold_start_ranking(space.unit(design), design, batch, seed=seed)
            ranking.chosen["reason"] = in_space_words(ranking.chosen["reason"])
            return ranking.chosen, parameter_keys(ranking.chosen, cols), ranking
        from matloop.design.history import history_helps, space_transfer_encoder

        base = space.encode if str(transfer or "none").lower() == "none" else space_transfer_encoder(space, transfer)
        encode, y, note = base, measured[target].to_numpy(dtype=float), None
        prior = self._history_prior(seed)
        if prior is not None:  # the history's prediction as an input, unless the safeguard sets it aside
            def encode(frame):
                return np.column_stack([base(frame), prior.predict(frame)])
            keep, note = history_helps(encode(measured), y, model, seed, use="feature",
                                       sign=None if self.objective.direction == "range" else self.objective.sign)
            encode = encode if keep else base
        X = encode(measured)
        surrogate = make_surrogate(model, seed).fit(X, y)
        acq = make_acquisition(acquisition or default_acquisition(self.objective), self.objective)
        best = self.objective.best(y)

        def score(frame: pd.DataFrame) -> np.ndarray:
            from matloop.design.acquisition import Context, Posterior

            mu, sd = surrogate.predict(encode(frame), return_std=True)
            post = self.objective.posterior(mu, sd) if self.objective.direction != "range" else Posterior(mu, sd)
            return acq(post, Context(best=best, rng=rng))

        found = space.round(optimize(space, score, n=max(400, 40 * batch), rng=rng)[cols])
        spread = space_filling_design(space, 4 * batch, measured=done, seed=seed)  # exploration options
        ideas = self.ledger.candidates()  # an expert's own points (campaign add) compete too, first in line
        ideas = ideas.loc[ideas["source"] == "expert"].reindex(columns=cols) if len(ideas) else spread.iloc[:0]
        again = measured[cols] if replicates else spread.iloc[:0]  # measured points come back with replicates allowed
        pool = pd.concat([ideas, again, found[space.feasible(found)], spread],
                         ignore_index=True).drop_duplicates(subset=cols)
        known = set(parameter_keys(pending.reindex(columns=cols) if replicates and pending is not None else done, cols))
        pool = pool[[k not in known for k in parameter_keys(pool, cols)]].reset_index(drop=True)
        cand = pool.iloc[space.distinct(pool)].reset_index(drop=True)  # best first: thinning keeps the best
        ranking = rank_candidates(X, y, encode(cand), cand, self.objective, batch, acquisition, batch_method,
                                  model, seed, failed_X=None if failed is None else encode(failed),
                                  top_score=top_score(order_labels(self.config), self.objective))
        if note is not None:
            ranking.chosen["reason"] = ranking.chosen["reason"] + "; " + note.split(" (")[0]
            ranking.chosen.attrs["history"] = f"{note}: {prior.describe()}"
        return ranking.chosen, parameter_keys(ranking.chosen, cols), ranking

    def _history_prior(self, seed: int = 0):
        """The :class:`~matloop.design.history.HistoryPrior` of the history tables stored at creation, or None."""
        if not self.config.get("history"):
            return None
        from matloop.design.history import HistoryPrior, history_tables

        cfg = self.config
        params = (cfg.get("parameter_columns") or []) if cfg["kind"] == "parameters" else [cfg.get("input")]
        ds = self._dataset(pd.DataFrame(columns=[*params, cfg["target"]])) if cfg["kind"] != "parameters" else None
        return HistoryPrior(list(params), cfg["target"], seed, ds).fit(history_tables(cfg["history"]))

    def _pending_ids(self) -> set[int]:  # suggested and not abandoned (campaign abandon)
        return set(awaited_suggestions(self.ledger))

    def record(self, results: pd.DataFrame, source: str, rows: list[int] | None = None, allow_new: bool = False,
               actor: str | None = None) -> RecordResult:
        """Record measured values from a results table (must hold the material/parameter columns
        and the target column)."""
        cfg = self.config
        rows = rows or list(range(1, len(results) + 1))
        order = cfg.get("target_order")
        if order and order["column"] in results.columns:  # labels -> scores; failures decided on the labels
            results = score_labels(results, order["column"], order["labels"], rows, cfg.get("failed_if"))
        if cfg["kind"] == "parameters":
            missing = [c for c in cfg["parameter_columns"] if c not in results.columns]
            if missing:
                raise InputError("results lack parameter columns", error_table(
                    [{"row": 0, "column": c, "value": None, "reason": "column missing from the results"}
                     for c in missing]))
            from matloop.design.ledger_keys import ledger_parameter_keys

            keys = ledger_parameter_keys(cfg, results)  # canonical SMILES where the campaign keys them so
            if self.space is not None and not allow_new:  # any point inside the declared space is a candidate
                cands = self.ledger.candidates()
                known = set(cands["key"]) if len(cands) else set()
                outs = [c for c in outcome_columns(cfg) if c in results.columns]  # the goal(s) and constraint columns
                filled = results[outs].notna().any(axis=1).to_numpy() if outs else []
                new_rows = [i for i, k in enumerate(keys) if k not in known and (len(filled) == 0 or filled[i])]
                problems = self.space.violations(results.iloc[new_rows], [rows[i] for i in new_rows])
                if problems:
                    raise InputError("Nothing was recorded: these results lie outside the campaign's design space "
                                     "(record them anyway with --allow-new)", error_table(problems))
                allow_new = True
        else:
            if cfg["input"] not in results.columns:
                raise InputError("results lack the material column", error_table(
                    [{"row": 0, "column": cfg["input"], "value": None,
                      "reason": f"column missing (columns: {list(results.columns)})"}]))
            keys = material_keys(self._dataset(results), results, rows=rows)  # errors name the file's rows
        if len(self.goals) > 1 or cfg.get("constraints"):  # several measured columns (design/campaign_multi.py)
            from matloop.design.campaign_multi import record_multi

            return record_multi(self, results, keys, source, rows, allow_new, actor)
        return record_results(self, results, keys, source, rows, allow_new, actor)  # ok and failed rows

    def export(self) -> pd.DataFrame:
        """Everything: one row per measurement (with its candidate's columns) and one per unmeasured
        candidate, plus every suggestion's rank, prediction and batch (:func:`export_table`)."""
        return export_table(self)

