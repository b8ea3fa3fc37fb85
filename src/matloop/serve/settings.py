"""Configuration of ``matloop serve``: one frozen value built by the CLI (or a test) and passed to
:func:`matloop.serve.app.create_app`. Nothing reads the environment at import, so every test builds
an app on its own temporary ledger."""

from __future__ import annotations

from dataclasses import dataclass

#: the loopback interface: only this machine can connect unless ``--host`` says otherwise
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


@dataclass(frozen=True)
class ServeSettings:
    """Where the ledger is, where to listen, and the limits every request is held to.

    - ``db``: the ledger, a SQLite file path or any SQLAlchemy URL (campaigns and tokens live there).
    - ``max_body_bytes``: a request body over this is refused with 413 before it is parsed.
    - ``max_rows``: rows of one results upload or pool table (more is a 422 naming the limit).
    - ``max_batch``: the largest batch one suggestion request may ask for.
    - ``suggest_wait_s``: a suggestion that takes longer than this is answered 202 with a job URL
      to poll (the fit goes on in a worker thread; ``suggest_workers`` of them).
    - ``form_wait_s``: the dashboard's "ask for a batch" form runs the fit as the same worker job and
      waits this long for it; a longer fit answers at once with the page, which shows the batch when
      the job finishes (it polls ``live.json``).
    - ``read_only``: every write is refused (403), for a public read-only mirror.
    """

    db: str = "matloop.db"
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_body_bytes: int = 8 * 1024 * 1024
    max_rows: int = 20_000
    max_batch: int = 200
    suggest_wait_s: float = 15.0
    suggest_workers: int = 2
    form_wait_s: float = 3.0
    read_only: bool = False
    title: str = "matloop campaigns"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of ``db`` (a plain path becomes ``sqlite:///PATH``)."""
        from matloop.design.ledger import ledger_url

        return ledger_url(self.db)
