"""Run batches of rows as tasks on a Dask cluster, with a bounded number in flight.

The Dask path of :func:`matloop.design.screen.screen` (its ``_run_dask`` calls this) and of featurization: the
shared object (a featurizer, a screener) is scattered to every worker once, at most
``2 x workers`` tasks exist at any time (memory stays flat however many rows stream through), and
results are handed to ``collect`` as they finish. Used by
:func:`matloop.represent.feature_cache.cached_transform` so tens of thousands of structures are
featurized on a cluster when a scheduler address is given.

``dask.distributed`` ships the featurizer and the row values to the workers with its own
serialisation (cloudpickle) over the cluster's connections: use a cluster you control. Paths in a
structure column must be readable by the workers (a shared file system); inline CIF/POSCAR/JSON text
travels with the task.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from matloop.errors import MatloopError

__all__ = ["connect", "map_batches"]


def connect(scheduler):
    """``(client, owned)``: a Client for an address (owned: close it afterwards) or the given client."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise MatloopError(
            "a Dask scheduler was given but dask.distributed is not installed (pip install 'dask[distributed]')"
        ) from None
    if not isinstance(scheduler, str):
        return scheduler, False
    try:
        return Client(scheduler, timeout=30), True
    except OSError as exc:
        raise MatloopError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None


def map_batches(
    scheduler,
    func: Callable,
    shared,
    batches: Sequence,
    payload: Callable,
    collect: Callable,
) -> str:
    """Call ``collect(batch, func(shared, payload(batch)))`` for every batch, computed on Dask.

    ``shared`` is scattered once to every worker; ``payload(batch)`` builds a task's data lazily, so
    only the batches in flight are held in memory. Returns a description ("Dask cluster, N workers").
    A task that raises re-raises here (after the client is closed, when this call opened it).
    """
    from dask.distributed import as_completed

    client, owned = connect(scheduler)
    try:
        n_workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
        shared_f = client.scatter(shared, broadcast=True, hash=False)
        window = max(2, 2 * n_workers)
        queue = iter(batches)
        owner = {}

        def submit(batch):
            future = client.submit(func, shared_f, payload(batch), pure=False)
            owner[future.key] = batch
            return future

        running = as_completed([submit(b) for b in itertools.islice(queue, window)])
        for future in running:
            batch = owner.pop(future.key)
            collect(batch, future.result())
            future.release()
            following = next(queue, None)
            if following is not None:
                running.add(submit(following))
        return f"Dask cluster, {n_workers} workers"
    finally:
        if owned:
            client.close()
