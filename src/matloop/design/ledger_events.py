"""Failures, vetoes and an expert's own candidates in the campaign ledger.

One append-only table, ``campaign_events``, beside the measurements of :mod:`matloop.design.ledger`:

- ``failed``: an experiment that produced nothing to measure (``status`` = ``failed`` in the results,
  or a row matching the campaign's ``--failed-if`` rule), with the reason;
- ``veto``: a person ruled a candidate out (``campaign veto``), with the reason; it is never suggested;
- ``added``: a person added a candidate of their own (``campaign add``);
- ``abandoned``: a suggested experiment that will not be run (``campaign abandon``: the reagent ran
  out, the robot's plate was full): its suggestion no longer awaits results, and the candidate may be
  suggested again (a veto rules it out for good instead);
- ``retracted``: a person withdrew an entry recorded in error (``campaign retract``: a mistyped value,
  a result written on the wrong row, a veto or failure recorded by mistake), with the reason. The
  entry stays in the ledger and in ``campaign history``; models, status, export and the suggestion
  rules no longer see it (:func:`retracted_entries`). Entries are named as the history shows them:
  ``m<N>`` a measurement, ``e<N>`` a failure, veto or abandonment.

Every event stores who recorded it, when, from which file, and the whole row (``extra``). Events are
idempotent like measurements: a hash of normalised values (the campaign, the candidate's canonical
key, the kind, and the ``measurement_id`` cell when filled, else the reason) is unique, so recording
the same results file twice records each failure once; repeated failed attempts of one candidate
with the same reason need distinct ``measurement_id`` cells. Rows are never updated or deleted.

Ledgers written before this table existed still open: reads see no events, and the first write
creates the table (``CREATE TABLE IF NOT EXISTS``, so two writers racing are harmless).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    inspect,
    select,
)

from matloop.design.ledger import Ledger, _json, candidates, default_actor, measurement_ident, metadata, now
from matloop.errors import InputError, error_table

KINDS = ("failed", "veto", "added", "retracted", "abandoned")

events = Table(
    "campaign_events", metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False),
    Column("candidate_id", Integer, ForeignKey("candidates.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("idempotency_key", String(64), nullable=False),
    Column("source", Text, nullable=False),
    Column("extra", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("recorded_by", String(200), nullable=False),
    UniqueConstraint("campaign_id", "idempotency_key", name="uq_event_key"),
)

EVENT_COLUMNS = ["id", "candidate_id", "kind", "reason", "source", "extra", "recorded_at", "recorded_by"]


@dataclass
class EventResult:
    """What one write of events did."""

    inserted: int
    already_recorded: int
    new_candidates: int = 0


def ensure_events_table(ledger: Ledger) -> None:
    """Add the events table to a ledger written before it existed (a no-op when it is there)."""
    events.create(ledger.engine, checkfirst=True)


def has_events_table(ledger: Ledger) -> bool:
    return inspect(ledger.engine).has_table(events.name)


def read_events(ledger: Ledger, retracted: bool = False) -> pd.DataFrame:
    """Every event of the campaign, oldest first, with the candidate's key (empty for old ledgers);
    failures, vetoes and abandonments retracted since only when ``retracted``."""
    cols = [*EVENT_COLUMNS, "key"]
    if not has_events_table(ledger):
        return pd.DataFrame(columns=cols)
    with ledger.engine.connect() as conn:
        q = (select(events, candidates.c.key).join(candidates, events.c.candidate_id == candidates.c.id)
             .where(events.c.campaign_id == ledger.id).order_by(events.c.id))
        rows = conn.execute(q).mappings().all()
    out = pd.DataFrame([{c: r[c] for c in cols} for r in rows], columns=cols)
    return out if retracted else active_events(out)


def retracted_in(ev: pd.DataFrame) -> dict[str, str]:
    """Entry (``m<N>`` / ``e<N>``) -> the reason it was retracted, from the ``retracted`` events of ``ev``."""
    import json

    found = {}
    for extra, reason in ev.loc[ev["kind"] == "retracted", ["extra", "reason"]].itertuples(index=False):
        entry = json.loads(extra).get("entry")
        if entry:
            found[str(entry)] = str(reason)
    return found


def retracted_entries(ledger: Ledger) -> dict[str, str]:
    """Every retracted entry of the campaign (``m<N>`` a measurement, ``e<N>`` an event) with the reason."""
    return retracted_in(read_events(ledger, retracted=True))


def still_retracted(ledger: Ledger, duplicate_ids) -> list[str]:
    """The measurements (``m<N>``) among ``duplicate_ids`` (a record's values found already recorded) that
    were retracted: recording the same value again leaves them retracted, and ``record`` says so."""
    if not duplicate_ids:
        return []
    gone = retracted_entries(ledger)
    return [f"m{i}" for i in duplicate_ids if f"m{i}" in gone]


def active_events(ev: pd.DataFrame) -> pd.DataFrame:
    """The events of ``read_events(ledger, retracted=True)`` not retracted since (as ``read_events(ledger)``
    gives them), for a caller that needs both without reading the table twice."""
    gone = retracted_in(ev)
    return ev[[f"e{i}" not in gone for i in ev["id"]]].reset_index(drop=True) if gone else ev


def event_key(campaign_id: int, key: str, kind: str, ident: str | None, reason: str) -> str:
    """The idempotency key of an event: normalised values only."""
    what = f"id:{ident}" if ident is not None else f"reason:{' '.join(str(reason).split())}"
    return hashlib.sha256(f"ev1|{campaign_id}|{kind}|{key}|{what}".encode()).hexdigest()


def _add_event(conn, ledger: Ledger, candidate_id: int, key: str, kind: str, reason: str, ident: str | None,
               source: str, extra: dict, actor: str, stamp) -> bool:
    idem = event_key(ledger.id, key, kind, ident, reason)
    found = conn.execute(select(events.c.id).where(events.c.campaign_id == ledger.id,
                                                   events.c.idempotency_key == idem)).first()
    if found is not None:
        return False
    conn.execute(insert(events).values(
        campaign_id=ledger.id, candidate_id=candidate_id, kind=kind, reason=str(reason), idempotency_key=idem,
        source=source, extra=_json(extra), recorded_at=stamp, recorded_by=actor))
    return True


def _new_candidate(conn, ledger: Ledger, key: str, data: dict, source: str, actor: str, stamp) -> int:
    return conn.execute(insert(candidates).values(
        campaign_id=ledger.id, key=key, data=_json(data), source=source, created_at=stamp,
        created_by=actor)).inserted_primary_key[0]


def record_failures(conn, ledger: Ledger, results: pd.DataFrame, keys: list[str], rows: list[int],
                    reasons: list[str], source: str, allow_new: bool, actor: str, stamp) -> EventResult:
    """Record failed rows inside the caller's transaction (raises :class:`InputError`, which rolls
    the whole transaction back, for a material the campaign does not know without ``allow_new``)."""
    problems = []
    inserted = dupes = new = 0
    for key, row_no, rec, reason in zip(keys, rows, results.to_dict(orient="records"), reasons, strict=True):
        cand = ledger._candidate_id(conn, key)
        if cand is None:
            if not allow_new:
                problems.append({"row": row_no, "column": "(material)", "value": key,
                                 "reason": "not a candidate of this campaign (use --allow-new to add it)"})
                continue
            cand = _new_candidate(conn, ledger, key, rec, "recorded", actor, stamp)
            new += 1
        if _add_event(conn, ledger, cand, key, "failed", reason, measurement_ident(rec.get("measurement_id")),
                      source, rec, actor, stamp):
            inserted += 1
        else:
            dupes += 1
    if problems:
        raise InputError("Nothing was recorded", error_table(problems))
    return EventResult(inserted, dupes, new)


def resolve_candidates(ledger: Ledger, given: list[str], keys_of=None) -> list[tuple[int, str]]:
    """``(candidate_id, key)`` of each ``--candidate`` value: the candidate's key as ``campaign export``
    shows it, a material written any way (``keys_of(texts)`` gives canonical keys), or ``#N`` / ``N``
    for the N-th candidate of the campaign (1-based, in the order they entered the ledger: the pool
    table's rows, each material once). All unknown values are reported at once."""
    table = ledger.candidates()
    ids = table["candidate_id"].tolist()
    by_key = dict(zip(table["key"].astype(str), ids, strict=True))
    out, problems = [], []
    for text in given:
        value = str(text).strip()
        number = value[1:] if value.startswith("#") else value
        if number.isdigit() and value not in by_key:
            n = int(number)
            if 1 <= n <= len(ids):
                out.append((int(ids[n - 1]), str(table["key"].iloc[n - 1])))
            else:
                problems.append({"row": 0, "column": "--candidate", "value": value,
                                 "reason": f"the campaign has candidates 1..{len(ids)}"})
            continue
        key = value if value in by_key else None
        if key is None and keys_of is not None:
            try:
                key = keys_of([value])[0]
            except (InputError, ValueError, KeyError):
                key = None
        if key in by_key:
            out.append((int(by_key[key]), key))
        else:
            problems.append({"row": 0, "column": "--candidate", "value": value,
                             "reason": "not a candidate of this campaign (give its key as in 'campaign export', "
                                       "the material, or #N for the N-th candidate)"})
    if problems:
        raise InputError("Unknown candidates; nothing was recorded", error_table(problems))
    return out


def veto(ledger: Ledger, chosen: list[tuple[int, str]], reason: str, actor: str | None = None,
         source: str = "campaign veto") -> EventResult:
    """Rule candidates out, with the reason, all or nothing (a repeated veto is acknowledged once)."""
    if not str(reason or "").strip():
        raise InputError("a veto needs a reason (--reason TEXT)")
    ensure_events_table(ledger)
    actor = actor or default_actor()
    stamp = now()

    def work(conn):
        done = sum(_add_event(conn, ledger, cid, key, "veto", reason.strip(), None, source, {"key": key}, actor,
                              stamp) for cid, key in chosen)
        return EventResult(done, len(chosen) - done)
    return ledger._write(work)


def add_candidates(ledger: Ledger, frame: pd.DataFrame, keys: list[str], rows: list[int], reason: str,
                   source: str, actor: str | None = None) -> EventResult:
    """An expert's own candidates: new ones join the pool (source ``expert``); each is recorded as an
    ``added`` event with who and why, all or nothing. A candidate the campaign already has is not
    added twice (the event still says the expert proposed it)."""
    ensure_events_table(ledger)
    actor = actor or default_actor()
    stamp = now()
    why = str(reason or "").strip() or "added by an expert"

    def work(conn):
        inserted = dupes = new = 0
        seen = set()
        for key, rec in zip(keys, frame.to_dict(orient="records"), strict=True):
            if key in seen:
                dupes += 1
                continue
            seen.add(key)
            cand = ledger._candidate_id(conn, key)
            if cand is None:
                cand = _new_candidate(conn, ledger, key, rec, "expert", actor, stamp)
                new += 1
            if _add_event(conn, ledger, cand, key, "added", why, None, source, rec, actor, stamp):
                inserted += 1
            else:
                dupes += 1
        return EventResult(inserted, dupes, new)
    return ledger._write(work)


def retract(ledger: Ledger, entries: list[str], reason: str, actor: str | None = None,
            source: str = "campaign retract") -> EventResult:
    """Withdraw entries recorded in error (``m<N>`` measurements, ``e<N>`` failures, vetoes or
    abandonments, as ``campaign history`` names them), with the reason, all or nothing. Nothing is
    deleted: the entry and its retraction both stay in the ledger; a retracted measurement leaves every
    model, status and export, a retracted failure or veto lets the candidate be suggested again, a
    retracted abandonment makes its suggestion await results again. An entry retracted before is
    acknowledged once; an added candidate cannot be retracted (veto it), nor a retraction. A range
    ``m12-m20`` names this campaign's entries from ``m12`` to ``m20`` (a results file recorded by
    mistake; another campaign's entries between them are not touched)."""
    if not str(reason or "").strip():
        raise InputError("a retraction needs a reason (--reason TEXT)", error_table(
            [{"row": 0, "column": "reason", "value": reason, "reason": "say why the entries are withdrawn"}]))
    meas = ledger.measurements(retracted=True).set_index("id")
    ev = read_events(ledger, retracted=True).set_index("id")
    chosen, problems = [], {}
    for text in entries:
        kind, first, last = _entry_range(text)
        table = meas if kind == "m" else ev
        ids = table.index[(table.index >= first) & (table.index <= last)] if kind else []
        if kind == "e" and first != last:  # a range: the failures, vetoes and abandonments in it
            ids = [i for i in ids if ev.loc[i, "kind"] in RETRACTABLE]
        if not len(ids) or (kind == "e" and ev.loc[ids[0], "kind"] not in RETRACTABLE):
            problems[str(text)] = _not_retractable(ev.loc[ids[0], "kind"] if kind == "e" and len(ids) else None)
            continue
        for i in ids:  # a range names only this campaign's entries (others' may interleave in a team ledger)
            row = table.loc[i]
            extra = ({"target": row["target"], "value": float(row["value"])} if kind == "m"
                     else {"kind": row["kind"], "reason": row["reason"]})
            chosen.append((int(row["candidate_id"]), f"{kind}{i}", {"entry": f"{kind}{i}", **extra}))
    problems = [{"row": 0, "column": "ENTRY", "value": t, "reason": why} for t, why in problems.items()]
    if problems:
        raise InputError("Nothing was retracted", error_table(problems))
    ensure_events_table(ledger)
    actor = actor or default_actor()
    stamp = now()
    keys = ledger.candidates().set_index("candidate_id")["key"]

    def work(conn):
        done = sum(_add_event(conn, ledger, cid, str(keys[cid]), "retracted", reason.strip(), entry, source, extra,
                              actor, stamp) for cid, entry, extra in chosen)
        return EventResult(done, len(chosen) - done)
    return ledger._write(work)


#: the events a person may retract (an added candidate is vetoed instead; a retraction is final)
RETRACTABLE = ("failed", "veto", "abandoned")


def _entry_range(text: str) -> tuple[str | None, int, int]:
    """``(kind, first, last)`` of an entry: ``m12`` -> ("m", 12, 12), a range ``m12-m20`` (or ``m12-20``)
    -> ("m", 12, 20); anything else -> (None, 0, -1)."""
    import re

    m = re.fullmatch(r"\s*([mMeE])\s*(\d{1,12})\s*(?:-\s*(?:([mMeE])\s*)?(\d{1,12})\s*)?", str(text))
    if m is None or (m.group(3) and m.group(3).lower() != m.group(1).lower()):
        return None, 0, -1
    first = int(m.group(2))
    last = int(m.group(4)) if m.group(4) else first
    return (m.group(1).lower(), first, last) if last >= first else (None, 0, -1)


def _not_retractable(kind: str | None) -> str:
    """Why an entry cannot be retracted (``kind``: the event's kind, None when there is no such entry)."""
    if kind == "added":
        return "an added candidate stays a candidate: rule it out with 'matloop campaign veto'"
    if kind == "retracted":
        return "a retraction is final: record the entry again (a value with a measurement_id column)"
    return ("not an entry of this campaign's history (nor a range holding one): m<N> for a measurement, e<N> "
            "for a failure, veto or abandonment (see 'matloop campaign history')")


def abandoned_suggestions(ledger: Ledger, events: pd.DataFrame | None = None) -> set[int]:
    """Ids of the suggestions abandoned (``campaign abandon``, not retracted since); ``events``: the
    ledger's :func:`read_events` when the caller has read them already."""
    import json

    ev = read_events(ledger) if events is None else events
    found: set[int] = set()
    for extra in ev.loc[ev["kind"] == "abandoned", "extra"]:
        found |= {int(i) for i in json.loads(extra).get("suggestions", [])}
    return found


def correction_counts(ledger: Ledger) -> dict[str, int]:
    """``n_retracted`` (entries retracted) and ``n_abandoned`` (suggestions abandoned, not retracted since)
    for ``campaign status``, from one read of the events."""
    ev = read_events(ledger, retracted=True)
    return {"n_retracted": len(retracted_in(ev)), "n_abandoned": len(abandoned_suggestions(ledger, active_events(ev)))}


def awaited_suggestions(ledger: Ledger) -> dict[int, list[int]]:
    """Candidate id -> its suggestions not abandoned (the caller leaves out candidates measured or failed
    since): what ``campaign abandon`` may abandon, and what a new batch must not propose again."""
    sug = ledger.suggestions()
    if sug.empty:
        return {}
    gone = abandoned_suggestions(ledger)
    out: dict[int, list[int]] = {}
    for c, i in zip(sug["candidate_id"], sug["id"], strict=True):
        if int(i) not in gone:
            out.setdefault(int(c), []).append(int(i))
    return out


def abandon(ledger: Ledger, chosen: list[tuple[int, str, list[int]]], reason: str, actor: str | None = None,
            source: str = "campaign abandon") -> EventResult:
    """Suggested experiments that will not be run: ``(candidate_id, key, suggestion ids)`` each, with the
    reason, all or nothing. Their suggestions stop awaiting results; the candidates may be suggested
    again. An abandonment recorded before (the same suggestions) is acknowledged once."""
    if not str(reason or "").strip():
        raise InputError("abandoning a suggestion needs a reason (--reason TEXT)", error_table(
            [{"row": 0, "column": "reason", "value": reason, "reason": "say why the experiments will not be run"}]))
    ensure_events_table(ledger)
    actor = actor or default_actor()
    stamp = now()

    def work(conn):
        done = sum(_add_event(conn, ledger, cid, key, "abandoned", reason.strip(), ",".join(map(str, sorted(ids))),
                              source, {"key": key, "suggestions": sorted(ids)}, actor, stamp) for cid, key, ids in chosen)
        return EventResult(done, len(chosen) - done)
    return ledger._write(work)


def candidate_flags(ledger: Ledger, measured_ids: set[int]) -> pd.DataFrame:
    """Per candidate with events: ``n_failed``, ``failed`` (failed and never measured successfully),
    ``vetoed``, ``veto_reason``, ``failure_reason`` (the latest)."""
    ev = read_events(ledger)
    cols = ["candidate_id", "n_failed", "failed", "vetoed", "veto_reason", "failure_reason"]
    if ev.empty:
        return pd.DataFrame(columns=cols)
    out = []
    for cid, group in ev.groupby("candidate_id", sort=True):
        fails = group[group["kind"] == "failed"]
        vetoes = group[group["kind"] == "veto"]
        out.append({"candidate_id": int(cid), "n_failed": len(fails),
                    "failed": bool(len(fails)) and int(cid) not in measured_ids, "vetoed": bool(len(vetoes)),
                    "veto_reason": vetoes["reason"].iloc[-1] if len(vetoes) else None,
                    "failure_reason": fails["reason"].iloc[-1] if len(fails) else None})
    return pd.DataFrame(out, columns=cols)


def campaign_log(campaign) -> pd.DataFrame:
    """Everything people did in a campaign, in time order: measurements, failures, vetoes, added
    candidates and retractions, with who, when, from where and why (``campaign history``). ``entry``
    names each row for ``campaign retract`` (``m<N>`` a measurement, ``e<N>`` an event); an entry
    retracted since shows ``(retracted)`` after its event."""
    import json

    ledger = campaign.ledger
    target = campaign.config["target"]
    meas = ledger.measurements(retracted=True)
    keys = ledger.candidates().set_index("candidate_id")["key"]
    ev = read_events(ledger, retracted=True)
    gone = retracted_in(ev)

    def label(kind: str, entry: str) -> str:
        return f"{kind} (retracted)" if entry in gone else kind

    parts = []
    if len(meas):
        entries = [f"m{i}" for i in meas["id"]]
        parts.append(pd.DataFrame({"entry": entries, "recorded_at": meas["recorded_at"],
                                   "event": [label("measured", e) for e in entries],
                                   "candidate": meas["candidate_id"].map(keys).to_numpy(),
                                   "target": meas["target"], "value": meas["value"], "reason": "",
                                   "recorded_by": meas["recorded_by"], "source": meas["source"],
                                   "_order": 0, "_id": meas["id"]}))
    if len(ev):
        extras = [json.loads(x) for x in ev["extra"]]
        entries = [f"e{i}" for i in ev["id"]]
        parts.append(pd.DataFrame({
            "entry": entries, "recorded_at": ev["recorded_at"],
            "event": [label(k, e) for k, e in zip(ev["kind"], entries, strict=True)], "candidate": ev["key"],
            "target": [target if k == "failed" else x.get("target", "") if k == "retracted" else ""
                       for k, x in zip(ev["kind"], extras, strict=True)],
            "value": [float(x["value"]) if k == "retracted" and x.get("value") is not None else float("nan")
                      for k, x in zip(ev["kind"], extras, strict=True)],
            "reason": [f"{x.get('entry')}: {r}" if k == "retracted" else r
                       for k, x, r in zip(ev["kind"], extras, ev["reason"], strict=True)],
            "recorded_by": ev["recorded_by"], "source": ev["source"], "_order": 1, "_id": ev["id"]}))
    cols = ["entry", "recorded_at", "event", "candidate", "target", "value", "reason", "recorded_by", "source"]
    if not parts:
        return pd.DataFrame(columns=cols)
    log = pd.concat(parts, ignore_index=True)
    log["recorded_at"] = pd.to_datetime(log["recorded_at"], utc=True)
    log = log.sort_values(["recorded_at", "_order", "_id"], kind="stable").reset_index(drop=True)
    names = campaign.config.get("parameter_columns") if campaign.config.get("kind") == "parameters" else None
    if names:  # a parameter key (a JSON list) shown with its column names
        log["candidate"] = [_named(k, names) for k in log["candidate"]]
    return log[cols]


def _named(key, names: list[str]) -> str:
    import json

    try:
        values = json.loads(key)
    except (TypeError, ValueError):
        return str(key)
    if not isinstance(values, list) or len(values) != len(names):
        return str(key)
    return ", ".join(f"{n}={v:g}" if isinstance(v, int | float) else f"{n}={v}" for n, v in zip(names, values,
                                                                                                 strict=True))

