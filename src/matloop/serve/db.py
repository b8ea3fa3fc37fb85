"""The one database handle a server process shares, and the server's own tables.

:class:`LedgerDB` holds the ledger's URL and a single SQLAlchemy engine (with its connection pool),
opened once by :func:`matloop.serve.app.create_app` instead of once per request. Campaign tables are
:mod:`matloop.design.ledger`'s; the server adds two in the same database: ``serve_tokens`` (bearer
tokens, hashed: :mod:`matloop.serve.auth`) and ``serve_requests`` (the answer to each results request
sent with an ``Idempotency-Key``, written in the same transaction as its results:
:mod:`matloop.serve.service`), and ``serve_secrets`` (the dashboard's session signing key, created on
first start: :func:`matloop.serve.auth.session_secret`)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, UniqueConstraint
from sqlalchemy.engine import Engine

serve_metadata = MetaData()
tokens = Table(
    "serve_tokens", serve_metadata,
    Column("id", Integer, primary_key=True),
    Column("role", String(20), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("label", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)
requests = Table(
    "serve_requests", serve_metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, nullable=False),
    Column("key", String(200), nullable=False),
    Column("digest", String(64), nullable=False),  # SHA-256 of the request's rows: a reused key is refused
    Column("response", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    UniqueConstraint("campaign_id", "key", name="uq_serve_request_key"),
)
secrets_table = Table(  # server-wide secrets created once (the dashboard's session signing key)
    "serve_secrets", serve_metadata,
    Column("name", String(50), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


@dataclass
class LedgerDB:
    """A ledger URL, its engine, and a bound on concurrent write transactions in this process (one for
    SQLite, which serialises writers anyway, so that no pooled connection waits on the file lock)."""

    url: str
    engine: Engine
    writers: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(1))
    events_ready: bool = False  # the ledger's events table is known to exist (checked once per process)
    read_engine: Engine | None = None  # reads only (SQLite: no write lock taken; see open_db)

    @property
    def reader(self) -> Engine:
        """The engine for reads (token checks, status, history, export)."""
        return self.read_engine or self.engine

    def close(self) -> None:
        """Release the pooled connections (the app's shutdown, a test's teardown)."""
        self.engine.dispose()
        if self.read_engine is not None:
            self.read_engine.dispose()


def open_db(url: str) -> LedgerDB:
    """Open (and create if missing) the ledger at ``url`` with every table the server uses.

    A plain path is a SQLite file; a bad URL or a missing driver is an :class:`~matloop.errors.InputError`
    naming ``--db`` (from :func:`matloop.design.ledger.open_engine`)."""
    from matloop.design.ledger import _sqlite_file, ledger_url, open_engine

    url = ledger_url(url)
    engine = open_engine(url, create=True)
    serve_metadata.create_all(engine)
    sqlite = url.startswith("sqlite")
    return LedgerDB(url, engine, threading.BoundedSemaphore(1 if sqlite else 4),
                    read_engine=_sqlite_reader(url) if sqlite and _sqlite_file(url) else None)


def _sqlite_reader(url: str) -> Engine:
    """A second engine on the same SQLite file for reads: the ledger's engine starts every transaction
    with ``BEGIN IMMEDIATE`` (the write lock), so its reads queue behind writers; in WAL mode a plain
    read needs no lock and sees the last committed state. ``query_only`` makes a write through it an
    error, never a silent lock."""
    from sqlalchemy import create_engine, event

    engine = create_engine(url, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA query_only=ON")
        cur.close()
    return engine


def as_db(db: LedgerDB | str) -> LedgerDB:
    """``db`` itself, or a new handle for a URL (scripts and tests may pass the URL)."""
    return db if isinstance(db, LedgerDB) else open_db(db)
