"""Every read and write of ``matloop serve``, as plain functions over
:class:`~matloop.design.campaign.Campaign` (the REST API and the dashboard both call these; routers hold
no SQL).

``db`` is a :class:`~matloop.serve.db.LedgerDB` (the server's shared engine) or a ledger URL. Bad input
raises :class:`~matloop.errors.InputError` with the row/column/value/reason table (rows are 1-based
positions in the rows sent); an unknown campaign raises :class:`CampaignNotFound`, a taken name
:class:`CampaignExists`.

Results (:func:`record_results`) are recorded all or nothing per request: every write the campaign
makes for them (measurements, failures, the request's idempotency record) runs in ONE transaction.
The ledger already makes each measurement idempotent; an ``Idempotency-Key`` also makes the request
itself so: a request sent again with the same key and rows gets the first answer back, recorded once.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from matloop.errors import InputError, MatloopError, error_table
from matloop.serve.checks import BOOKKEEPING, check_cells, check_failed_rows_known, check_key, check_name  # noqa: F401
from matloop.serve.db import LedgerDB, as_db

_SUGGEST_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


class CampaignNotFound(MatloopError):
    """No campaign of that name in the ledger (HTTP 404)."""


class CampaignExists(MatloopError):
    """A campaign of that name already exists (HTTP 409)."""


class _Replay(Exception):  # noqa: N818 - control flow: the request was already answered
    def __init__(self, response: dict):
        self.response = response


# ---------------------------------------------------------------------------------------------- reads
def open_campaign(db: LedgerDB | str, name: str, read_only: bool = False):
    """The :class:`~matloop.design.campaign.Campaign` ``name`` on the shared engine (``read_only``: on
    the engine for reads, which never waits for a writer; the campaign must then not be written)."""
    from sqlalchemy import select

    from matloop.design.campaign import Campaign
    from matloop.design.ledger import campaigns

    db = as_db(db)
    try:
        return Campaign(name, db.url, engine=db.reader if read_only else db.engine)
    except InputError:
        with db.reader.connect() as conn:
            found = conn.execute(select(campaigns.c.id).where(campaigns.c.name == name)).first()
        if found is None:
            raise CampaignNotFound(f"no campaign named {name!r}") from None
        raise


def list_campaigns(db: LedgerDB | str) -> list[dict]:
    """Every campaign: name, goal(s), kind, who created it and when, and its candidate and
    measurement counts (:func:`matloop.design.campaign_status.campaign_overview`)."""
    from matloop.design.campaign_status import campaign_overview

    return [{**r, "created_at": _iso(r["created_at"])} for r in campaign_overview(as_db(db).reader)]


def campaign_status(db: LedgerDB | str, name: str) -> dict:
    """Where a campaign stands, as JSON-ready values.

    Integer counts: ``candidates``; ``measurements`` (results recorded: one per measured row, whatever
    the number of goals it carries), ``measurement_values`` (one per goal value), ``measured_candidates``;
    ``failures`` (failed experiments recorded), ``failed_candidates``, ``vetoed``; ``suggestions``
    (suggested rows, every batch), ``pending`` (suggested, awaiting results), ``retracted`` (entries
    withdrawn as recorded in error), ``abandoned`` (suggestions that will not be run). ``best`` (value, where,
    replicates) for one goal, ``front`` and ``hypervolume`` for several."""
    from matloop.design.ledger_events import read_events

    camp = open_campaign(db, name, read_only=True)
    st = camp.status()
    meas = camp.ledger.measurements()
    results = 0 if meas.empty else int(meas.groupby(["candidate_id", "recorded_at", "extra"]).ngroups)
    events = read_events(camp.ledger)
    n_fail_events = 0 if events.empty else int((events["kind"] == "failed").sum())
    best = None
    if st.best is not None:
        best = {"value": float(st.best), "at": st.best_text(), "key": st.best_material,
                "setting": _jsonable(st.best_setting), "replicates": int(st.best_replicates)}
    return {"name": camp.ledger.name, "goals": _goal_texts(camp.config), "target": st.target,
            "kind": camp.config.get("kind"), "input": camp.config.get("input"),
            "columns": list(camp.config.get("columns") or []),
            "candidates": int(st.n_candidates), "measurements": results, "measurement_values": int(len(meas)),
            "measured_candidates": int(st.n_measured), "failures": n_fail_events,
            "failed_candidates": int(st.n_failed), "vetoed": int(st.n_vetoed), "retracted": int(st.n_retracted),
            "abandoned": int(st.n_abandoned),
            "suggestions": int(st.n_suggested),
            "pending": int(st.n_pending), "best": best, "front": st.front,
            "hypervolume": None if st.hypervolume is None else float(st.hypervolume),
            "hypervolume_start": None if st.hypervolume_start is None else float(st.hypervolume_start),
            "same": list(st.same or [])}


def history(db: LedgerDB | str, name: str) -> dict:
    """``progress``: the measurements in recording order with the best so far (``experiment`` 0 is the
    start table); ``log``: everything people did (measurements, failures, vetoes, additions) with who,
    when and why; ``suggestions``: every suggested row with its batch, prediction, std and reason."""
    from matloop.design.ledger_events import campaign_log

    camp = open_campaign(db, name, read_only=True)
    progress = camp.history()
    sug = camp.ledger.suggestions()
    keep = [c for c in ("batch_id", "candidate_id", "rank", "prediction", "std", "acquisition", "reason",
                        "model", "created_at", "created_by") if c in sug.columns]
    return {"progress": records(progress.drop(columns=["extra", "idempotency_key"], errors="ignore")),
            "log": records(campaign_log(camp)), "suggestions": records(sug[keep]) if len(sug) else []}


def export_csv(db: LedgerDB | str, name: str) -> str:
    """``campaign export`` as CSV text: every measurement, failure, veto and unmeasured candidate."""
    return open_campaign(db, name, read_only=True).export().to_csv(index=False)


# --------------------------------------------------------------------------------------------- writes
def create_campaign(db: LedgerDB | str, name: str, goals: Sequence[str], pool_frame: pd.DataFrame | list[dict],
                    input: str | None = None, actor: str = "matloop serve", failed_if: str | None = None,
                    constraints: Sequence[str] | None = None, same: Sequence[str] | None = None,
                    history: Sequence[tuple[list[dict], str]] | None = None,
                    target_order: Sequence[str] | None = None) -> dict:
    """Create a pool campaign from rows (a frame or a list of row objects) and goals such as
    ``["hardness:max"]``; returns its status. The rows are read exactly as ``campaign new --pool`` reads
    a table (every check of :func:`matloop.io.read_table`), from a private temporary file the server
    writes and removes itself: nothing the client sends names a path. ``same``: columns every batch shares
    unless a suggestion names its own (``campaign new --same``). ``history``: ``(rows, source)`` tables of
    related measurements (``campaign new --history``), read and checked as the CLI reads its files.
    ``target_order``: an ordinal goal's text labels, worst to best (``campaign new --target-order``)."""
    import tempfile
    from pathlib import Path

    from matloop.design.acquisition import Objective  # noqa: F401 (the objective comes from the goal)
    from matloop.design.campaign import Campaign
    from matloop.design.goals import parse_goal
    from matloop.design.multiobjective import parse_constraint
    from matloop.io import read_table

    db = as_db(db)
    check_name(name)
    if not goals:
        raise InputError("a campaign needs at least one goal", error_table(
            [{"row": 0, "column": "goals", "value": None, "reason": 'give e.g. ["hardness:max"]'}]))
    parsed = [parse_goal(g) for g in goals]
    columns = [g.column for g in parsed]
    if len(set(columns)) < len(columns):
        raise InputError("two goals name the same column", error_table(
            [{"row": 0, "column": "goals", "value": ", ".join(columns), "reason": "one goal per column"}]))
    rows = _row_records(pool_frame)
    if not rows:
        raise InputError("the pool has no rows", error_table(
            [{"row": 0, "column": "pool", "value": None, "reason": "give the candidates as a list of row objects"}]))
    check_cells(rows, None)
    outcomes = list(dict.fromkeys(columns + [parse_constraint(c)[0] for c in constraints or []]))
    with _Lock(db), tempfile.TemporaryDirectory(prefix="matloop-serve-") as tmp:
        path = Path(tmp) / "pool.json"
        path.write_text(json.dumps(rows, allow_nan=False))
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # duplicate-material warnings: the replicates are kept, as the CLI does
            try:
                pool = read_table(path, input=input, target=outcomes, duplicates="keep")
            except InputError as exc:  # name the request's pool, not the server's private file
                raise _private_paths_hidden(exc, tmp) from None
        tables = _history_tables(history or [], columns, tmp)
        several = {"goals": parsed, "constraints": list(constraints) if constraints else None, "scalarize": None}
        if target_order:  # labels -> 0, 1, 2, ... as campaign new --target-order scores them (design/ordinal.py)
            from matloop.design.ordinal import parse_order, score_labels, text_goal_column

            labels, column = parse_order(list(target_order)), text_goal_column(pool.frame, columns)
            pool.frame = score_labels(pool.frame, column, labels, pool.rows, failed_if)
            several["target_order"] = {"column": column, "labels": labels}
        try:
            camp = Campaign.create(name, db.url, parsed[0].objective, parsed[0].column, pool=pool, actor=actor,
                                   failed_if=failed_if, same=list(same or []) or None, history=tables or None,
                                   **several)
        except MatloopError as exc:
            if "already exists" in str(exc) and not isinstance(exc, InputError):
                raise CampaignExists(f"a campaign named {name!r} already exists") from None
            raise
    camp.ledger.engine.dispose()
    return campaign_status(db, name)


def suggest(db: LedgerDB | str, name: str, batch: int, actor: str, model: str | None = None, seed: int = 0,
            acquisition: str | None = None, retry_failed: bool = False, same: list[str] | None = None) -> dict:
    """Choose, store and return the next batch: ``rows`` (the candidates' columns with ``prediction``,
    ``std``, ``acquisition``, ``rank``, ``reason``, and ``p_success`` once failures count) and notes
    (cold start, history). One suggestion at a time per campaign in this process, so that two batches
    asked at once do not propose the same candidates. ``same``: columns the whole batch shares (None: the
    campaign's own, from its creation; ``[]``: none)."""
    from matloop.design.surrogate import DEFAULT_SURROGATE

    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InputError("bad batch size", error_table([{"row": 0, "column": "batch", "value": batch,
                                                         "reason": "a whole number of at least 1"}]))
    db = as_db(db)
    with _suggest_lock(db.url, name):
        camp = open_campaign(db, name)
        chosen = camp.suggest(batch=batch, acquisition=acquisition, model=model or DEFAULT_SURROGATE, seed=seed,
                              actor=actor, retry_failed=retry_failed, same=None if same is None else list(same))
    notes = []
    if chosen.attrs.get("cold_start"):
        notes.append("cold start (fewer than 2 results): a space-filling batch, no model fitted")
    if chosen.attrs.get("history"):
        notes.append(f"history: {chosen.attrs['history']}")
    return {"campaign": name, "batch": len(chosen), "rows": records(chosen), "notes": notes}


def record_results(db: LedgerDB | str, name: str, rows_frame: pd.DataFrame | list[dict], actor: str,
                   idempotency_key: str | None = None, source: str = "matloop serve", strict: bool = True,
                   allow_new: bool = False) -> dict:
    """Record result rows (input columns, goal columns, optional ``status``, ``reason``,
    ``measurement_id``) all or nothing; returns ``recorded`` (new measurements), ``already_recorded``,
    ``failed``, ``failed_already``, ``new_candidates``, ``still_retracted`` (only when values sent again had
    been retracted: their ``m<N>``) and ``replayed`` (True when this request was already answered under the
    same ``idempotency_key``).

    ``strict`` (the JSON API): goal cells must be JSON numbers (or null), not text.

    The whole request, reads included, holds one of the process's writer slots (one for SQLite): its
    threads queue in Python instead of polling the database file's lock."""
    db = as_db(db)
    with db.writers:
        return _record(db, name, rows_frame, actor, idempotency_key, source, strict, allow_new)


def _record(db: LedgerDB, name: str, rows_frame, actor: str, idempotency_key: str | None, source: str,
            strict: bool, allow_new: bool) -> dict:
    camp = open_campaign(db, name)
    rows = _row_records(rows_frame)
    digest = hashlib.sha256(json.dumps(rows, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()
    if idempotency_key is not None:  # looked up inside the request's transaction (below): one round trip
        idempotency_key = check_key(idempotency_key)
    if not rows:
        raise InputError("no result rows", error_table([{"row": 0, "column": "rows", "value": None,
                                                         "reason": "give at least one row object"}]))
    check_cells(rows, camp, strict)
    frame = pd.DataFrame.from_records(rows)
    from matloop.design.ledger_events import ensure_events_table

    if not db.events_ready:  # DDL for older ledgers, once per process and before any write transaction
        ensure_events_table(camp.ledger)
        db.events_ready = True
    numbers = list(range(1, len(rows) + 1))
    if not allow_new:
        check_failed_rows_known(camp, frame, numbers)
    ledger, write = camp.ledger, camp.ledger._write
    state: dict = {"stored": None}

    def with_request(work, attempts: int = 5):
        """The ledger's own write transaction, with this request's idempotency record in it."""
        def both(conn):
            if idempotency_key is not None and state["stored"] is None:
                prior = _stored(conn, ledger.id, idempotency_key)
                if prior is not None:
                    raise _Replay(prior)
            result = work(conn)
            if idempotency_key is not None and state["stored"] is None:
                # the answer this transaction gives, stored with its results (one transaction per request,
                # several goals and failed rows included; _finish below only guards a future second write)
                state["stored"] = _response(name, result, len(rows))
                _store(conn, ledger.id, idempotency_key, digest, state["stored"], actor)
            return result
        return write(both, attempts)

    ledger._write = with_request
    try:
        done = camp.record(frame, source=source, rows=numbers, allow_new=allow_new, actor=actor)
    except _Replay as replay:
        return _replayed(replay.response, digest, idempotency_key)
    finally:
        ledger.__dict__.pop("_write", None)
    from matloop.design.ledger_events import still_retracted

    response = _response(name, done, len(rows))
    if again := still_retracted(ledger, done.duplicate_ids):  # kept with the answer: a replay says it too
        response["still_retracted"] = again
    if idempotency_key is not None and state["stored"] != response:
        _finish(db.engine, ledger.id, idempotency_key, response)
    return {**response, "replayed": False}


def veto(db: LedgerDB | str, name: str, candidate: str, reason: str, actor: str) -> dict:
    """Rule a candidate out for good (named by its key, its material, or ``#N``), with the reason."""
    from matloop.design.campaign_failures import veto_candidates

    camp = open_campaign(db, name)
    if not str(reason or "").strip():
        raise InputError("a veto needs a reason", error_table([{"row": 0, "column": "reason", "value": reason,
                                                                "reason": "say why the candidate is ruled out"}]))
    done = veto_candidates(camp, [str(candidate)], str(reason), actor)
    return {"campaign": name, "vetoed": int(done.inserted), "already_vetoed": int(done.already_recorded)}


# -------------------------------------------------------------------------------------------- helpers
def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts (NaN and infinities become null; numpy numbers Python numbers)."""
    if frame is None or frame.empty:
        return []
    return [{str(k): _jsonable(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _jsonable(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        try:
            v = v.item()
        except (ValueError, AttributeError):
            return str(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, datetime | pd.Timestamp):
        return v.isoformat()
    if isinstance(v, bool | int | str):
        return v
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def _iso(v) -> str | None:
    return v.isoformat() if v is not None else None


def _goal_texts(cfg: dict) -> list[str]:
    from matloop.design.goals import goals_from_config

    return [g.words() if hasattr(g, "words") else str(g) for g in goals_from_config(cfg)]


def _history_tables(history, columns: list[str], tmp: str) -> list[tuple[pd.DataFrame, str]]:
    """The request's history tables read as ``--history`` files are (a campaign export too), each checked
    to measure the goal (or, with several goals, one of them) and named by its ``source``."""
    from pathlib import Path

    from matloop.design.history import history_table
    from matloop.design.multi_options import check_history_goals

    out = []
    for i, (rows, source) in enumerate(history):
        rows = _row_records(rows)
        check_cells(rows, None)
        path = Path(tmp) / f"history{i}.json"
        path.write_text(json.dumps(rows, allow_nan=False))
        try:
            frame, _ = history_table(path)
        except InputError as exc:
            raise _private_paths_hidden(exc, tmp, f"the history {source!r}", path.name) from None
        check_history_goals(frame, columns, source)
        out.append((frame, str(source)))
    return out


def _row_records(rows: pd.DataFrame | list[dict]) -> list[dict]:
    if isinstance(rows, pd.DataFrame):
        return [{str(k): _jsonable(v) for k, v in r.items()} for r in rows.to_dict(orient="records")]
    return list(rows or [])


def _stored(conn_or_engine, campaign_id: int, key: str) -> dict | None:
    from sqlalchemy import select

    from matloop.serve.db import requests

    q = select(requests.c.digest, requests.c.response).where(requests.c.campaign_id == campaign_id,
                                                             requests.c.key == key)
    if hasattr(conn_or_engine, "connect"):
        with conn_or_engine.connect() as conn:
            row = conn.execute(q).first()
    else:
        row = conn_or_engine.execute(q).first()
    return None if row is None else {"digest": row.digest, **json.loads(row.response)}


def _store(conn, campaign_id: int, key: str, digest: str, response: dict, actor: str) -> None:
    from sqlalchemy import insert

    from matloop.serve.db import requests

    conn.execute(insert(requests).values(campaign_id=campaign_id, key=key, digest=digest,
                                         response=json.dumps(response), created_at=datetime.now(UTC),
                                         created_by=str(actor)[:200]))


def _response(name: str, done, n_rows: int) -> dict:
    return {"campaign": name, "recorded": int(done.inserted), "already_recorded": int(done.already_recorded),
            "failed": int(done.failed), "failed_already": int(done.failed_already),
            "new_candidates": int(done.new_candidates), "rows": n_rows}


def _finish(engine, campaign_id: int, key: str, response: dict) -> None:
    """Complete a request's stored answer when its results took more than one transaction."""
    from sqlalchemy import update

    from matloop.serve.db import requests

    with engine.begin() as conn:
        conn.execute(update(requests).where(requests.c.campaign_id == campaign_id, requests.c.key == key)
                     .values(response=json.dumps(response)))


def _replayed(prior: dict, digest: str, key: str) -> dict:
    if prior.get("digest") != digest:
        raise InputError("this Idempotency-Key was already used for different rows; nothing was recorded",
                         error_table([{"row": 0, "column": "Idempotency-Key", "value": key,
                                       "reason": "already used for a different request: use a new key"}]))
    return {**{k: v for k, v in prior.items() if k != "digest"}, "replayed": True}


def _private_paths_hidden(exc: InputError, folder: str, label: str = "the pool", file: str = "pool.json") -> InputError:
    def clean(text):
        if not isinstance(text, str):
            return text
        text = text.replace(f"{folder}/{file}", label).replace(str(folder), "the upload's private folder")
        return text.replace(file, label).replace(", or leave them out with --skip-invalid (Python: "
                                                 "skip_invalid=True)", "")
    table = exc.table.copy() if exc.table is not None else None
    if table is not None and len(table):
        for col in ("value", "reason"):
            table[col] = [clean(v) for v in table[col]]
    return InputError(clean(exc.message), table)


def _suggest_lock(url: str, name: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _SUGGEST_LOCKS.setdefault((url, name), threading.Lock())


class _Lock:
    """The database's writer slot as a context manager (campaign creation is one write)."""

    def __init__(self, db: LedgerDB):
        self.sem = db.writers

    def __enter__(self):
        self.sem.acquire()

    def __exit__(self, *exc):
        self.sem.release()


def retract(db: LedgerDB | str, name: str, entries: list[str], reason: str, actor: str) -> dict:
    """Withdraw entries recorded in error (``m<N>`` measurements, ``e<N>`` failures, vetoes or
    abandonments), with the reason; they stay in the ledger and its log, out of every model and status."""
    from matloop.design.ledger_events import retract as retract_entries

    camp = open_campaign(db, name)
    done = retract_entries(camp.ledger, [str(e) for e in entries], str(reason), actor, source="REST API")
    return {"campaign": name, "retracted": int(done.inserted), "already_retracted": int(done.already_recorded)}


def abandon(db: LedgerDB | str, name: str, candidates: list[str], reason: str, actor: str) -> dict:
    """Suggested experiments that will not be run (each by key, material or ``#N``; none named: every one
    awaiting results): they stop awaiting results and may be suggested again."""
    from matloop.design.campaign_failures import abandon_candidates

    camp = open_campaign(db, name)
    done = abandon_candidates(camp, [str(c) for c in candidates], str(reason), actor, all_pending=not candidates)
    return {"campaign": name, "abandoned": int(done.inserted), "already_abandoned": int(done.already_recorded)}
