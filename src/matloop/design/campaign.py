"""Campaigns: suggest, measure, record, repeat, with every step kept in the ledger.

A campaign is either pool-based (candidates are the rows of a table whose target is empty) or
space-based (candidates are generated from a YAML/JSON :class:`~matloop.design.space.DesignSpace`
by optimising the acquisition). Its configuration, candidates, suggestions (with the model and
acquisition values behind them) and measurements live in a :class:`~matloop.design.ledger.Ledger`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from matloop.design.acquisition import Objective, make_acquisition
from matloop.design.ledger import InitialMeasurements, Ledger, RecordResult
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

#: the ``source`` of measurements recorded from the pool table when the campaign was created
INITIAL_SOURCE = "initial pool table"


@dataclass
class CampaignStatus:
    """A summary of where a campaign stands (prints as labelled lines; renders as a table in Jupyter)."""

    name: str
    target: str
    goal: str
    n_candidates: int
    n_measured: int
    n_suggested: int
    n_pending: int
    best: float | None
    best_material: str | None
    best_setting: dict | None = None  # the best candidate's inputs by column name (parameters or material)
    n_initial: int = 0  # measured candidates given at creation (the start, not experiments of the campaign)
    n_experiments: int = 0  # measurements recorded after creation

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs, in display order."""
        out = [("campaign", self.name), ("goal", f"{self.goal} {self.target}"),
               ("candidates", str(self.n_candidates)),
               ("measured", f"{self.n_measured} candidates ({self.n_initial} measured in the start table, "
                            f"{self.n_experiments} measurement{'s' if self.n_experiments != 1 else ''} recorded since)"),
               ("suggested", f"{self.n_suggested} ({self.n_pending} awaiting results)")]
        if self.best is not None:
            out.append(("best value", f"{self.best:.6g}"))
            out.append(("best at", self.best_text()))
        return out

    def best_text(self) -> str:
        """The best candidate as ``column = value`` pairs (never an unlabelled vector)."""
        if not self.best_setting:
            return str(self.best_material)
        return ", ".join(f"{k} = {_fmt(v)}" for k, v in self.best_setting.items())

    def __str__(self) -> str:
        rows = self.rows()
        width = max(len(k) for k, _ in rows) + 2
        return "\n".join(f"{k + ':':<{width}}{v}" for k, v in rows)

    def _repr_html_(self) -> str:
        import html

        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
                       f"{html.escape(v)}</td></tr>" for k, v in self.rows())
        return f"<table>{body}</table>"


def _fmt(value) -> str:
    if isinstance(value, float | np.floating) and not isinstance(value, bool):
        return f"{float(value):.6g}"
    return str(value)


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
            cells = frame[target].to_numpy(dtype=object)
            # a filled cell is a measurement (the ledger refuses one that is not a finite number); only an
            # empty cell makes a candidate, never a value that fails to parse
            measured = ~(pd.isna(cells) | np.array([isinstance(v, str) and not v.strip() for v in cells], dtype=bool))
            rows = np.flatnonzero(measured)
            initial = InitialMeasurements(frame.iloc[rows], [keys[i] for i in rows], [target], INITIAL_SOURCE,
                                          [int(r) for r in np.asarray(pool.rows)[rows]])
            # one transaction: the campaign, its candidates and its first measurements, or nothing
            Ledger.create(db, name, config, frame.loc[~dupes].drop(columns=[target]),
                          [k for k, d in zip(keys, dupes, strict=True) if not d], actor, measured=initial)
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
        best = best_material = best_setting = None
        if measured.any():
            y = t.loc[measured, target].to_numpy(dtype=float)
            if self.objective.direction == "range":
                i = int(np.argmin(self.objective.distance_to_window(y)))
            else:
                i = int(np.argmax(self.objective.sign * y))
            best = float(y[i])
            row = t.loc[measured].iloc[i]
            best_material = str(row["key"])
            cols = (self.config.get("parameter_columns") or [] if self.config["kind"] == "parameters"
                    else [self.config.get("input")])
            best_setting = {c: row[c] for c in cols if c in row.index} or None
        meas = self.ledger.measurements()
        meas = meas[meas["target"] == target]
        n_initial = int(meas.loc[meas["source"] == INITIAL_SOURCE, "candidate_id"].nunique())
        return CampaignStatus(self.ledger.name, target, goal_text(self.objective), len(t), int(measured.sum()),
                              0 if sug.empty else len(sug), pending, best, best_material, best_setting, n_initial,
                              int((meas["source"] != INITIAL_SOURCE).sum()))

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
    def suggest(self, batch: int = 5, acquisition: str | None = None, batch_method: str = "penalized",
                model: str = DEFAULT_SURROGATE, seed: int = 0, actor: str | None = None,
                output: str | Path | None = None) -> pd.DataFrame:
        """Choose the next batch, store it in the ledger, and return it (original columns +
        prediction, std, acquisition, rank, reason).

        With ``output`` the batch is also written there, all or nothing with the ledger: the file name
        and folder are checked before any work, the file is written (to a temporary name beside it)
        inside the ledger transaction, and renamed into place after the commit. A batch that cannot be
        written is not stored, so its candidates are not left "awaiting results"."""
        out_path = check_output(output) if output is not None else None
        if batch < 1:
            raise InputError(f"the batch size must be at least 1, got {batch}")
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
        if out_path is None:
            self.ledger.add_suggestions(rows, strategy, ranking.model_name, ranking.model_version,
                                        int(measured.sum()), actor)
            return chosen
        staged = _staging_path(out_path)

        def write_staged():
            from matloop.io.write import write_table

            try:
                write_table(chosen, staged, round_columns=["prediction", "std", "acquisition"])  # 6 digits
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
            keys = material_keys(self._dataset(results), results, rows=rows)  # errors name the file's rows
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


def check_output(path: str | Path) -> Path:
    """The batch's output file, checked before any work: a table format matloop writes, an existing
    writable folder, not a folder itself. Raises :class:`InputError` naming the problem."""
    from matloop.io.write import output_format

    path = Path(path)
    output_format(path)
    folder = path.parent
    problem = None
    if path.is_dir():
        problem = "is a folder"
    elif not folder.is_dir():
        problem = f"its folder {str(folder)!r} does not exist"
    elif not os.access(folder, os.W_OK | os.X_OK):
        problem = f"its folder {str(folder)!r} is not writable"
    elif path.exists() and not os.access(path, os.W_OK):
        problem = "the file exists and is not writable"
    if problem:
        raise InputError(f"cannot write {str(path)!r}: {problem}",
                         error_table([{"row": 0, "column": "--output", "value": str(path), "reason": problem}]))
    return path


def _staging_path(path: Path) -> Path:
    """A temporary name beside ``path`` with the same suffixes (so the format is the same), renamed
    over ``path`` in one step once the ledger has committed."""
    import secrets

    return path.with_name(f".{secrets.token_hex(4)}.partial-{path.name}")


def read_space(path: str | Path) -> tuple[DesignSpace, dict]:
    """A space and its spec dict (stored in the ledger so the campaign is self-contained)."""
    from matloop.io.specfile import read_spec

    path = Path(path)
    spec = read_spec(path)  # size-capped, unique keys, no YAML aliases; problems are InputError
    try:
        return DesignSpace.from_dict(spec), spec
    except InputError:
        raise
    except (MatloopError, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise InputError(f"{path.name}: {exc}") from None
