"""Training one CGCNN on a set of crystal graphs: AdamW, early stopping on a validation split.

Everything the loop depends on is an argument (seed, device, deadline); PyTorch's global random
state is not touched (the caller forks it) and nothing is kept between calls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from matloop.models.gnn.batching import batches, make_batch
from matloop.represent.graphs import GraphSet


@dataclass
class TrainResult:
    """Best weights (by validation loss), epochs run, best validation MSE (standardised units), seconds."""

    state: dict
    n_epochs: int
    best_loss: float
    seconds: float


def train_network(net, graphs: GraphSet, y: np.ndarray, train: np.ndarray, val: np.ndarray, *,
                  learning_rate: float = 2e-3, weight_decay: float = 1e-5, batch_size: int = 64,
                  max_epochs: int = 200, patience: int = 20, seed: int = 0, device: str = "cpu",
                  deadline: float | None = None) -> TrainResult:
    """Train ``net`` (a :class:`~matloop.models.gnn.cgcnn.CGCNN`) by mean squared error on ``y[train]``.

    The learning rate halves after ``patience // 3`` epochs without a better validation loss; training
    stops after ``patience`` such epochs, at ``max_epochs`` or at ``deadline`` (a ``time.perf_counter``
    value; at least one epoch always runs). The weights of the best validation epoch are returned.
    With an empty ``val`` the training loss is watched instead.
    """
    import torch

    from matloop.models.gnn.weights import state_arrays

    t0 = time.perf_counter()
    torch.manual_seed(int(seed))
    rng = np.random.default_rng(int(seed))
    net = net.to(device)
    watch = val if len(val) else train
    y_t = torch.as_tensor(np.asarray(y, dtype=np.float32), device=device)
    optimiser = torch.optim.AdamW(net.parameters(), lr=learning_rate, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=0.5, patience=max(1, patience // 3))
    # validation batches are built once; training batches are reshuffled every epoch
    val_batches = [(make_batch(graphs, b).to_torch(torch, device), y_t[torch.as_tensor(b, device=device)])
                   for b in batches(graphs, watch, 512)]
    best, best_state, since, epoch = np.inf, None, 0, 0
    for epoch in range(1, int(max_epochs) + 1):  # noqa: B007 - reported after the loop
        net.train()
        order = rng.permutation(np.asarray(train))
        if len(order) % batch_size == 1:  # a batch of one crystal breaks batch normalisation
            order = order[:-1]
        for b in batches(graphs, order, batch_size):
            batch = make_batch(graphs, b).to_torch(torch, device)
            optimiser.zero_grad(set_to_none=True)
            loss = torch.mean((net(*batch.inputs()) - y_t[torch.as_tensor(b, device=device)]) ** 2)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            optimiser.step()
        score = evaluate_loss(net, val_batches)
        scheduler.step(score)
        if score < best - 1e-5 or best_state is None:
            best, since, best_state = score, 0, state_arrays(net)
        else:
            since += 1
        if since >= patience or (deadline is not None and time.perf_counter() >= deadline):
            break
    return TrainResult(best_state, epoch, float(best), time.perf_counter() - t0)


def evaluate_loss(net, val_batches: list) -> float:
    """Mean squared error of ``net`` (in eval mode) over prepared (batch, target) pairs."""
    import torch

    net.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch, target in val_batches:
            total += float(torch.sum((net(*batch.inputs()) - target) ** 2))
            count += int(target.numel())
    return total / max(count, 1)


def predict_network(net, graphs: GraphSet, idx: np.ndarray | None = None, device: str = "cpu",
                    batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Predictions (n,) and pooled crystal features (n, atom_fea_len) of ``net`` in eval mode."""
    import torch

    idx = np.arange(len(graphs)) if idx is None else np.asarray(idx)
    net = net.to(device).eval()
    preds, pooled = [], []
    with torch.no_grad():
        for b in batches(graphs, idx, batch_size):
            batch = make_batch(graphs, b).to_torch(torch, device)
            p = net.embed(*batch.inputs())
            pooled.append(p.cpu().numpy().astype(np.float64))
            preds.append(net.head(p).cpu().numpy().astype(np.float64))
    width = net.hidden.in_features
    return (np.concatenate(preds) if preds else np.zeros(0),
            np.concatenate(pooled) if pooled else np.zeros((0, width)))


def train_member(job: dict) -> tuple[TrainResult, np.ndarray, np.ndarray]:
    """Build, train and apply one ensemble member: ``(result, predictions of every graph, pooled features)``.

    ``job`` holds plain data only (so that it can run in a worker process): ``graphs``, ``y``, ``train``,
    ``val``, ``atom_table``, ``network_args``, ``train_args`` (keywords of :func:`train_network`),
    ``seed``, ``device``, ``n_threads`` and ``stop_at`` (a ``time.time()`` value or None).
    """
    import torch

    from matloop.models.gnn.cgcnn import CGCNN
    from matloop.models.gnn.weights import load_arrays

    previous = torch.get_num_threads()
    if job.get("n_threads"):
        torch.set_num_threads(int(job["n_threads"]))
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(job["seed"]))  # the initial weights
            net = CGCNN(torch.from_numpy(np.asarray(job["atom_table"], dtype=np.float32)), **job["network_args"])
            deadline = None if job.get("stop_at") is None else time.perf_counter() + (job["stop_at"] - time.time())
            result = train_network(net, job["graphs"], job["y"], job["train"], job["val"], seed=int(job["seed"]),
                                   device=job["device"], deadline=deadline, **job["train_args"])
            load_arrays(net, result.state)
            preds, pooled = predict_network(net, job["graphs"], device=job["device"])
    finally:
        torch.set_num_threads(previous)
    return result, preds, pooled


def train_members(jobs: list[dict], n_jobs: int = 1) -> list:
    """:func:`train_member` for every job, in order; ``n_jobs > 1`` trains that many at once in fresh
    (spawned) worker processes, each with its own single-threaded PyTorch."""
    if n_jobs <= 1 or len(jobs) <= 1:
        return [train_member(job) for job in jobs]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=min(n_jobs, len(jobs)),
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(train_member, jobs))
