"""The campaign ledger: every candidate, suggestion and measurement, durable and auditable.

Stored through SQLAlchemy: a SQLite file by default (``sqlite:///campaign.db``), any SQLAlchemy URL
(e.g. PostgreSQL) for a team. Guarantees:

- Every write is one transaction: a crash or kill at any moment loses nothing that was acknowledged.
  SQLite runs in WAL mode with ``synchronous=FULL`` and a busy timeout, so two processes recording at
  once both land (the second waits for the first's lock instead of failing).
- Recording is idempotent: each measurement carries a key (the user's ``measurement_id`` column when
  present, else a hash of the campaign, candidate, target, value and source row), and a repeated key
  is acknowledged without a second insert.
- A measurement for a material the campaign does not know is an error, unless explicitly allowed.
- Rows are never updated or deleted; who/what recorded each row and when is stored with it.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import math
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import (
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from matloop.errors import InputError, MatloopError, error_table

SCHEMA_VERSION = 1

metadata = MetaData()

campaigns = Table(
    "campaigns", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("config", Text, nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
)
candidates = Table(
    "candidates", metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False),
    Column("key", String(512), nullable=False),
    Column("data", Text, nullable=False),
    Column("source", String(32), nullable=False),  # pool | space | recorded
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    UniqueConstraint("campaign_id", "key", name="uq_candidate_key"),
)
batches = Table(
    "batches", metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False),
    Column("strategy", Text, nullable=False),
    Column("model", String(200), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("n_measured", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
)
suggestions = Table(
    "suggestions", metadata,
    Column("id", Integer, primary_key=True),
    Column("batch_id", Integer, ForeignKey("batches.id"), nullable=False),
    Column("candidate_id", Integer, ForeignKey("candidates.id"), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("prediction", Float),
    Column("std", Float),
    Column("acquisition", Float),
    Column("reason", Text, nullable=False),
)
measurements = Table(
    "measurements", metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False),
    Column("candidate_id", Integer, ForeignKey("candidates.id"), nullable=False),
    Column("target", String(200), nullable=False),
    Column("value", Float, nullable=False),
    Column("idempotency_key", String(64), nullable=False),
    Column("source", Text, nullable=False),
    Column("extra", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("recorded_by", String(200), nullable=False),
    UniqueConstraint("campaign_id", "idempotency_key", name="uq_measurement_key"),
)


def default_actor() -> str:
    """``user@host`` of the running process, stored with every row it writes."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def now() -> datetime:
    return datetime.now(UTC)


def open_engine(url: str) -> Engine:
    """An engine for a SQLAlchemy URL or a plain file path; creates the schema if missing."""
    if "://" not in url:
        url = f"sqlite:///{url}"
    kwargs: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 60}
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # durable and concurrent
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn):  # take the write lock up front: no failed lock upgrades
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    metadata.create_all(engine)
    return engine


def _json(data: dict) -> str:
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if hasattr(v, "item"):
            return clean(v.item())
        return v
    return json.dumps({str(k): clean(v) for k, v in data.items()}, sort_keys=True, default=str)


@dataclass
class RecordResult:
    """What one ``record`` call did."""

    inserted: int
    already_recorded: int
    new_candidates: int


class Ledger:
    """All database access of one campaign."""

    def __init__(self, url: str, name: str):
        self.url = url
        self.name = name
        self.engine = open_engine(url)
        with self.engine.connect() as conn:
            row = conn.execute(select(campaigns).where(campaigns.c.name == name)).mappings().first()
        if row is None:
            raise MatloopError(f"no campaign named {name!r} in {url}; create it with 'matloop campaign new'")
        self.id = row["id"]
        self.config = json.loads(row["config"])

    @classmethod
    def create(cls, url: str, name: str, config: dict, pool: pd.DataFrame | None, keys: list[str] | None,
               actor: str | None = None) -> Ledger:
        """Create a campaign and its candidate pool in one transaction."""
        engine = open_engine(url)
        actor = actor or default_actor()
        stamp = now()
        try:
            with engine.begin() as conn:
                cid = conn.execute(insert(campaigns).values(
                    name=name, config=_json(config), schema_version=SCHEMA_VERSION, created_at=stamp,
                    created_by=actor)).inserted_primary_key[0]
                if pool is not None and len(pool):
                    rows = [{"campaign_id": cid, "key": k, "data": _json(r), "source": "pool",
                             "created_at": stamp, "created_by": actor}
                            for k, r in zip(keys, pool.to_dict(orient="records"), strict=True)]
                    conn.execute(insert(candidates), rows)
        except IntegrityError as exc:
            raise MatloopError(f"a campaign named {name!r} already exists in {url}") from exc
        return cls(url, name)

    # ------------------------------------------------------------------ reads
    def candidates(self) -> pd.DataFrame:
        """Every candidate with its id, key, source and original columns."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(candidates).where(candidates.c.campaign_id == self.id)
                                .order_by(candidates.c.id)).mappings().all()
        frame = pd.DataFrame([json.loads(r["data"]) for r in rows])
        order = [c for c in self.config.get("columns") or [] if c in frame.columns]  # the user's column order
        frame = frame[order + [c for c in frame.columns if c not in order]]
        meta = pd.DataFrame({"candidate_id": [r["id"] for r in rows], "key": [r["key"] for r in rows],
                             "source": [r["source"] for r in rows]})
        return pd.concat([meta, frame], axis=1)

    def measurements(self) -> pd.DataFrame:
        """Every measurement, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(measurements).where(measurements.c.campaign_id == self.id)
                                .order_by(measurements.c.id)).mappings().all()
        cols = ["id", "candidate_id", "target", "value", "recorded_at", "recorded_by", "source", "extra",
                "idempotency_key"]
        return pd.DataFrame([{c: r[c] for c in cols} for r in rows], columns=cols)

    def suggestions(self) -> pd.DataFrame:
        """Every suggestion with its batch's model, strategy and time."""
        with self.engine.connect() as conn:
            q = (select(suggestions, batches.c.strategy, batches.c.model, batches.c.model_version,
                        batches.c.created_at, batches.c.created_by, batches.c.n_measured)
                 .join(batches, suggestions.c.batch_id == batches.c.id)
                 .where(batches.c.campaign_id == self.id).order_by(suggestions.c.id))
            rows = conn.execute(q).mappings().all()
        return pd.DataFrame([dict(r) for r in rows])

    # ------------------------------------------------------------------ writes
    def add_suggestions(self, batch: pd.DataFrame, strategy: dict, model: str, model_version: str,
                        n_measured: int, actor: str | None = None) -> int:
        """Store a batch; rows need ``key``, ``data`` (dict), ``rank``, ``prediction``, ``std``,
        ``acquisition``, ``reason``. New keys (from a parameter space) become candidates."""
        actor = actor or default_actor()
        stamp = now()
        return self._write(lambda conn: self._add_suggestions(conn, batch, strategy, model, model_version,
                                                              n_measured, actor, stamp))

    def _add_suggestions(self, conn, batch, strategy, model, model_version, n_measured, actor, stamp) -> int:
        bid = conn.execute(insert(batches).values(
            campaign_id=self.id, strategy=_json(strategy), model=model, model_version=model_version,
            n_measured=n_measured, created_at=stamp, created_by=actor)).inserted_primary_key[0]
        for row in batch.to_dict(orient="records"):
            cand = self._candidate_id(conn, row["key"])
            if cand is None:
                cand = conn.execute(insert(candidates).values(
                    campaign_id=self.id, key=row["key"], data=_json(row["data"]), source="space",
                    created_at=stamp, created_by=actor)).inserted_primary_key[0]
            conn.execute(insert(suggestions).values(
                batch_id=bid, candidate_id=cand, rank=int(row["rank"]), prediction=_f(row["prediction"]),
                std=_f(row["std"]), acquisition=_f(row["acquisition"]), reason=str(row["reason"])))
        return bid

    def record(self, results: pd.DataFrame, keys: list[str], targets: list[str], source: str,
               rows: list[int], allow_new: bool = False, actor: str | None = None) -> RecordResult:
        """Record measured values, all or nothing, idempotently.

        ``keys`` give each result row's material key; ``rows`` their 1-based row numbers (for errors).
        """
        actor = actor or default_actor()
        stamp = now()
        problems = []
        for target in targets:
            if target not in results.columns:
                problems.append({"row": 0, "column": target, "value": None,
                                 "reason": f"results have no column {target!r} (columns: {list(results.columns)})"})
        if problems:
            raise InputError("Cannot record these results", error_table(problems))
        return self._write(lambda conn: self._record(conn, results, keys, targets, source, rows, allow_new,
                                                     actor, stamp))

    def _record(self, conn, results, keys, targets, source, rows, allow_new, actor, stamp) -> RecordResult:
        problems = []
        inserted = duplicates = new = 0
        for key, row_no, rec in zip(keys, rows, results.to_dict(orient="records"), strict=True):
            cand = self._candidate_id(conn, key)
            if cand is None:
                if not allow_new:
                    problems.append({"row": row_no, "column": "(material)", "value": key,
                                     "reason": "not a candidate of this campaign (use --allow-new to add it)"})
                    continue
                cand = conn.execute(insert(candidates).values(
                    campaign_id=self.id, key=key, data=_json(rec), source="recorded", created_at=stamp,
                    created_by=actor)).inserted_primary_key[0]
                new += 1
            for target in targets:
                value = rec[target]
                if value is None or (isinstance(value, float) and math.isnan(value)):
                    continue  # an empty cell is "not measured yet", not a measurement
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    problems.append({"row": row_no, "column": target, "value": value,
                                     "reason": "not a number"})
                    continue
                if not math.isfinite(value):
                    problems.append({"row": row_no, "column": target, "value": value,
                                     "reason": "not a finite number"})
                    continue
                ident = rec.get("measurement_id")
                raw = f"{self.id}|{key}|{target}|{ident if ident is not None else repr(value)}|" + (
                    "" if ident is not None else _json(rec))
                idem = hashlib.sha256(raw.encode()).hexdigest()
                exists = conn.execute(select(measurements.c.id).where(
                    measurements.c.campaign_id == self.id, measurements.c.idempotency_key == idem)).first()
                if exists:
                    duplicates += 1
                    continue
                conn.execute(insert(measurements).values(
                    campaign_id=self.id, candidate_id=cand, target=target, value=value,
                    idempotency_key=idem, source=source, extra=_json(rec), recorded_at=stamp,
                    recorded_by=actor))
                inserted += 1
        if problems:  # raising inside the transaction rolls all of it back
            raise InputError("Nothing was recorded", error_table(problems))
        return RecordResult(inserted, duplicates, new)

    def _write(self, work, attempts: int = 5):
        """Run ``work(conn)`` in one transaction; retry it when a concurrent writer committed the same
        unique row first (a server database such as PostgreSQL lets both transactions run and fails
        the second at commit; SQLite's ``BEGIN IMMEDIATE`` already serialises writers). The retry sees
        the other writer's rows, so an idempotent record becomes "already recorded", not an error."""
        for attempt in range(attempts):
            try:
                with self.engine.begin() as conn:
                    return work(conn)
            except IntegrityError:
                if attempt == attempts - 1:
                    raise

    def _candidate_id(self, conn, key: str) -> int | None:
        row = conn.execute(select(candidates.c.id).where(
            candidates.c.campaign_id == self.id, candidates.c.key == key)).first()
        return None if row is None else row[0]


def _f(value) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None
