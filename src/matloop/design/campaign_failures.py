"""A campaign's failed experiments, vetoes and expert candidates (what :class:`~matloop.design.campaign.Campaign`
delegates to, so that the campaign module stays about the loop itself).

- :func:`record_results`: one results table with ``ok`` and ``failed`` rows (``status`` column or
  the campaign's ``failed_if`` rule) recorded in ONE transaction: measurements for the ok rows,
  failure events (with reason, who, when, file and the whole row) for the failed ones.
- :func:`exclusions`: which candidates a suggestion must leave out (vetoed always; failed unless
  ``retry_failed``) and which count as failures for the feasibility model.
- :func:`export_events`: failures, vetoes and additions joined to ``campaign export``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from matloop.design.ledger import RecordResult, default_actor, now
from matloop.design.ledger_events import (
    abandon,
    add_candidates,
    awaited_suggestions,
    candidate_flags,
    ensure_events_table,
    read_events,
    record_failures,
    resolve_candidates,
    retracted_in,
    veto,
)
from matloop.design.outcomes import REASON_COLUMN, STATUS_COLUMN, failure_outcomes
from matloop.errors import InputError, error_table
from matloop.io.detect import missing_column_message
from matloop.io.validate import number_hint


def record_results(campaign, results: pd.DataFrame, keys: list[str], source: str, rows: list[int],
                   allow_new: bool, actor: str | None, targets: list[str] | None = None) -> RecordResult:
    """Record ok rows as measurements and failed rows as failures, all or nothing (one transaction).

    ``targets``: the measured columns the ok rows record (default: the campaign's one target; a
    campaign with several goals passes every goal and constraint column the results hold)."""
    ledger = campaign.ledger
    targets = list(targets) if targets else [campaign.config["target"]]
    rule = campaign.config.get("failed_if")
    if STATUS_COLUMN not in results.columns and rule is None:
        return ledger.record(results, keys, targets, source, rows, allow_new, actor)
    failed, reasons = failure_outcomes(results, rows, rule)
    reasons = _not_the_suggestions_reason(ledger, failed, reasons)
    ok = ~failed
    missing = [t for t in targets if t not in results.columns]
    if ok.any() and missing:
        raise InputError("Cannot record these results", error_table(
            [{"row": 0, "column": t, "value": None,
              "reason": missing_column_message("results", t, results.columns)} for t in missing]))
    if not failed.any():
        return ledger.record(results, keys, targets, source, rows, allow_new, actor)
    ensure_events_table(ledger)
    actor = actor or default_actor()
    stamp = now()
    pos_ok, pos_failed = np.flatnonzero(ok), np.flatnonzero(failed)
    # the ok rows' own cells only: a status or reason column is bookkeeping, kept in the row's extra
    ok_rows = results.iloc[pos_ok]

    def work(conn):
        done = (ledger._record(conn, ok_rows, [keys[i] for i in pos_ok], targets, source,
                               [rows[i] for i in pos_ok], allow_new, actor, stamp)
                if len(pos_ok) else RecordResult(0, 0, 0))
        fails = record_failures(conn, ledger, results.iloc[pos_failed], [keys[i] for i in pos_failed],
                                [rows[i] for i in pos_failed], [reasons[i] for i in pos_failed], source, allow_new,
                                actor, stamp)
        return RecordResult(done.inserted, done.already_recorded, done.new_candidates + fails.new_candidates,
                            fails.inserted, fails.already_recorded, done.experiments, done.duplicate_ids)
    return ledger._write(work)


def _not_the_suggestions_reason(ledger, failed: np.ndarray, reasons: list[str]) -> list[str]:
    """A batch file's ``reason`` column holds matloop's reason for each suggestion; a failed row that kept
    it gave no reason of its own: it is recorded as ``status failed`` (a note says so), never as the
    failure's cause."""
    if not failed.any():
        return reasons
    stored = ledger.suggestions()
    ours = set(stored["reason"].astype(str).str.strip()) if len(stored) else set()
    mine = {int(i) for i in np.flatnonzero(failed) if reasons[i].strip() in ours}
    if not mine:
        return reasons
    from matloop.progress import say

    say(f"note: {len(mine)} failed row{'s' if len(mine) != 1 else ''} kept the suggestion's own reason in the "
        "'reason' column: recorded as 'status failed' (write why the experiment failed there to keep it)")
    return ["status failed" if i in mine else r for i, r in enumerate(reasons)]


@dataclass
class Exclusions:
    """Per row of ``Campaign.table()``: left out of suggestions, failed (for P(success)), vetoed."""

    excluded: np.ndarray
    failed: np.ndarray
    vetoed: np.ndarray
    counts: bool  # whether failures count at all (a rule, or failures recorded)


def open_candidates(table: pd.DataFrame, measured: np.ndarray, pending, ex: Exclusions,
                    allow_replicates: bool = False) -> np.ndarray:
    """The rows of ``Campaign.table()`` a suggestion may choose: not measured (unless ``allow_replicates``),
    not awaiting results (``pending``: candidate ids), not failed or vetoed (``ex``). An error saying why
    when none is left, rather than "no candidates" on a campaign that has them."""
    measured = np.asarray(measured, dtype=bool)
    waiting = table["candidate_id"].isin(set(pending)).to_numpy()
    open_rows = (~measured | allow_replicates) & ~waiting & ~ex.excluded
    if open_rows.any():
        return open_rows
    raise InputError(f"no candidate is left to suggest: of the campaign's {len(open_rows)} candidates "
                     f"{int(measured.sum())} are measured, {int((waiting & ~ex.excluded).sum())} await results "
                     f"(suggested, not recorded yet), {int(ex.failed.sum())} failed and {int(ex.vetoed.sum())} are "
                     "vetoed. Record results (matloop campaign record), free suggestions that will not be run "
                     "(matloop campaign abandon), add candidates (matloop campaign add), or ask for "
                     "--allow-replicates or --retry-failed")


def exclusions(campaign, table: pd.DataFrame, retry_failed: bool = False) -> Exclusions:
    """Vetoed candidates are never suggested; failed ones (never measured successfully) only with
    ``retry_failed``."""
    target = campaign.config["target"]
    measured_ids = set(table.loc[table[target].notna(), "candidate_id"])
    flags = candidate_flags(campaign.ledger, measured_ids)
    ids = table["candidate_id"]
    failed = ids.isin(set(flags.loc[flags["failed"].astype(bool), "candidate_id"])).to_numpy()
    vetoed = ids.isin(set(flags.loc[flags["vetoed"].astype(bool), "candidate_id"])).to_numpy()
    excluded = vetoed | (failed & (not retry_failed))
    counts = bool(campaign.config.get("failed_if")) or bool(flags["n_failed"].sum() if len(flags) else 0)
    return Exclusions(excluded, failed, vetoed, counts)


def failure_counts(campaign) -> tuple[int, int]:
    """(candidates that failed and were never measured, candidates vetoed)."""
    table = campaign.table()
    ex = exclusions(campaign, table)
    return int(ex.failed.sum()), int(ex.vetoed.sum())


def veto_candidates(campaign, given: list[str], reason: str, actor: str | None = None):
    """``campaign veto``: rule out candidates named by key, material or ``#N``."""
    chosen = resolve_candidates(campaign.ledger, given, lambda texts: _keys(campaign, texts))
    return veto(campaign.ledger, chosen, reason, actor)


def abandon_candidates(campaign, given: list[str], reason: str, actor: str | None = None,
                       all_pending: bool = False):
    """``campaign abandon``: suggested experiments that will not be run (named by key, material or ``#N``,
    or every one awaiting results): they stop awaiting results and may be suggested again."""
    table = campaign.table()
    measured = table[[g.column for g in campaign.goals]].notna().any(axis=1)
    done = set(table.loc[measured | exclusions(campaign, table).failed, "candidate_id"])
    awaited = awaited_suggestions(campaign.ledger)
    waiting = set(awaited) - done
    keys = table.set_index("candidate_id")["key"]
    if all_pending:  # nothing awaited: nothing to do (not an error)
        chosen = [(int(c), str(keys[c])) for c in sorted(waiting)]
    else:
        chosen = resolve_candidates(campaign.ledger, given, lambda texts: _keys(campaign, texts))
        bad = [g for g, (c, _) in zip(given, chosen, strict=True) if c not in waiting]  # as the user wrote them
        if bad:
            raise InputError("Nothing was abandoned: only suggestions awaiting results can be", error_table(
                [{"row": 0, "column": "--candidate", "value": k, "reason": "not awaiting results (never suggested, "
                  "or measured, failed or abandoned already)"} for k in bad]))
    return abandon(campaign.ledger, [(c, k, awaited[c]) for c, k in chosen], reason, actor)


def _keys(campaign, texts: list[str]) -> list[str]:
    from matloop.design.surrogate import material_keys

    cfg = campaign.config
    if cfg["kind"] == "parameters":
        return [_parameter_key(campaign, t) for t in texts]
    frame = pd.DataFrame({cfg["input"]: texts})
    return material_keys(campaign._dataset(frame), frame, rows=list(range(1, len(texts) + 1)))


def _parameter_key(campaign, text: str) -> str:
    """``"temperature=700, time=3"`` -> the parameter key (every parameter column must be given)."""
    from matloop.design.ledger_keys import ledger_parameter_keys

    cols = campaign.config["parameter_columns"]
    values = {}
    for part in str(text).split(","):
        if "=" in part:
            name, value = part.split("=", 1)
            values[name.strip()] = value.strip()
    if set(values) != set(cols):
        raise ValueError("not a full parameter setting")
    return ledger_parameter_keys(campaign.config, pd.DataFrame([values]), cols)[0]


def _composition_problems(known: pd.DataFrame, frame: pd.DataFrame, numeric: list[str], rows: list[int]) -> list[dict]:
    """Added rows whose element loadings break the sum every candidate's loadings keep (1 or 100: a
    composition the encoder recognised, :class:`~matloop.represent.parameter_encoder.ParameterEncoder`)."""
    if not len(known) or len(numeric) < 2:
        return []
    from matloop.represent.parameter_encoder import SUM_TOL, ParameterEncoder

    out = []
    for group in ParameterEncoder().fit(known[numeric]).groups_:
        cols, scale = group["columns"], group["scale"]
        W = frame[cols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        for r, w in zip(rows, W, strict=True):
            if np.isfinite(w).all() and ((w < 0).any() or abs(w.sum() - scale) > SUM_TOL * scale):
                out.append({"row": int(r), "column": "+".join(cols), "value": f"{w.sum():g}",
                            "reason": f"the loadings must be >= 0 and sum to {scale:g}, as every candidate's do"})
    return out


def add_expert_candidates(campaign, frame: pd.DataFrame, rows: list[int], reason: str, source: str,
                          actor: str | None = None):
    """``campaign add``: an expert's own candidates (the material column or every parameter column;
    no measured target: results go through ``campaign record``)."""
    from matloop.design.campaign_multi import outcome_columns
    from matloop.design.ledger_keys import ledger_parameter_keys
    from matloop.design.surrogate import material_keys

    cfg = campaign.config
    problems = []
    for col in [c for c in outcome_columns(cfg) if c in frame.columns]:  # the goal(s) and constraint columns
        filled = frame[col].notna().to_numpy()
        problems += [{"row": int(r), "column": col, "value": v,
                      "reason": "an added candidate has no result yet: record results with 'campaign record'"}
                     for r, v, f in zip(rows, frame[col], filled, strict=True) if f]
    if cfg["kind"] == "parameters":
        missing = [c for c in cfg["parameter_columns"] if c not in frame.columns]
        problems += [{"row": 0, "column": c, "value": None, "reason": "column missing from the table"} for c in missing]
    elif cfg["input"] not in frame.columns:
        problems.append({"row": 0, "column": cfg["input"], "value": None,
                         "reason": f"column missing (columns: {list(frame.columns)})"})
    if problems:
        raise InputError("Nothing was added", error_table(problems))
    from matloop.io.table import convert_numeric_columns

    keep = [c for c in frame.columns if c not in (*outcome_columns(cfg), STATUS_COLUMN, REASON_COLUMN)]
    frame = convert_numeric_columns(frame[keep], skip={cfg.get("input")} - {None})  # "700" read as text is 700
    if cfg["kind"] == "parameters":
        cols = cfg["parameter_columns"]
        known = campaign.ledger.candidates()
        numeric = [c for c in cols if c in known.columns and pd.api.types.is_numeric_dtype(known[c])]
        bad = [{"row": int(r), "column": c, "value": v, "reason": "not a number (the campaign's values are numbers)" + number_hint(v)}
               for c in numeric for r, v in zip(rows, frame[c], strict=True)
               if pd.isna(pd.to_numeric(pd.Series([v]), errors="coerce").iloc[0])]
        bad += _composition_problems(known, frame, numeric, rows)
        if campaign.space is not None and not bad:  # an idea inside the declared space, or none
            bad = campaign.space.violations(frame, rows)
        if bad:
            raise InputError("Nothing was added" + (": these candidates lie outside the campaign's design space"
                                                    if campaign.space is not None else ""), error_table(bad))
        keys = ledger_parameter_keys(cfg, frame, cols)  # canonical SMILES where the campaign keys them so
    else:
        keys = material_keys(campaign._dataset(frame), frame, rows=rows)
    return add_candidates(campaign.ledger, frame, keys, rows, reason, source, actor)


def export_events(campaign, out: pd.DataFrame) -> pd.DataFrame:
    """``campaign export`` with a ``status`` column (ok for measurements), one row per failure (status
    failed, its reason, who and when), and per candidate its veto (``vetoed_reason``, ``vetoed_by``).
    Entries retracted since keep their rows, with status ``retracted`` / ``failed (retracted)`` and
    ``retracted_reason``; a retracted veto is no veto."""
    ev = read_events(campaign.ledger, retracted=True)
    gone = retracted_in(ev)
    out = out.copy()
    out["status"] = np.where(out["measured_value"].notna(), "ok", None) if "measured_value" in out else None
    out["failure_reason"] = None
    if ev.empty:
        return out
    if gone and "measurement_id" in out:
        why = [gone.get(f"m{int(i)}") if pd.notna(i) else None for i in out["measurement_id"]]
        out["retracted_reason"] = why
        out.loc[[w is not None for w in why], "status"] = "retracted"
    fails = ev[ev["kind"] == "failed"]
    fails = fails.assign(retracted_reason=[gone.get(f"e{i}") for i in fails["id"]])
    if len(fails):
        cands = campaign.ledger.candidates()
        rows = cands.merge(fails[["candidate_id", "reason", "recorded_at", "recorded_by", "source", "retracted_reason"]]
                           .rename(columns={"reason": "failure_reason", "source": "measurement_source"}),
                           on="candidate_id", how="inner")
        rows["status"] = np.where(rows["retracted_reason"].notna(), "failed (retracted)", "failed")
        if not rows["retracted_reason"].notna().any():
            rows = rows.drop(columns="retracted_reason")
        # a candidate listed only as "unmeasured" loses that row once it has a failure
        unmeasured = out["measured_value"].isna() & out["candidate_id"].isin(set(fails["candidate_id"]))
        if "suggested_rank" in out:
            extra = out.loc[out["candidate_id"].isin(set(fails["candidate_id"])),
                            [c for c in out.columns if c.startswith("suggest") or c in ("model", "model_version")]
                            + ["candidate_id"]].drop_duplicates("candidate_id")
            rows = rows.merge(extra, on="candidate_id", how="left")
        out = pd.concat([out.loc[~unmeasured], rows], ignore_index=True, sort=False)
    active = np.array([f"e{i}" not in gone for i in ev["id"]], dtype=bool)
    vetoes = ev[(ev["kind"] == "veto").to_numpy() & active].drop_duplicates("candidate_id", keep="last")
    out["vetoed_reason"] = out["candidate_id"].map(vetoes.set_index("candidate_id")["reason"])
    out["vetoed_by"] = out["candidate_id"].map(vetoes.set_index("candidate_id")["recorded_by"])
    return out


@dataclass
class InitialFailures:
    """Failed rows of the pool table given to ``campaign new``: ``mask`` over its rows and ``write``,
    run inside the transaction that creates the campaign (None when no row failed)."""

    mask: np.ndarray
    write: object = None


def initial_failures(frame: pd.DataFrame, keys: list[str], rows, rule: str | None) -> InitialFailures:
    """The pool table's failed rows (``status`` column or ``rule``), recorded with the campaign."""
    from matloop.design.campaign import INITIAL_SOURCE

    if STATUS_COLUMN not in frame.columns and rule is None:
        return InitialFailures(np.zeros(len(frame), dtype=bool))
    rows = [int(r) for r in np.asarray(rows)]
    failed, reasons = failure_outcomes(frame, rows, rule)
    pos = np.flatnonzero(failed)
    if not len(pos):
        return InitialFailures(failed)

    def write(conn, ledger, actor, stamp):
        record_failures(conn, ledger, frame.iloc[pos], [keys[i] for i in pos], [rows[i] for i in pos],
                        [reasons[i] for i in pos], INITIAL_SOURCE, False, actor, stamp)
    return InitialFailures(failed, write)


def add_failure_section(report, campaign) -> None:
    """The report's "Failed experiments" section: how many failed, where failures cluster (failure rate
    per label and per quartile of each input, strongest clusters first) and the failures themselves.
    Nothing is added when no experiment failed."""
    from matloop.design.feasibility import failure_clusters

    table = campaign.table()
    target = campaign.config["target"]
    ex = exclusions(campaign, table)
    if not ex.failed.any():
        return
    tried = table[target].notna().to_numpy() | ex.failed
    cfg = campaign.config
    skip = {"candidate_id", "key", "source", "n_measurements", target, STATUS_COLUMN, REASON_COLUMN, cfg.get("input")}
    frame = table.loc[tried].reset_index(drop=True)
    columns = (list(cfg.get("parameter_columns") or []) if cfg["kind"] == "parameters"
               else [c for c in table.columns if c not in skip])
    if cfg["kind"] == "composition":  # materials: failure rate of the compositions holding each element
        elements = _element_columns(frame["key"].tolist())
        frame = pd.concat([frame, elements], axis=1)
        columns = [*elements.columns, *columns]
    clusters, sentence = failure_clusters(frame, ex.failed[tried], columns)
    if len(clusters):
        clusters = clusters[clusters["group"] != "absent"].reset_index(drop=True)
    report.add_section("Failed experiments", sentence + " Failed candidates are not suggested again (unless "
                       "--retry-failed); P(success) from a calibrated classifier multiplies the acquisition.")
    if len(clusters):
        report.add_table(clusters, caption="Failure rate per label and per quartile of each input (groups of at "
                                           "least 3 experiments; the strongest clusters first)", max_rows=20)
    ev = read_events(campaign.ledger)
    fails = ev[ev["kind"] == "failed"][["recorded_at", "key", "reason", "recorded_by", "source"]]
    report.add_table(fails, caption="Every failure recorded, with who recorded it and why", max_rows=40)
    vetoes = ev[ev["kind"] == "veto"][["recorded_at", "key", "reason", "recorded_by"]]
    if len(vetoes):
        report.add_table(vetoes, caption="Vetoed candidates (never suggested)", max_rows=40)


def _element_columns(formulas: list[str], most: int = 30) -> pd.DataFrame:
    """``present`` / ``absent`` per element (the ``most`` commonest) of canonical formulas."""
    from matloop.io.formula import parse_formulas

    systems = [set(s.split("-")) for s in parse_formulas(formulas).chemical_systems()]
    counts = pd.Series([e for s in systems for e in s]).value_counts()
    keep = counts[counts >= 3].index[:most]
    return pd.DataFrame({e: ["present" if e in s else "absent" for s in systems] for e in keep})
