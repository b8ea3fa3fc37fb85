"""Fine-tune the universal potential (CHGNet) on a user's own DFT energies, forces and stresses.

Why: a universal potential trained on the Materials Project (MPtrj) knows bonding across the periodic
table but is systematically soft and sits on MP's energy scale; a few hundred of the user's own DFT
calculations (other code settings, pseudopotentials, a system MP hardly covers) bring it to their level
of theory. The steps:

1. **Energy reference.** The user's total energies are not on CHGNet's MP-compatible scale (another
   PAW set, cutoff or code shifts every element's energy by a constant). Before any gradient step the
   per-element offsets are fitted by least squares (``E_DFT - E_CHGNet = sum_el n_el * delta_el`` over
   the training structures) and added to CHGNet's own composition model (its ``AtomRef`` layer), so
   fine-tuning starts from the right scale and the network learns only the structure-dependent part.
2. **Readout refit** (:mod:`matloop.models.potentials.readout`): with the message passing frozen, the
   energy readout is trained on cached last-layer atom features for hundreds of full-batch steps (seconds),
   with early stopping on the validation energies. This is where most of the energy error goes on a
   2-core machine, where a gradient step through the whole network costs about a second per structure.
3. **Fine-tuning** with a validation split, Adam with a cosine learning-rate decay over the epochs that
   fit the time budget (re-estimated after every epoch), a loss on energy per atom, forces and stress
   (MSE, weights 1 : 1 : 0.1, each term divided by the epoch-0 validation MAE squared of its kind so that
   energies in eV/atom and forces in eV/Å pull alike), early stopping on the validation error (the sum
   of energy and force MAE relative to epoch 0) with the best epoch's weights restored, and a learning
   curve (train/validation energy and force MAE per epoch) reported as progress and kept in the file.
4. **Saving** (:meth:`FineTunedPotential.save`): a ``.pot`` file is a NumPy ``.npz`` holding the state
   dict as plain arrays and a JSON card (constructor arguments, offsets, learning curve, data summary)
   with a SHA-256 over both; loading uses ``np.load(allow_pickle=False)``, rebuilds the network from its
   class and checks names, shapes and the digest (helpers of :mod:`matloop.models.gnn.weights`). No
   pickle, no ``torch.load`` of a user's file.

CHGNet and PyTorch are imported on use; without them :func:`require_chgnet` raises a
:class:`~matloop.errors.MatloopError` naming the ``chgnet`` extra.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from matloop.errors import InputError, MatloopError, error_table
from matloop.io.potential_data import PotentialRecord
from matloop.models.potentials.potfile import FORMAT, chgnet_from, read_pot, write_pot
from matloop.models.potentials.potfile import digest as _digest
from matloop.models.potentials.potfile import jsonable as _jsonable

VERSION = 1
CHGNET_HINT = 'CHGNet potentials need chgnet and PyTorch: pip install "matloop[chgnet]"'


def require_chgnet() -> None:
    """Raise a clear :class:`MatloopError` when chgnet/torch cannot be imported."""
    from matloop.models.potentials.features import chgnet_available

    if not chgnet_available():
        raise MatloopError(CHGNET_HINT)


# --------------------------------------------------------------------------- prediction and errors


def _graphs(model, records: Sequence[PotentialRecord]) -> list:
    return [model.graph_converter(r.structure()) for r in records]


def predict(model, records: Sequence[PotentialRecord], batch_size: int = 8, graphs: list | None = None,
            stress: bool = True, forces: bool = True) -> list[dict]:
    """Per record: ``energy_per_atom`` (eV/atom), ``forces`` (n x 3, eV/Å), ``stress`` (3x3 GPa, tensile +).
    ``forces=False``: energies only, from a gradient-free forward pass (~5x cheaper; forces NaN, no stress)."""
    import torch

    graphs = _graphs(model, records) if graphs is None else graphs
    task = ("efs" if stress else "ef") if forces else "e"
    out = []
    model.eval()
    for start in range(0, len(graphs), batch_size):
        batch = graphs[start:start + batch_size]
        with (contextlib.nullcontext() if forces else torch.no_grad()), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad")  # in chgnet
            pred = model(batch, task=task)
        for k in range(len(batch)):
            if not forces:
                out.append({"energy_per_atom": float(pred["e"][k]), "forces": np.full((1, 3), np.nan), "stress": None})
                continue
            out.append({"energy_per_atom": float(pred["e"][k].detach()),
                        "forces": pred["f"][k].detach().numpy().astype(float),
                        "stress": pred["s"][k].detach().numpy().astype(float) if stress else None})
        del pred
    return out


def composition_matrix(records: Sequence[PotentialRecord], elements: Sequence[str]) -> np.ndarray:
    """Atoms of each element per record (records x elements)."""
    index = {el: j for j, el in enumerate(elements)}
    counts = np.zeros((len(records), len(elements)))
    for i, r in enumerate(records):
        for el in r.species:
            counts[i, index[el]] += 1
    return counts


def fit_offsets(records: Sequence[PotentialRecord], predicted_per_atom: Sequence[float]) -> dict[str, float]:
    """Per-element energy offsets (eV/atom) minimising the squared per-atom residuals
    ``E_DFT/N - E_pred/N = sum_el x_el * delta_el`` (least squares over the records' atomic fractions
    ``x_el``: a composition model of the energy references; for one element, the mean residual)."""
    elements = sorted({el for r in records for el in r.species})
    counts = composition_matrix(records, elements)
    fractions = counts / counts.sum(axis=1, keepdims=True)
    residual = np.array([r.energy_per_atom - e for r, e in zip(records, predicted_per_atom, strict=True)])
    delta, *_ = np.linalg.lstsq(fractions, residual, rcond=None)
    return {el: float(d) for el, d in zip(elements, delta, strict=True)}


def errors(records: Sequence[PotentialRecord], predictions: Sequence[dict],
           offsets: dict[str, float] | None = None) -> dict:
    """MAEs: ``energy_mae`` (meV/atom), ``force_mae`` (eV/Å, over force components), ``stress_mae`` (GPa,
    over the 6 independent components); ``offsets`` (eV/atom per element) are added to the predictions."""
    offsets = offsets or {}
    e_err, f_err, s_err = [], [], []
    for r, p in zip(records, predictions, strict=True):
        shift = sum(offsets.get(el, 0.0) for el in r.species) / r.n_atoms
        e_err.append(p["energy_per_atom"] + shift - r.energy_per_atom)
        if r.forces is not None:
            f_err.append(np.abs(p["forces"] - r.forces).ravel())
        if r.stress is not None and p.get("stress") is not None:
            s_err.append(np.abs((p["stress"] - r.stress)[np.triu_indices(3)]))
    return {"energy_mae": float(np.mean(np.abs(e_err)) * 1000.0),
            "force_mae": float(np.concatenate(f_err).mean()) if f_err else math.nan,
            "stress_mae": float(np.concatenate(s_err).mean()) if s_err else math.nan,
            "n_structures": len(records), "n_atoms": int(sum(r.n_atoms for r in records))}


# --------------------------------------------------------------------------- the potential


class FineTunedPotential:
    """A CHGNet network with the per-element offsets and the history of its fine-tuning."""

    def __init__(self, model, meta: dict | None = None):
        self.model = model
        self.meta = dict(meta or {})

    @classmethod
    def pretrained(cls) -> FineTunedPotential:
        """The universal CHGNet of the wheel, unchanged (zero-shot)."""
        require_chgnet()
        from matloop.models.potentials.features import CITATION, load_chgnet

        return cls(copy.deepcopy(load_chgnet()), {"base": "CHGNet 0.3.0 (pre-trained, MPtrj)", "citation": CITATION,
                                                   "fine_tuned": False})

    def predict(self, records: Sequence[PotentialRecord], batch_size: int = 8,
                n_threads: int | None = None) -> list[dict]:
        """Energy per atom, forces and stress of every record (see :func:`predict`)."""
        from matloop.models.potentials.features import _threads

        with _threads(n_threads):
            return predict(self.model, records, batch_size)

    def evaluate(self, records: Sequence[PotentialRecord], batch_size: int = 8,
                 n_threads: int | None = None) -> dict:
        """Errors on ``records``; for the unchanged universal potential also the energy MAE after
        per-element offsets fitted on these same records (``energy_mae_offset``: optimistic, it uses
        their labels, but it separates the energy-reference shift from real error)."""
        return errors_with_offsets(records, self.predict(records, batch_size, n_threads))

    def calculator(self):
        """An ASE calculator (CHGNet's) on this network, on the CPU."""
        import contextlib
        import io

        from chgnet.model.dynamics import CHGNetCalculator

        with contextlib.redirect_stdout(io.StringIO()):
            return CHGNetCalculator(model=self.model, use_device="cpu")

    # ------------------------------------------------------------------ persistence (no pickle)

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``path`` (.pot): the weights as arrays plus a JSON card, with a SHA-256 over both."""
        from matloop.models.gnn.weights import state_arrays

        arrays = state_arrays(self.model)
        card = {"format": FORMAT, "version": VERSION, "model_args": _jsonable(self.model.model_args),
                "meta": _jsonable(self.meta)}
        card["sha256"] = _digest(arrays, card)
        return write_pot(path, card, {f"w/{k}": v for k, v in arrays.items()})

    @classmethod
    def load(cls, path: str | os.PathLike) -> FineTunedPotential:
        """Read a ``.pot`` file written by :meth:`save`, refusing one whose checksum or shapes do not match."""
        from matloop.models.gnn.weights import WeightsError

        require_chgnet()
        card, arrays = read_pot(path, VERSION)
        weights = {k[2:]: v for k, v in arrays.items() if k.startswith("w/")}
        if _digest(weights, card) != card.get("sha256"):
            raise WeightsError(f"{path} does not match its SHA-256 checksum (altered or damaged); refusing it")
        return cls(chgnet_from(card["model_args"], weights), card.get("meta") or {})


def errors_with_offsets(records: Sequence[PotentialRecord], predictions: list[dict]) -> dict:
    """:func:`errors`, plus ``energy_mae_offset``: the energy MAE after per-element offsets fitted on these
    same records (optimistic; separates an energy-reference shift from real error)."""
    out = errors(records, predictions)
    offsets = fit_offsets(records, [p["energy_per_atom"] for p in predictions])
    out["energy_mae_offset"] = errors(records, predictions, offsets)["energy_mae"]
    out["offsets_fitted_on_these_records"] = offsets
    return out


def load_potential(name_or_path: str | os.PathLike) -> FineTunedPotential:
    """``chgnet`` (the pre-trained universal potential) or a ``.pot`` file."""
    if str(name_or_path).lower() == "chgnet":
        return FineTunedPotential.pretrained()
    if not Path(name_or_path).is_file():
        raise InputError(f"{name_or_path}: no such potential file (give a .pot file or 'chgnet')")
    from matloop.models.potentials.corrected import CorrectedPotential, is_corrected

    if is_corrected(name_or_path):  # CHGNet + a SOAP correction (format version 2)
        return CorrectedPotential.load(name_or_path)
    return FineTunedPotential.load(name_or_path)


# --------------------------------------------------------------------------- fine-tuning


FREEZE = {"none": (), "embeddings": ("atom_embedding", "bond_embedding", "angle_embedding", "bond_basis_expansion",
                                     "angle_basis_expansion", "bond_weights_ag", "bond_weights_bg"),
          "backbone": ("atom_embedding", "bond_embedding", "angle_embedding", "bond_basis_expansion",
                       "angle_basis_expansion", "bond_weights_ag", "bond_weights_bg", "atom_conv_layers",
                       "bond_conv_layers", "angle_layers")}


def _check_training(records: Sequence[PotentialRecord], force_weight: float) -> None:
    if len(records) < 2:
        raise InputError(f"fine-tuning needs at least 2 structures (a training and a validation one); got {len(records)}")
    if force_weight > 0:
        missing = [{"row": r.row, "column": "outputs.forces", "value": None,
                    "reason": "no forces: fine-tuning on forces needs them for every structure (or --force-weight 0)"}
                   for r in records if r.forces is None]
        if missing:
            raise InputError(f"{len(missing)} training structures have no forces", error_table(missing))


def split_validation(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled (train, validation) indices; at least one of each."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 1, max(1, int(round(val_fraction * n))))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def finetune(records: Sequence[PotentialRecord], *, epochs: int = 30, val_fraction: float = 0.1,
             patience: int = 5, seed: int = 0, learning_rate: float = 3e-4, batch_size: int = 4,
             energy_weight: float = 1.0, force_weight: float = 1.0, stress_weight: float = 0.1,
             freeze: str = "embeddings", time_budget: float | None = None,
             n_threads: int | None = None, readout_refit: bool = True) -> FineTunedPotential:
    """Fine-tune the pre-trained CHGNet on ``records``; returns the best-validation-epoch potential.

    ``freeze``: ``embeddings`` (default: the element and basis embeddings stay as pre-trained),
    ``backbone`` (only the readout learns) or ``none``. ``readout_refit``: first fit the energy readout on
    cached features (step 2 of the module docstring; cheap, on by default). ``epochs=0`` stops after the
    offsets and the readout refit. ``time_budget`` (s, the whole fit): when it runs out, the
    current epoch ends after its batch (validated like a full one) and training stops. ``n_threads``: PyTorch threads (``None`` leaves the setting alone; on a busy
    machine 1 is much faster than several). Progress lines (one per epoch) go through :mod:`matloop.progress`.
    """
    from matloop.models.potentials.features import _threads

    with _threads(n_threads):
        return _finetune(records, epochs=epochs, val_fraction=val_fraction, patience=patience, seed=seed,
                         learning_rate=learning_rate, batch_size=batch_size, weights=(energy_weight, force_weight,
                                                                                      stress_weight),
                         freeze=freeze, time_budget=time_budget, readout_refit=readout_refit)


def _finetune(records, *, epochs, val_fraction, patience, seed, learning_rate, batch_size, weights, freeze,
              time_budget, readout_refit=True) -> FineTunedPotential:
    import torch

    from matloop import progress

    energy_weight, force_weight, stress_weight = weights

    require_chgnet()
    if freeze not in FREEZE:
        raise ValueError(f"freeze={freeze!r}: choose from {', '.join(FREEZE)}")
    _check_training(records, force_weight)
    torch.manual_seed(seed)
    start = time.perf_counter()
    potential = FineTunedPotential.pretrained()
    model = potential.model
    train_idx, val_idx = split_validation(len(records), val_fraction, seed)
    train, val = [records[i] for i in train_idx], [records[i] for i in val_idx]
    use_stress = stress_weight > 0 and all(r.stress is not None for r in records)
    task = "ef" + ("s" if use_stress else "") if force_weight > 0 else "e"
    progress.say(f"fine-tuning CHGNet on {len(train)} structures ({sum(r.n_atoms for r in train)} atoms), "
                 f"validating on {len(val)}; targets {task}")
    graphs = _graphs(model, records)
    g_train, g_val = [graphs[i] for i in train_idx], [graphs[i] for i in val_idx]

    # 1. energy reference: per-element offsets into CHGNet's composition model
    zero_shot = predict(model, train, batch_size=4, graphs=g_train, forces=False)  # no force pass
    offsets = fit_offsets(train, [p["energy_per_atom"] for p in zero_shot])
    before = errors(train, zero_shot)
    with torch.no_grad():
        from matloop.io.elements import ATOMIC_NUMBER

        for el, delta in offsets.items():
            model.composition_model.fc.weight[0, ATOMIC_NUMBER[el] - 1] += delta
    after = errors(train, zero_shot, offsets)
    progress.say(f"energy reference: per-element offsets {', '.join(f'{k} {v:+.4f}' for k, v in offsets.items())} "
                 f"eV/atom; training energy MAE {before['energy_mae']:.1f} -> {after['energy_mae']:.1f} meV/atom")

    # 2. readout refit on cached features (energies only, cheap)
    readout = None
    if readout_refit:
        from matloop.models.potentials.readout import refit_readout

        readout = refit_readout(model, g_train, [r.energy_per_atom for r in train], g_val,
                                [r.energy_per_atom for r in val])
        if "skipped" not in readout:
            progress.say(f"readout refit: energy MAE train {readout['train_energy_mae_before']:.1f} -> "
                         f"{readout['train_energy_mae']:.1f}, val {readout['val_energy_mae_before']:.1f} -> "
                         f"{readout['val_energy_mae']:.1f} meV/atom ({readout['best_step']} steps, "
                         f"{readout['seconds']:.0f} s)")

    # 3. fine-tuning
    frozen = FREEZE[freeze]
    for name, param in model.named_parameters():
        param.requires_grad = not name.startswith(("composition_model", *frozen))
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(params, lr=learning_rate)
    targets = [_targets(r) for r in records]
    t_train = [targets[i] for i in train_idx]
    rng = np.random.default_rng(seed)
    # epoch 0: the pre-trained network with the offsets (and refitted readout); fine-tuning must beat it
    v0 = errors(val, predict(model, val, batch_size=2, graphs=g_val, stress=False))
    e0 = readout["train_energy_mae"] if readout and "skipped" not in readout else after["energy_mae"]
    curve = [{"epoch": 0, "structures_seen": 0, "train_energy_mae": e0,
              "train_force_mae": None, "val_energy_mae": v0["energy_mae"],  # no training force pass at epoch 0
              "val_force_mae": v0["force_mae"], "seconds": round(time.perf_counter() - start, 1)}]
    # each loss term relative to its epoch-0 validation MAE squared (eV/atom and eV/Å differ by ~30x here)
    e_scale = max(v0["energy_mae"] / 1000.0, 1e-4) ** 2
    f_scale = max(v0["force_mae"], 1e-3) ** 2 if force_weight > 0 and math.isfinite(v0["force_mae"]) else 1.0
    weights = (energy_weight / e_scale, force_weight / f_scale, (stress_weight if use_stress else 0.0) / f_scale)

    def score(v: dict) -> float:
        out = v["energy_mae"] / max(v0["energy_mae"], 1e-9)
        return out + (v["force_mae"] / max(v0["force_mae"], 1e-9) if force_weight > 0 else 0.0)

    # with a readout refit the epochs are chosen on forces: the energy readout is refitted after them (step 4)
    polish = readout is not None and "skipped" not in readout and force_weight > 0

    def loop_score(v: dict) -> float:
        return v["force_mae"] / max(v0["force_mae"], 1e-9) if polish else score(v)

    reserve = (readout["seconds"] + 30.0) if polish else 0.0  # time kept for the final readout refit
    deadline = None if time_budget is None else time_budget - reserve
    best, state0 = loop_score(v0), copy.deepcopy(model.state_dict())
    best_state, bad_epochs, stop = state0, 0, "epochs"
    planned, epoch_start = epochs, time.perf_counter()
    for epoch in range(1, epochs + 1):
        if epoch > planned:
            stop = f"time budget of {time_budget:g} s: no further epoch fits"
            break
        for group in optimiser.param_groups:  # cosine decay over the epochs that fit the budget
            group["lr"] = learning_rate * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / max(planned, 1)))
        model.train()
        order = rng.permutation(len(train))
        e_abs, f_abs, n_f, n_seen = 0.0, 0.0, 0, 0
        for b in range(0, len(order), batch_size):
            idx = order[b:b + batch_size]
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad")
                pred = model([g_train[i] for i in idx], task=task)
            loss, (e_sum, f_sum, nf) = _loss(pred, [t_train[i] for i in idx], weights, task)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            e_abs, f_abs, n_f, n_seen = e_abs + e_sum, f_abs + f_sum, n_f + nf, n_seen + len(idx)
            if deadline is not None and time.perf_counter() - start > deadline:
                break  # out of time: validate what was learnt so far, then stop
        val_pred = predict(model, val, batch_size=2, graphs=g_val, stress=False)
        v = errors(val, val_pred)
        row = {"epoch": epoch, "structures_seen": n_seen, "train_energy_mae": 1000.0 * e_abs / n_seen,
               "train_force_mae": f_abs / n_f if n_f else math.nan, "val_energy_mae": v["energy_mae"],
               "val_force_mae": v["force_mae"], "seconds": round(time.perf_counter() - start, 1)}
        curve.append(row)
        progress.say(f"epoch {epoch}/{epochs}: energy MAE train {row['train_energy_mae']:.2f} / val "
                     f"{row['val_energy_mae']:.2f} meV/atom, force MAE train {row['train_force_mae']:.4f} / val "
                     f"{row['val_force_mae']:.4f} eV/Å")
        if loop_score(v) < best - 1e-9:
            best, best_state, bad_epochs = loop_score(v), copy.deepcopy(model.state_dict()), 0
        else:
            bad_epochs += 1
        if deadline is not None:  # how many epochs fit in what is left: the cosine decays over them
            per_epoch = (time.perf_counter() - epoch_start) / epoch
            left = deadline - (time.perf_counter() - start)
            planned = min(epochs, epoch + max(0, int(left // per_epoch)))
        if bad_epochs >= patience:
            stop = f"early stopping: no validation improvement in {patience} epochs"
            break
        if deadline is not None and time.perf_counter() - start > deadline:
            stop = f"time budget of {time_budget:g} s used"
            break
    model.load_state_dict(best_state)
    for param in model.parameters():
        param.requires_grad = True
    best_epoch = min(curve, key=lambda r: loop_score({"energy_mae": r["val_energy_mae"], "force_mae": r["val_force_mae"]}))
    final = None
    if polish and best_epoch["epoch"] > 0:  # 4. refit the readout on the fine-tuned features; keep it if better
        from matloop.models.potentials.readout import refit_readout

        final = refit_readout(model, g_train, [r.energy_per_atom for r in train], g_val,
                              [r.energy_per_atom for r in val])
        vp = errors(val, predict(model, val, batch_size=2, graphs=g_val, stress=False))
        final.update({"val_force_mae": vp["force_mae"], "score": score(vp), "score_epoch0": score(v0),
                      "accepted": score(vp) < score(v0)})
        progress.say(f"readout refit after epoch {best_epoch['epoch']}: val energy MAE {vp['energy_mae']:.2f} "
                     f"meV/atom, force MAE {vp['force_mae']:.4f} eV/Å; "
                     + ("kept" if final["accepted"] else "worse than epoch 0: epoch 0 kept"))
        if not final["accepted"]:
            model.load_state_dict(state0)
            best_epoch = curve[0]
    model.eval()
    potential.meta.update({
        "fine_tuned": True, "energy_offsets_ev_per_atom": offsets, "learning_curve": curve, "stopped": stop,
        "best_epoch": best_epoch["epoch"], "elements": sorted({el for r in records for el in r.species}),
        "n_train": len(train), "n_val": len(val), "targets": task, "freeze": freeze, "seed": seed,
        "learning_rate": learning_rate, "batch_size": batch_size, "loss_weights": [energy_weight, force_weight,
                                                                                  stress_weight],
        "readout_refit": readout, "final_readout_refit": final,
        "train_energy_mae_zero_shot": before["energy_mae"], "train_energy_mae_after_offsets": after["energy_mae"],
        "fit_seconds": round(time.perf_counter() - start, 1)})
    progress.say(f"best epoch {best_epoch['epoch']} ({stop}); {potential.meta['fit_seconds']:.0f} s")
    return potential


def _targets(record: PotentialRecord) -> dict:
    import torch

    out = {"e": torch.tensor(record.energy_per_atom, dtype=torch.float32)}
    if record.forces is not None:
        out["f"] = torch.tensor(record.forces, dtype=torch.float32)
    if record.stress is not None:
        out["s"] = torch.tensor(record.stress, dtype=torch.float32)
    return out


def _loss(pred: dict, targets: list[dict], weights: tuple[float, float, float], task: str):
    """Weighted MSE of energy per atom, forces and stress; also the batch's absolute-error sums."""
    import torch

    e_true = torch.stack([t["e"] for t in targets])
    e_diff = pred["e"] - e_true
    loss = weights[0] * (e_diff**2).mean()
    f_sum, n_f = 0.0, 0
    if "f" in task:
        f_pred, f_true = torch.cat(pred["f"]), torch.cat([t["f"] for t in targets])
        loss = loss + weights[1] * ((f_pred - f_true) ** 2).mean()
        f_sum, n_f = float((f_pred - f_true).abs().sum().detach()), f_true.numel()
    if "s" in task and weights[2] > 0:
        s_pred, s_true = torch.stack(pred["s"]), torch.stack([t["s"] for t in targets])
        loss = loss + weights[2] * ((s_pred - s_true) ** 2).mean()
    return loss, (float(e_diff.abs().sum().detach()), f_sum, n_f)
