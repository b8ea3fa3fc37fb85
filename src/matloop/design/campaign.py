"""Campaigns: suggest, measure, record, repeat, with every step kept in the ledger.

A campaign is either pool-based (candidates are the rows of a table whose target is empty) or
space-based (candidates are generated from a YAML/JSON :class:`~matloop.design.space.DesignSpace`
by optimising the acquisition). Its configuration, candidates, suggestions (with the model and
acquisition values behind them) and measurements live in a :class:`~matloop.design.ledger.Ledger`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from matloop.design.acquisition import Objective, make_acquisition
from matloop.design.ledger import Ledger, RecordResult
from matloop.design.space import DesignSpace, optimize
from matloop.design.suggest import default_acquisition, rank_candidates
from matloop.design.surrogate import (
    DEFAULT_SURROGATE,
    featurize,
    make_surrogate,
    material_keys,
    parameter_keys,
)
from matloop.errors import InputError, MatloopError, error_table
from matloop.io.dataset import Dataset


@dataclass
class CampaignStatus:
    """A summary of where a campaign stands."""

    name: str
    target: str
    goal: str
    n_candidates: int
    n_measured: int
    n_suggested: int
    n_pending: int
    best: float | None
    best_material: str | None

    def __str__(self) -> str:
        lines = [f"campaign:   {self.name}", f"goal:       {self.goal} {self.target}",
                 f"candidates: {self.n_candidates}", f"measured:   {self.n_measured}",
                 f"suggested:  {self.n_suggested} ({self.n_pending} awaiting results)"]
        if self.best is not None:
            lines.append(f"best:       {self.best:.6g} ({self.best_material})")
        return "\n".join(lines)


def objective_from_config(config: dict) -> Objective:
    return Objective(config["direction"], config.get("low"), config.get("high"))


def goal_text(objective: Objective) -> str:
    if objective.direction == "range":
        return f"land in [{objective.low:g}, {objective.high:g}]:"
    return "maximise" if objective.direction == "max" else "minimise"


class Campaign:
    """A ledger-backed closed loop for one target."""

    def __init__(self, name: str, db: str):
        self.ledger = Ledger(db, name)
        self.config = self.ledger.config
        self.objective = objective_from_config(self.config)
        self.space = DesignSpace.from_dict(self.config["space"]) if self.config.get("space") else None

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(cls, name: str, db: str, objective: Objective, target: str, pool: Dataset | None = None,
               space: DesignSpace | None = None, space_spec: dict | None = None, actor: str | None = None,
               ) -> Campaign:
        """Start a campaign from a pool table or a design space. Measured rows of the pool table
        (target present) are recorded as the first measurements."""
        if (pool is None) == (space is None):
            raise MatloopError("a campaign needs exactly one of a pool table or a design space")
        config = {"target": target, "direction": objective.direction, "low": objective.low,
                  "high": objective.high}
        if pool is not None:
            if target not in pool.frame.columns:
                raise InputError(f"the pool table has no column {target!r}",
                                 error_table([{"row": 0, "column": target, "value": None,
                                               "reason": f"columns are {list(pool.frame.columns)}"}]))
            config.update(kind=pool.kind, input=pool.input, parameter_columns=pool.parameter_columns
                          if pool.kind == "parameters" else None, columns=list(map(str, pool.frame.columns)))
            keys = material_keys(pool)
            frame = pool.frame.copy()
            dupes = pd.Series(keys).duplicated(keep="first").to_numpy()
            ledger = Ledger.create(db, name, config, frame.loc[~dupes].drop(columns=[target]),
                                   [k for k, d in zip(keys, dupes, strict=True) if not d], actor)
            measured = pd.to_numeric(frame[target], errors="coerce").notna().to_numpy()
            if measured.any():
                rows = np.flatnonzero(measured)
                ledger.record(frame.iloc[rows], [keys[i] for i in rows], [target], "initial pool table",
                              [int(r) for r in np.asarray(pool.rows)[rows]], actor=actor)
        else:
            config.update(kind="parameters", input=None, parameter_columns=space.columns, space=space_spec,
                          columns=space.columns)
            Ledger.create(db, name, config, None, None, actor)
        return cls(name, db)

    # ------------------------------------------------------------------ state
    def _dataset(self, frame: pd.DataFrame) -> Dataset:
        cfg = self.config
        return Dataset(frame=frame, input=cfg.get("input"), kind=cfg["kind"], targets=[cfg["target"]])

    def table(self) -> pd.DataFrame:
        """Every candidate with its mean measured target (NaN if unmeasured) and replicate count."""
        cands = self.ledger.candidates()
        meas = self.ledger.measurements()
        target = self.config["target"]
        if len(meas):
            agg = meas[meas["target"] == target].groupby("candidate_id")["value"].agg(["mean", "count"])
            cands[target] = cands["candidate_id"].map(agg["mean"])
            cands["n_measurements"] = cands["candidate_id"].map(agg["count"]).fillna(0).astype(int)
        else:
            cands[target] = np.nan
            cands["n_measurements"] = 0
        return cands

    def status(self) -> CampaignStatus:
        t = self.table()
        target = self.config["target"]
        sug = self.ledger.suggestions()
        measured = t[target].notna()
        pending = 0 if sug.empty else len(set(sug["candidate_id"]) - set(t.loc[measured, "candidate_id"]))
        best = best_material = None
        if measured.any():
            y = t.loc[measured, target].to_numpy(dtype=float)
            if self.objective.direction == "range":
                i = int(np.argmin(self.objective.distance_to_window(y)))
            else:
                i = int(np.argmax(self.objective.sign * y))
            best = float(y[i])
            best_material = str(t.loc[measured, "key"].iloc[i])
        return CampaignStatus(self.ledger.name, target, goal_text(self.objective), len(t), int(measured.sum()),
                              0 if sug.empty else len(sug), pending, best, best_material)

    def history(self) -> pd.DataFrame:
        """Measurements in recording order with the best-so-far value (for progress plots)."""
        meas = self.ledger.measurements()
        meas = meas[meas["target"] == self.config["target"]].reset_index(drop=True)
        y = meas["value"].to_numpy(dtype=float)
        if self.objective.direction == "range":
            score = -self.objective.distance_to_window(y)
        else:
            score = self.objective.sign * y
        meas["experiment"] = np.arange(1, len(meas) + 1)
        best_idx = pd.Series(score).cummax()
        meas["best_so_far"] = [y[np.flatnonzero(score == b)[0]] for b in best_idx] if len(y) else []
        return meas

    # ------------------------------------------------------------------ actions
    def suggest(self, batch: int = 5, acquisition: str | None = None, batch_method: str = "penalized",
                model: str = DEFAULT_SURROGATE, seed: int = 0, actor: str | None = None) -> pd.DataFrame:
        """Choose the next batch, store it in the ledger, and return it (original columns +
        prediction, std, acquisition, rank, reason)."""
        table = self.table()
        target = self.config["target"]
        measured = table[target].notna().to_numpy()
        if measured.sum() < 2:
            raise InputError(f"record at least 2 measurements before asking for suggestions (have {measured.sum()})")
        pending = self._pending_ids()
        data_cols = [c for c in table.columns if c not in ("candidate_id", "key", "source", "n_measurements")]
        frame = table[data_cols]
        ds = self._dataset(frame)
        if self.space is None:
            open_rows = ~measured & ~table["candidate_id"].isin(pending).to_numpy()
            feats = featurize(ds, frame).to_numpy(dtype=float)
            ranking = rank_candidates(feats[measured], frame.loc[measured, target].to_numpy(dtype=float),
                                      feats[open_rows], frame.loc[open_rows].drop(columns=[target]),
                                      self.objective, batch, acquisition, batch_method, model, seed)
            chosen = ranking.chosen
            keys = table.loc[open_rows, "key"].to_numpy()[ranking.chosen_positions]
        else:
            chosen, keys, ranking = self._suggest_from_space(frame.loc[measured], batch, acquisition, batch_method,
                                                            model, seed)
        data = chosen.drop(columns=["prediction", "std", "acquisition", "rank", "reason"])
        rows = pd.DataFrame({"key": keys, "data": data.to_dict(orient="records"), "rank": chosen["rank"],
                             "prediction": chosen["prediction"], "std": chosen["std"],
                             "acquisition": chosen["acquisition"], "reason": chosen["reason"]})
        strategy = {"acquisition": ranking.acquisition, "batch": batch_method, "k": batch, "seed": seed}
        self.ledger.add_suggestions(rows, strategy, ranking.model_name, ranking.model_version,
                                    int(measured.sum()), actor)
        return chosen

    def _suggest_from_space(self, measured: pd.DataFrame, batch, acquisition, batch_method, model, seed):
        space = self.space
        target = self.config["target"]
        X = space.encode(measured)
        y = measured[target].to_numpy(dtype=float)
        rng = np.random.default_rng(seed)
        surrogate = make_surrogate(model, seed).fit(X, y)
        acq = make_acquisition(acquisition or default_acquisition(self.objective), self.objective)
        best = self.objective.best(y)

        def score(frame: pd.DataFrame) -> np.ndarray:
            from matloop.design.acquisition import Context, Posterior

            mu, sd = surrogate.predict(space.encode(frame), return_std=True)
            post = self.objective.posterior(mu, sd) if self.objective.direction != "range" else Posterior(mu, sd)
            return acq(post, Context(best=best, rng=rng))

        pool = optimize(space, score, n=max(200, 20 * batch), rng=rng)
        pool = pool[~pool[space.columns].apply(tuple, axis=1).isin(measured[space.columns].apply(tuple, axis=1))]
        cand = pool[space.columns].reset_index(drop=True)
        ranking = rank_candidates(X, y, space.encode(cand), cand, self.objective, batch, acquisition, batch_method,
                                  model, seed)
        keys = parameter_keys(ranking.chosen, space.columns)
        return ranking.chosen, keys, ranking

    def _pending_ids(self) -> set[int]:
        sug = self.ledger.suggestions()
        return set() if sug.empty else set(sug["candidate_id"])

    def record(self, results: pd.DataFrame, source: str, rows: list[int] | None = None, allow_new: bool = False,
               actor: str | None = None) -> RecordResult:
        """Record measured values from a results table (must hold the material/parameter columns
        and the target column)."""
        cfg = self.config
        rows = rows or list(range(1, len(results) + 1))
        if cfg["kind"] == "parameters":
            missing = [c for c in cfg["parameter_columns"] if c not in results.columns]
            if missing:
                raise InputError("results lack parameter columns", error_table(
                    [{"row": 0, "column": c, "value": None, "reason": "column missing from the results"}
                     for c in missing]))
            keys = parameter_keys(results, cfg["parameter_columns"])
        else:
            if cfg["input"] not in results.columns:
                raise InputError("results lack the material column", error_table(
                    [{"row": 0, "column": cfg["input"], "value": None,
                      "reason": f"column missing (columns: {list(results.columns)})"}]))
            keys = material_keys(self._dataset(results), results)
        return self.ledger.record(results, keys, [cfg["target"]], source, rows, allow_new, actor)

    def export(self) -> pd.DataFrame:
        """Everything: one row per measurement (with its candidate's columns) and one per
        unmeasured candidate, plus every suggestion's rank, prediction and batch."""
        cands = self.ledger.candidates()
        meas = self.ledger.measurements().rename(columns={"id": "measurement_id", "value": "measured_value",
                                                          "source": "measurement_source"})
        sug = self.ledger.suggestions()
        out = cands.merge(meas.drop(columns=["extra", "idempotency_key"]), on="candidate_id", how="left")
        if not sug.empty:
            s = sug.rename(columns={"id": "suggestion_id", "rank": "suggested_rank", "prediction": "suggested_prediction",
                                    "std": "suggested_std", "acquisition": "suggested_acquisition",
                                    "reason": "suggested_reason", "created_at": "suggested_at",
                                    "created_by": "suggested_by", "batch_id": "suggestion_batch"})
            keep = ["candidate_id", "suggestion_batch", "suggested_rank", "suggested_prediction", "suggested_std",
                    "suggested_acquisition", "suggested_reason", "model", "model_version", "suggested_at"]
            first = s[keep].drop_duplicates("candidate_id", keep="last")
            out = out.merge(first, on="candidate_id", how="left")
        return out


def read_space(path: str | Path) -> tuple[DesignSpace, dict]:
    """A space and its spec dict (stored in the ledger so the campaign is self-contained)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        spec = json.loads(path.read_text())
    else:
        import yaml

        spec = yaml.safe_load(path.read_text())
    return DesignSpace.from_dict(spec), spec
