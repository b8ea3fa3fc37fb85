"""Long suggestion fits in worker threads: a request waits up to ``suggest_wait_s`` for the batch,
then answers 202 with the job's URL; ``GET /api/jobs/{id}`` gives its state and, once done, the batch
(stored in the ledger either way). Jobs live in memory (a restart forgets them; their batches are in
the ledger); finished ones are kept for an hour, at most :data:`MAX_JOBS`."""

from __future__ import annotations

import secrets
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

MAX_JOBS = 500
KEEP_S = 3600.0


@dataclass
class Job:
    id: str
    campaign: str
    future: Future
    created: float = field(default_factory=time.monotonic)

    def state(self) -> dict:
        """The job as the dashboard's poll sees it: running, done (with the batch size) or failed (with
        the error's message and problem table)."""
        from matloop.errors import InputError, MatloopError
        from matloop.serve.errors import problems_of

        if not self.future.done():
            return {"id": self.id, "status": "running"}
        exc = self.future.exception()
        if exc is None:
            return {"id": self.id, "status": "done", "batch": int(self.future.result()["batch"])}
        if isinstance(exc, InputError):
            return {"id": self.id, "status": "failed", "detail": exc.message, "problems": problems_of(exc.table)}
        detail = str(exc) if isinstance(exc, MatloopError) else "the suggestion failed (see the server's log)"
        return {"id": self.id, "status": "failed", "detail": detail, "problems": []}


class JobRunner:
    """A thread pool and the jobs it ran (built by ``create_app``, shut down with it)."""

    def __init__(self, workers: int):
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="matloop-suggest")
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()

    def submit(self, campaign: str, fn, *args, **kwargs) -> Job:
        job = Job(secrets.token_urlsafe(12), campaign, self.pool.submit(fn, *args, **kwargs))
        with self.lock:
            self._forget_old()
            self.jobs[job.id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        with self.lock:
            return self.jobs.get(job_id)

    def of_campaign(self, campaign: str, job_id: str) -> Job | None:
        """The job ``job_id`` if it suggests for ``campaign`` (a page never sees another campaign's job)."""
        if not job_id or len(job_id) > 64:
            return None
        job = self.get(job_id)
        return job if job is not None and job.campaign == campaign else None

    def _forget_old(self) -> None:
        now = time.monotonic()
        done = [j for j in self.jobs.values() if j.future.done()]
        for j in done:
            if now - j.created > KEEP_S or len(self.jobs) >= MAX_JOBS:
                self.jobs.pop(j.id, None)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
