"""Refit CHGNet's energy readout on cached atom features: the cheap, converging half of fine-tuning.

Why: a full energy + force step through CHGNet costs about a second per 60-atom structure on one core,
so on a 2-core machine a few hundred structures give only a handful of epochs in ten minutes. The
energy, however, depends on the training structures through the last layer's atom features only:
CHGNet 0.3 computes ``E/N = mean_i mlp(readout_norm(h_i)) + composition term``. With the message passing
frozen the features ``h_i`` are fixed, so they are computed once (one forward pass, no gradients) and
the readout (``readout_norm`` and ``mlp``, ~9k parameters) is then trained on them by full-batch Adam
for up to 3000 steps (1-2 minutes for 200 60-atom structures on a busy core), with early stopping on the validation structures' energy MAE and the
best step's weights kept. Forces change too (they are derivatives of the same energy) but are not
fitted here; :func:`matloop.models.potentials.finetune.finetune` checks them on the validation set.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Sequence

import numpy as np


def readout_modules(model) -> list:
    """The modules that map last-layer atom features to per-atom energies (``[]`` if unsupported)."""
    if not getattr(model, "mlp_first", False) or getattr(model, "mlp", None) is None:
        return []
    norm = getattr(model, "readout_norm", None)
    return [m for m in (norm, model.mlp) if m is not None]


def atom_features(model, graphs: Sequence, batch_size: int = 4) -> tuple[list, list[float]]:
    """Per graph: the atom features entering the readout (n_atoms x d tensor) and the composition
    (AtomRef) part of the predicted energy per atom, from one gradient-free forward pass."""
    import torch

    first = readout_modules(model)[0]
    captured: list = []
    hook = first.register_forward_pre_hook(lambda _m, args: captured.append(args[0].detach()))
    feats, comp = [], []
    model.eval()
    try:
        for start in range(0, len(graphs), batch_size):
            batch = list(graphs[start:start + batch_size])
            captured.clear()
            with torch.no_grad(), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad")
                pred = model(batch, task="e")
                counts = [g.atomic_number.shape[0] for g in batch]
                parts = torch.split(captured[-1], counts)
                for k, h in enumerate(parts):
                    feats.append(h.clone())
                    comp.append(float(pred["e"][k]) - float(_energy(model, h)))
    finally:
        hook.remove()
    return feats, comp


def _energy(model, h):
    """Readout energy per atom of one structure's atom features ``h``."""
    out = h
    for module in readout_modules(model):
        out = module(out)
    return out.mean()


def _stack(feats: list) -> tuple:
    import torch

    counts = torch.tensor([f.shape[0] for f in feats])
    owner = torch.repeat_interleave(torch.arange(len(feats)), counts)
    return torch.cat(feats), owner, counts.to(torch.float32)


def _per_structure(model, h, owner, counts):
    import torch

    out = h
    for module in readout_modules(model):
        out = module(out)
    return torch.zeros(len(counts)).index_add_(0, owner, out.view(-1)) / counts


def refit_readout(model, train_graphs: Sequence, train_energy: Sequence[float], val_graphs: Sequence,
                  val_energy: Sequence[float], *, steps: int = 3000, learning_rate: float = 1e-3,
                  patience: int = 300, check_every: int = 10, batch_size: int = 4) -> dict:
    """Train the readout of ``model`` (in place) on energies per atom (eV/atom) of the given graphs.

    Full-batch Adam on the mean squared error, validation energy MAE checked every ``check_every``
    steps, stopped after ``patience`` steps without improvement; the best weights are restored.
    Returns a summary (MAEs in meV/atom before and after, steps, seconds); ``{"skipped": reason}``
    when the model's readout is not of the supported form.
    """
    import torch

    modules = readout_modules(model)
    if not modules:
        return {"skipped": "the model does not read out per-atom energies (mlp_first)"}
    start = time.perf_counter()
    f_train, c_train = atom_features(model, train_graphs, batch_size)
    f_val, c_val = atom_features(model, val_graphs, batch_size)
    h_t, own_t, n_t = _stack(f_train)
    h_v, own_v, n_v = _stack(f_val)
    y_t = torch.tensor(np.asarray(train_energy) - np.asarray(c_train), dtype=torch.float32)
    y_v = torch.tensor(np.asarray(val_energy) - np.asarray(c_val), dtype=torch.float32)
    params = [p for m in modules for p in m.parameters()]
    saved = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad = True
    for m in modules:
        m.train()

    def val_mae() -> float:
        with torch.no_grad():
            return float((_per_structure(model, h_v, own_v, n_v) - y_v).abs().mean()) * 1000.0

    def train_mae() -> float:
        with torch.no_grad():
            return float((_per_structure(model, h_t, own_t, n_t) - y_t).abs().mean()) * 1000.0

    before = {"train": train_mae(), "val": val_mae()}
    best, best_state, best_step, step = before["val"], copy.deepcopy([m.state_dict() for m in modules]), 0, 0
    optimiser = torch.optim.Adam(params, lr=learning_rate)
    for step in range(1, steps + 1):
        loss = ((_per_structure(model, h_t, own_t, n_t) - y_t) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % check_every == 0:
            v = val_mae()
            if v < best - 1e-6:
                best, best_state, best_step = v, copy.deepcopy([m.state_dict() for m in modules]), step
            elif step - best_step >= patience:
                break
    for m, state in zip(modules, best_state, strict=True):
        m.load_state_dict(state)
    for p, flag in zip(params, saved, strict=True):
        p.requires_grad = flag
    model.eval()
    return {"train_energy_mae_before": before["train"], "val_energy_mae_before": before["val"],
            "train_energy_mae": train_mae(), "val_energy_mae": val_mae(), "best_step": best_step,
            "steps": step, "seconds": round(time.perf_counter() - start, 1)}
