"""The campaign ledger: every candidate, suggestion and measurement, durable and auditable.

Stored through SQLAlchemy: a SQLite file by default (``sqlite:///campaign.db``), any SQLAlchemy URL
(e.g. PostgreSQL) for a team. Guarantees:

- Every write is one transaction: a crash or kill at any moment loses nothing that was acknowledged.
  SQLite runs in WAL mode with ``synchronous=FULL`` and a busy timeout, so two processes recording at
  once both land (the second waits for the first's lock instead of failing).
- Recording is idempotent: each measurement carries a key made of normalised values only (the
  campaign, the candidate's canonical key, the target, and the user's ``measurement_id`` when the
  cell is filled, else the value as a float), and a repeated key is acknowledged without a second
  insert. ``555`` and ``555.0``, an extra column or a re-ordered export are the same measurement; two
  different values of one candidate are two measurements (an empty ``measurement_id`` cell is "no
  id", not the id "nan"); replicates with equal values need distinct ``measurement_id``s; one
  ``measurement_id`` recorded with two different values is an error, not silently ignored.
- A measurement for a material the campaign does not know is an error, unless explicitly allowed.
- Rows are never updated or deleted; who/what recorded each row and when is stored with it. A wrong
  value is retracted (:func:`matloop.design.ledger_events.retract`): an event that keeps it in the
  ledger and its history but out of every model and status.
"""

from __future__ import annotations

import getpass
import json
import math
import socket
from dataclasses import dataclass, field
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

from matloop.design.ledger_idempotency import _json, _legacy_key, idempotency_key, measurement_ident
from matloop.errors import InputError, MatloopError, error_table
from matloop.io.detect import missing_column_message
from matloop.io.validate import number_hint

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


def ledger_url(url: str) -> str:
    """The SQLAlchemy URL of ``--db``: a plain file path becomes ``sqlite:///PATH``."""
    return url if "://" in url else f"sqlite:///{url}"


def _sqlite_file(url: str) -> str | None:
    """The file of a SQLite URL (None for an in-memory database or another backend)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("://", 1)[1]
    path = path[1:] if path.startswith("/") else path  # sqlite:///rel.db -> rel.db, sqlite:////abs -> /abs
    path = path.split("?", 1)[0]
    return path if path and path != ":memory:" else None


def _bad_db(url: str, reason: str) -> InputError:
    return InputError(f"cannot use the ledger --db {url}: {reason}",
                      error_table([{"row": 0, "column": "--db", "value": url, "reason": reason}]))


def open_engine(url: str, create: bool = True) -> Engine:
    """An engine for a SQLAlchemy URL or a plain file path.

    With ``create`` the schema is created if missing (``campaign new``); without it a ledger that
    does not exist is an :class:`InputError` and nothing is created (``status`` on a mistyped path
    must not leave an empty ledger behind). A malformed URL, an unknown or uninstalled database
    driver, or a database that cannot be opened is an :class:`InputError` naming ``--db``.
    """
    from sqlalchemy import inspect
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    given, url = url, ledger_url(url)
    file = _sqlite_file(url)
    if file is not None:
        from pathlib import Path

        if not create and not Path(file).is_file():
            raise _bad_db(given, f"no ledger file {file!r} (create a campaign first with 'matloop campaign new')")
        if create and not Path(file).resolve().parent.is_dir():
            raise _bad_db(given, f"the folder of {file!r} does not exist")
    kwargs: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 60}
    try:
        engine = create_engine(url, **kwargs)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise _bad_db(given, f"not a valid database URL ({exc}); give a file path or e.g. "
                             "postgresql+psycopg://user@host/db") from None
    except ImportError as exc:
        raise _bad_db(given, f"the database driver is not installed ({exc.name or exc}); for PostgreSQL "
                             "install matloop[postgres]") from None
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
    try:
        if create:
            metadata.create_all(engine)
        elif not inspect(engine).has_table("campaigns"):
            engine.dispose()
            raise _bad_db(given, "it holds no matloop campaigns (create one with 'matloop campaign new')")
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise _bad_db(given, f"cannot open it ({reason})") from None
    return engine


@dataclass
class InitialMeasurements:
    """Measured rows of a pool table, recorded in the transaction that creates the campaign."""

    results: pd.DataFrame
    keys: list[str]
    targets: list[str]
    source: str
    rows: list[int]
    then: Any = None  # then(conn, ledger, actor, stamp): more writes in the same transaction


@dataclass
class RecordResult:
    """What one ``record`` call did."""

    inserted: int
    already_recorded: int
    new_candidates: int
    failed: int = 0  # failed experiments recorded (matloop.design.ledger_events)
    failed_already: int = 0
    experiments: int = 0  # result rows with at least one new measurement (one per goal measured)
    duplicate_ids: list = field(default_factory=list)  # measurements found already recorded


class Ledger:
    """All database access of one campaign."""

    def __init__(self, url: str, name: str, engine: Engine | None = None):
        self.url = url
        self.name = name
        # a long-lived process (matloop serve) passes its one engine instead of opening one per call
        self.engine = engine if engine is not None else open_engine(url, create=False)
        with self.engine.connect() as conn:
            row = conn.execute(select(campaigns).where(campaigns.c.name == name)).mappings().first()
            known = [] if row is not None else list(conn.execute(select(campaigns.c.name)).scalars())
        if row is None:
            raise InputError(f"no campaign named {name!r} in {url} (campaigns there: {', '.join(known) or 'none'}); "
                             "create it with 'matloop campaign new'")
        self.id = row["id"]
        self.config = json.loads(row["config"])

    @classmethod
    def create(cls, url: str, name: str, config: dict, pool: pd.DataFrame | None, keys: list[str] | None,
               actor: str | None = None, measured: InitialMeasurements | None = None) -> Ledger:
        """Create a campaign, its candidate pool and its first measurements in ONE transaction: a
        crash or kill at any moment leaves either all of it or nothing (so it can be created again)."""
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
                if measured is not None and (len(measured.results) or measured.then is not None):
                    draft = cls.__new__(cls)  # the campaign as this transaction sees it
                    draft.url, draft.name, draft.engine, draft.id, draft.config = url, name, engine, cid, config
                    if len(measured.results):
                        draft._record(conn, measured.results, measured.keys, measured.targets, measured.source,
                                      measured.rows, False, actor, stamp)
                    if measured.then is not None:  # e.g. the pool's failed rows (matloop.design.ledger_events)
                        measured.then(conn, draft, actor, stamp)
        except IntegrityError as exc:
            raise MatloopError(f"a campaign named {name!r} already exists in {url}") from exc
        finally:
            engine.dispose()
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

    def measurements(self, retracted: bool = False) -> pd.DataFrame:
        """Every measurement, oldest first; those retracted (``campaign retract``) only when ``retracted``."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(measurements).where(measurements.c.campaign_id == self.id)
                                .order_by(measurements.c.id)).mappings().all()
        cols = ["id", "candidate_id", "target", "value", "recorded_at", "recorded_by", "source", "extra",
                "idempotency_key"]
        out = pd.DataFrame([{c: r[c] for c in cols} for r in rows], columns=cols)
        if retracted or out.empty:
            return out
        from matloop.design.ledger_events import retracted_entries

        gone = retracted_entries(self)
        return out[[f"m{i}" not in gone for i in out["id"]]].reset_index(drop=True) if gone else out

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
                        n_measured: int, actor: str | None = None, before_commit=None) -> int:
        """Store a batch; rows need ``key``, ``data`` (dict), ``rank``, ``prediction``, ``std``,
        ``acquisition``, ``reason``. New keys (from a parameter space) become candidates.

        ``before_commit()`` runs inside the transaction after the inserts (e.g. writing the batch's
        file): if it raises, nothing is stored."""
        actor = actor or default_actor()
        stamp = now()

        def work(conn):
            bid = self._add_suggestions(conn, batch, strategy, model, model_version, n_measured, actor, stamp)
            if before_commit is not None:
                before_commit()
            return bid
        return self._write(work)

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
                                 "reason": missing_column_message("results", target, results.columns)})
        if problems:
            raise InputError("Cannot record these results", error_table(problems))
        return self._write(lambda conn: self._record(conn, results, keys, targets, source, rows, allow_new,
                                                     actor, stamp))

    def _record(self, conn, results, keys, targets, source, rows, allow_new, actor, stamp) -> RecordResult:
        problems = []
        inserted = duplicates = new = experiments = 0
        seen: list[int] = []  # ids of the measurements found already recorded
        for key, row_no, rec in zip(keys, rows, results.to_dict(orient="records"), strict=True):
            before = inserted
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
                                     "reason": "not a number" + number_hint(value)})
                    continue
                if not math.isfinite(value):
                    problems.append({"row": row_no, "column": target, "value": value,
                                     "reason": "not a finite number"})
                    continue
                ident = measurement_ident(rec.get("measurement_id"))
                idem = idempotency_key(self.id, key, target, value, ident)
                found = conn.execute(select(measurements.c.value, measurements.c.id).where(
                    measurements.c.campaign_id == self.id, measurements.c.idempotency_key == idem)).first()
                legacy = _legacy_key(self.id, key, target, value, rec)
                if found is None and legacy is not None:  # recorded by matloop < this key's version
                    found = conn.execute(select(measurements.c.value, measurements.c.id).where(
                        measurements.c.campaign_id == self.id, measurements.c.idempotency_key == legacy)).first()
                if found is not None:
                    if ident is not None and not math.isclose(found[0], value, rel_tol=1e-12, abs_tol=0.0):
                        problems.append({"row": row_no, "column": "measurement_id", "value": ident,
                                         "reason": f"already recorded for {key} with {target} = {found[0]:g}, "
                                                   f"not {value:g}; give a corrected value a new measurement_id"})
                        continue
                    duplicates += 1
                    seen.append(int(found[1]))
                    continue
                conn.execute(insert(measurements).values(
                    campaign_id=self.id, candidate_id=cand, target=target, value=value,
                    idempotency_key=idem, source=source, extra=_json(rec), recorded_at=stamp,
                    recorded_by=actor))
                inserted += 1
            experiments += inserted > before
        if problems:  # raising inside the transaction rolls all of it back
            n = len({p["row"] for p in problems})
            raise InputError(f"Nothing was recorded: {n} row{'s' if n != 1 else ''} of the results "
                             f"{'have' if n != 1 else 'has'} problems (below)", error_table(problems))
        return RecordResult(inserted, duplicates, new, experiments=experiments, duplicate_ids=seen)

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
