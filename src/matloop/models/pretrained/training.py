"""Build the pre-trained library: deduplicate, split, train (PyTorch, CPU), write weights + cards.

Used by ``scripts/pretrain.py`` (the whole library) and by ``benchmarks/transfer.py`` (a second
library with the benchmark's target compositions excluded). Everything is seeded and PyTorch
runs deterministic kernels on a fixed number of threads, so a rebuild on the same machine and
versions gives the same weights (the card records the SHA-256 of the weights file).

Per source: rows are grouped by reduced composition (:func:`composition_keys`; polymorphs and
duplicates become one row with the mean target, a soft label for classification), compositions
in ``exclude`` are removed (the leakage guard), the rest is split at random *by composition*
into test (10 %, at most 5,000), validation (5 %, at most 3,000) and training rows (at most
``max_rows``, a random subsample beyond). The network is trained with AdamW and a one-cycle
schedule (L1 loss on the standardised, transformed target; binary cross-entropy for
classification); the weights of the best validation epoch are kept and scored on the test rows.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import subprocess
import time
import zipfile
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from matloop.models.pretrained.network import (
    INPUT_DESCRIPTION,
    N_INPUTS,
    N_MAGPIE,
    composition_inputs,
    composition_keys,
    file_sha256,
)
from matloop.models.pretrained.sources import SOURCES, SourceSpec, forward_transform, inverse_transform


@dataclass(frozen=True)
class PretrainSettings:
    """Hyper-parameters of one library build (recorded in every card)."""

    hidden: tuple[int, ...] = (512, 256, 32)
    max_rows: int = 100_000
    epochs: int = 40
    min_steps: int = 4_000
    max_epochs: int = 300
    batch_size: int = 256
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    test_fraction: float = 0.10
    max_test: int = 5_000
    val_fraction: float = 0.05
    max_val: int = 3_000
    threads: int = 1
    inputs: str = "magpie+fractions"


def code_version() -> str:
    """``git describe --always --dirty`` of the source tree, else the package version."""
    from matloop import __version__

    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=10, check=False)
        if out.returncode == 0 and out.stdout.strip():
            return f"matloop {__version__} (git {out.stdout.strip()})"
    except (OSError, subprocess.SubprocessError):
        pass
    return f"matloop {__version__}"


def exclusion_keys(formulas) -> set[str]:
    """Reduced-composition keys of ``formulas`` (strings or Compositions) for the leakage guard."""
    from matloop.represent.base import as_compositions

    if formulas is None:
        return set()
    comps, _ = as_compositions(formulas if not isinstance(formulas, set) else sorted(formulas))
    return set(composition_keys(comps).tolist())


def prepare_source(spec: SourceSpec, settings: PretrainSettings, exclude: set[str] | None = None) -> dict:
    """Load, deduplicate by composition, apply the leakage guard and split one source."""
    from matloop import datasets
    from matloop.io.formula import parse_formulas

    ds = datasets.load(spec.dataset)
    comps = parse_formulas(ds.frame[ds.input].to_numpy(dtype=object), column=ds.input)
    keys = composition_keys(comps)
    y = ds.frame[spec.target].to_numpy(dtype=float)
    codes, uniques = pd.factorize(keys, sort=True)
    target = np.bincount(codes, weights=y) / np.bincount(codes)
    first = np.full(len(uniques), -1)
    first[codes[::-1]] = np.arange(len(codes))[::-1]
    excluded = np.isin(uniques, sorted(exclude)) if exclude else np.zeros(len(uniques), bool)
    keep = np.flatnonzero(~excluded)
    rng = np.random.RandomState(settings.seed)
    order = keep[rng.permutation(keep.size)]
    n_test = min(settings.max_test, int(round(settings.test_fraction * order.size)))
    n_val = min(settings.max_val, int(round(settings.val_fraction * order.size)))
    test, val, train_all = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    train = train_all[:settings.max_rows]
    parts = {part: idx for part, idx in (("train", train), ("val", val), ("test", test))}
    return {
        "spec": spec, "dataset": ds, "rows": int(len(y)), "unique": int(len(uniques)),
        "excluded": int(excluded.sum()), "available_train": int(train_all.size),
        "comps": {p: comps.take(first[idx]) for p, idx in parts.items()},
        "y": {p: target[idx] for p, idx in parts.items()},
    }


def _fit_scaler(inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Magpie block: training mean and std (1 where constant); fraction block: identity."""
    mean = np.zeros(N_INPUTS)
    scale = np.ones(N_INPUTS)
    mean[:N_MAGPIE] = inputs[:, :N_MAGPIE].mean(axis=0)
    std = inputs[:, :N_MAGPIE].std(axis=0)
    scale[:N_MAGPIE] = np.where(std > 0, std, 1.0)
    return mean, scale


def train_network(X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, task: str,
                  settings: PretrainSettings) -> tuple[list[np.ndarray], list[np.ndarray], dict]:
    """Train an MLP (SiLU) with PyTorch on standardised inputs; returns weights and a training log.

    ``y`` is the standardised target (regression, L1 loss) or a soft label in [0, 1]
    (classification, binary cross-entropy). The best validation epoch's weights are returned as
    float32 arrays ``W`` (inputs x outputs) and ``b``.
    """
    import torch

    previous_threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(int(settings.threads))
    torch.use_deterministic_algorithms(True)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(settings.seed)
            return _train(torch, X_train, y_train, X_val, y_val, task, settings)
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(deterministic)


def _train(torch, X_train, y_train, X_val, y_val, task, settings):
    layers, width = [], X_train.shape[1]
    for size in settings.hidden:
        layers += [torch.nn.Linear(width, int(size)), torch.nn.SiLU()]
        width = int(size)
    net = torch.nn.Sequential(*layers, torch.nn.Linear(width, 1))
    loss_fn = (torch.nn.functional.binary_cross_entropy_with_logits if task == "classification"
               else torch.nn.functional.l1_loss)
    Xt, yt = torch.as_tensor(X_train, dtype=torch.float32), torch.as_tensor(y_train, dtype=torch.float32)
    Xv, yv = torch.as_tensor(X_val, dtype=torch.float32), torch.as_tensor(y_val, dtype=torch.float32)
    batch = int(min(settings.batch_size, len(yt)))
    per_epoch = math.ceil(len(yt) / batch)
    epochs = int(min(settings.max_epochs, max(settings.epochs, math.ceil(settings.min_steps / per_epoch))))
    optimiser = torch.optim.AdamW(net.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=settings.learning_rate,
                                                   total_steps=epochs * per_epoch)
    generator = torch.Generator().manual_seed(settings.seed)
    best, best_state, best_epoch, history = np.inf, None, 0, []
    for epoch in range(1, epochs + 1):
        net.train()
        for idx in torch.randperm(len(yt), generator=generator).split(batch):
            optimiser.zero_grad()
            loss_fn(net(Xt[idx])[:, 0], yt[idx]).backward()
            optimiser.step()
            schedule.step()
        net.eval()
        with torch.no_grad():
            score = float(loss_fn(net(Xv)[:, 0], yv))
        history.append(round(score, 5))
        if score < best:
            best, best_epoch = score, epoch
            best_state = [p.detach().clone() for p in net.parameters()]
    params = iter(best_state)
    coefs, intercepts = [], []
    for _ in range(len(settings.hidden) + 1):
        coefs.append(next(params).numpy().T.astype(np.float32).copy())
        intercepts.append(next(params).numpy().astype(np.float32).copy())
    log = {"epochs": epochs, "steps": epochs * per_epoch, "best_epoch": best_epoch,
           "best_val_loss": round(float(best), 6), "final_val_loss": history[-1]}
    return coefs, intercepts, log


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays as an ``.npz`` (deflate, no pickle) with fixed zip timestamps: same bytes on rebuild."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, value in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


def _metrics(task: str, y_true: np.ndarray, pred: np.ndarray, baseline: float, transform: str = "none") -> dict:
    """Test metrics in the property's units; for transformed targets also in the trained space
    (``*_transformed``: where a heavy tail makes the unit-space MAE a poor summary)."""
    if task == "classification":
        from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

        labels = y_true >= 0.5
        p = np.clip(pred, 1e-7, 1 - 1e-7)
        return {"roc_auc": round(float(roc_auc_score(labels, p)), 4),
                "accuracy": round(float(accuracy_score(labels, p >= 0.5)), 4),
                "log_loss": round(float(log_loss(labels, p, labels=[False, True])), 4),
                "baseline_accuracy": round(float(max(labels.mean(), 1 - labels.mean())), 4)}
    err = pred - y_true
    ss = float(np.sum((y_true - y_true.mean()) ** 2))
    out = {"mae": round(float(np.mean(np.abs(err))), 5), "rmse": round(float(np.sqrt(np.mean(err**2))), 5),
           "r2": round(1.0 - float(np.sum(err**2)) / ss, 4) if ss > 0 else None,
           "baseline_mae": round(float(np.mean(np.abs(y_true - baseline))), 5)}
    if transform != "none":
        t_true, t_pred = forward_transform(y_true, transform), forward_transform(pred, transform)
        out["mae_transformed"] = round(float(np.mean(np.abs(t_pred - t_true))), 5)
        out["baseline_mae_transformed"] = round(float(np.mean(np.abs(t_true - forward_transform(baseline, transform)))), 5)
    return out


def build_source(name: str, out_dir: str | Path, settings: PretrainSettings = PretrainSettings(),
                 exclude: set[str] | None = None, exclusion_note: str = "") -> dict:
    """Train one source and write ``NAME.npz`` + ``NAME.json`` into ``out_dir``; returns the card."""
    spec = SOURCES[name]
    start, cpu_start = time.perf_counter(), time.process_time()
    data = prepare_source(spec, settings, exclude)
    inputs = {p: composition_inputs(c) for p, c in data["comps"].items()}
    x_mean, x_scale = _fit_scaler(inputs["train"])
    X = {p: ((v - x_mean) / x_scale).astype(np.float32) for p, v in inputs.items()}
    if spec.task == "classification":
        y_mean, y_scale = 0.0, 1.0
        targets = {p: v.astype(np.float32) for p, v in data["y"].items()}
    else:
        transformed = {p: forward_transform(v, spec.transform) for p, v in data["y"].items()}
        y_mean = float(transformed["train"].mean())
        y_scale = float(transformed["train"].std()) or 1.0
        targets = {p: ((v - y_mean) / y_scale).astype(np.float32) for p, v in transformed.items()}
    featurize_s = time.perf_counter() - start
    coefs, intercepts, log = train_network(X["train"], targets["train"], X["val"], targets["val"], spec.task,
                                           settings)
    arrays = {}
    for i, (W, b) in enumerate(zip(coefs, intercepts, strict=True)):
        arrays[f"W{i}"], arrays[f"b{i}"] = W, b
    arrays.update(x_mean=x_mean.astype(np.float64), x_scale=x_scale.astype(np.float64),
                  y_mean=np.float64(y_mean), y_scale=np.float64(y_scale))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights_path = out_dir / f"{name}.npz"
    write_npz(weights_path, arrays)
    from matloop.models.pretrained.network import PretrainedModel

    model = PretrainedModel({"name": name, "task": spec.task, "target_transform": spec.transform}, arrays)
    pred = model.predict_inputs(inputs["test"])
    if spec.task == "classification":
        baseline = float(np.mean(data["y"]["train"]))
    else:
        baseline = float(inverse_transform(np.median(forward_transform(data["y"]["train"], spec.transform)),
                                           spec.transform))
    card = _card(spec, data, settings, model, weights_path, log, _metrics(spec.task, data["y"]["test"], pred, baseline, spec.transform),
                 exclude, exclusion_note, featurize_s, time.perf_counter() - start, time.process_time() - cpu_start)
    (out_dir / f"{name}.json").write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    return card


def _card(spec, data, settings, model, weights_path, log, metrics, exclude, note, featurize_s, total_s,
          cpu_s) -> dict:
    ds = data["dataset"]
    exclusion = sorted(exclude) if exclude else []
    return {
        "name": spec.name, "property": spec.property, "units": spec.units, "task": spec.task,
        "target_transform": spec.transform,
        "prediction": ("probability of the positive class" if spec.task == "classification"
                       else f"{spec.property} [{spec.units}]"),
        "data": {
            "dataset": spec.dataset, "target_column": spec.target, "citation": ds.citation,
            "license": ds.license, "rows_in_dataset": data["rows"], "unique_compositions": data["unique"],
            "excluded_compositions": data["excluded"],
            "exclusion_sha256": hashlib.sha256("\n".join(exclusion).encode()).hexdigest() if exclusion else None,
            "exclusion_note": note or None,
            "train_rows": int(len(data["y"]["train"])), "val_rows": int(len(data["y"]["val"])),
            "test_rows": int(len(data["y"]["test"])), "available_train_rows": data["available_train"],
            "subsampled": data["available_train"] > len(data["y"]["train"]),
            "split": (f"random by reduced composition (seed {settings.seed}): test {settings.test_fraction:.0%} "
                      f"(<= {settings.max_test}), validation {settings.val_fraction:.0%} (<= {settings.max_val}), "
                      f"training the rest (<= {settings.max_rows}, random subsample beyond); duplicates and "
                      f"polymorphs averaged per composition"),
        },
        "model": {
            "architecture": "MLP, SiLU", "inputs": INPUT_DESCRIPTION, "n_inputs": N_INPUTS,
            "hidden": model.hidden_sizes, "parameters": model.n_parameters,
            "weights_bytes": weights_path.stat().st_size, "dtype": "float32",
        },
        "training": {
            "loss": "binary cross-entropy" if spec.task == "classification" else "L1 on standardised target",
            "optimizer": "AdamW", "schedule": "one-cycle", "settings": asdict(settings), **log,
            "featurize_s": round(featurize_s, 2), "time_s": round(total_s, 2), "cpu_s": round(cpu_s, 2),
            "torch": _torch_version(),
        },
        "test_metrics": metrics,
        "date": date.today().isoformat(), "code_version": code_version(),
        "weights_sha256": file_sha256(weights_path),
    }


def _torch_version() -> str:
    import torch

    return str(torch.__version__)


def build_library(out_dir: str | Path, sources: list[str] | None = None,
                  settings: PretrainSettings = PretrainSettings(), exclude: set[str] | None = None,
                  exclusion_note: str = "", log=print, jobs: int = 1) -> dict:
    """Train every source (default: all of :data:`SOURCES`) into ``out_dir``; writes ``library.json``.

    ``jobs`` > 1 trains that many sources at once in separate processes (each on
    ``settings.threads`` threads); the weights do not depend on it.
    """
    names = list(SOURCES) if sources is None else list(sources)
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        raise ValueError(f"unknown sources {unknown}; known: {', '.join(SOURCES)}")
    out_dir = Path(out_dir)
    start, times, cpu = time.perf_counter(), {}, {}

    def report(card: dict) -> None:
        name = card["name"]
        times[name], cpu[name] = card["training"]["time_s"], card["training"]["cpu_s"]
        metric = card["test_metrics"]
        shown = (f"MAE {metric['mae']:.4g} (baseline {metric['baseline_mae']:.4g})" if "mae" in metric
                 else f"AUC {metric['roc_auc']:.4f}")
        log(f"{name:24s} train {card['data']['train_rows']:6d}  excluded {card['data']['excluded_compositions']:5d}  "
            f"{shown}  {times[name]:6.1f} s ({cpu[name]:.1f} s CPU)")

    if jobs > 1:
        from joblib import Parallel, delayed

        cards = Parallel(n_jobs=int(jobs), backend="loky", return_as="generator")(
            delayed(build_source)(name, out_dir, settings, exclude, exclusion_note) for name in names)
        for card in cards:
            report(card)
    else:
        for name in names:
            report(build_source(name, out_dir, settings, exclude, exclusion_note))
    files = [p for p in out_dir.iterdir() if p.suffix in (".npz", ".json") and p.name != "library.json"]
    summary = {
        "models": names, "settings": asdict(settings), "jobs": int(jobs), "time_s": times, "cpu_s": cpu,
        "total_time_s": round(time.perf_counter() - start, 1), "total_cpu_s": round(sum(cpu.values()), 1),
        "size_bytes": int(sum(p.stat().st_size for p in files)),
        "excluded_compositions": len(exclude or ()), "exclusion_note": exclusion_note or None,
        "date": date.today().isoformat(), "code_version": code_version(), "torch": _torch_version(),
    }
    (out_dir / "library.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary
