"""The pre-trained model library shipped with matloop (offline, NumPy only).

Composition networks trained on the bundled large DFT proxy sets (Materials Project, OQMD,
AFLOW, CritExam formation and decomposition energies, elastic moduli, magnetic moments, ...) by
``scripts/pretrain.py``. Each model is an ``.npz`` of weights plus a JSON model card (data,
rows, split, size, test metrics, date, code version, training time). Their hidden layers and
predictions are descriptors for small-data learning (:mod:`matloop.models.transfer`)::

    from matloop.models.pretrained import list_models, load_pretrained
    list_models()                      # one row per model with card highlights
    model = load_pretrained("mp_gap")
    model.predict(["GaAs", "ZnO"])     # eV, PBE band gap
    model.card["test_metrics"]

Loading needs neither PyTorch nor pickle. ``library`` arguments take another library folder
(e.g. one rebuilt with the leakage guard); the default is the one inside the package.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd

from matloop.errors import InputError
from matloop.models.pretrained.network import (
    INPUT_DESCRIPTION,
    N_INPUTS,
    PretrainedModel,
    composition_inputs,
    composition_keys,
    input_feature_names,
)
from matloop.models.pretrained.sources import SOURCES, SourceSpec

__all__ = [
    "INPUT_DESCRIPTION",
    "N_INPUTS",
    "SOURCES",
    "PretrainedModel",
    "SourceSpec",
    "UnknownModelError",
    "composition_inputs",
    "composition_keys",
    "input_feature_names",
    "library_dir",
    "library_info",
    "library_size",
    "list_models",
    "load_pretrained",
    "model_card",
    "model_names",
]

LIBRARY_FILE = "library.json"


class UnknownModelError(InputError, LookupError):
    """The requested pre-trained model is not in the library (the message lists the names)."""


def library_dir(library: str | Path | None = None) -> Path:
    """Folder holding the library: ``library`` if given, else the one shipped in the package."""
    if library is not None:
        return Path(library)
    return Path(str(resources.files("matloop.models.pretrained").joinpath("library")))


def model_names(library: str | Path | None = None) -> list[str]:
    """Names of the models in the library (cards present), in source-registry order."""
    folder = library_dir(library)
    present = {p.stem for p in folder.glob("*.json") if p.name != LIBRARY_FILE and p.with_suffix(".npz").exists()}
    ordered = [n for n in SOURCES if n in present]
    return ordered + sorted(present - set(ordered))


def _check_name(name: str, library: str | Path | None) -> str:
    names = model_names(library)
    key = str(name).strip()
    if key in names:
        return key
    import difflib

    close = difflib.get_close_matches(key, names, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownModelError(f"unknown pre-trained model {name!r}.{hint} Available: {', '.join(names) or 'none'} "
                            f"(run 'matloop models list').")


def model_card(name: str, library: str | Path | None = None) -> dict:
    """The model card of ``name`` as a dict (reads only the small JSON file)."""
    from matloop.models.pretrained.network import read_card

    key = _check_name(name, library)
    return read_card(library_dir(library) / f"{key}.json")


@lru_cache(maxsize=64)
def _load(folder: str, name: str, stamp: float) -> PretrainedModel:
    base = Path(folder) / name
    return PretrainedModel.from_files(base.with_suffix(".json"), base.with_suffix(".npz"))


def load_pretrained(name: str, library: str | Path | None = None) -> PretrainedModel:
    """Load one pre-trained model (cached; offline; NumPy only).

    Raises :class:`UnknownModelError` (an :class:`matloop.InputError`) for unknown names and
    :class:`matloop.MatloopError` when the weights do not match the hash in their card.
    """
    key = _check_name(name, library)
    folder = library_dir(library).resolve()
    stamp = (folder / f"{key}.npz").stat().st_mtime
    return _load(str(folder), key, stamp)


def library_info(library: str | Path | None = None) -> dict:
    """The library's build summary (``library.json``: settings, timings, code version), or ``{}``."""
    path = library_dir(library) / LIBRARY_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def library_size(library: str | Path | None = None) -> int:
    """Total bytes of the library files (weights, cards and the build summary)."""
    folder = library_dir(library)
    return int(sum(p.stat().st_size for p in folder.iterdir() if p.suffix in (".npz", ".json")))


def _headline(card: dict) -> tuple[str, float | None]:
    metrics = card.get("test_metrics", {})
    for key in ("mae", "roc_auc"):
        if key in metrics:
            return key, float(metrics[key])
    return "", None


def list_models(library: str | Path | None = None) -> pd.DataFrame:
    """One row per model: name, property, units, task, dataset, rows used, test metric, size, time.

    Columns: ``name, property, units, task, dataset, train_rows, test_rows, excluded, metric,
    value, baseline, r2, parameters, size_kb, train_s, cpu_s`` (training wall and CPU seconds).
    ``metric``/``value`` is the test MAE
    (regression, property units) or ROC AUC (classification); ``baseline`` is the test MAE of
    predicting the training median (regression) or the AUC of a constant (0.5).
    """
    records = []
    for name in model_names(library):
        card = model_card(name, library)
        data, metrics = card.get("data", {}), card.get("test_metrics", {})
        metric, value = _headline(card)
        records.append({
            "name": name, "property": card.get("property", ""), "units": card.get("units", ""),
            "task": card.get("task", ""), "dataset": data.get("dataset", ""),
            "train_rows": data.get("train_rows"), "test_rows": data.get("test_rows"),
            "excluded": data.get("excluded_compositions", 0), "metric": metric, "value": value,
            "baseline": metrics.get("baseline_mae", 0.5 if metric == "roc_auc" else None),
            "r2": metrics.get("r2"), "parameters": card.get("model", {}).get("parameters"),
            "size_kb": round(card.get("model", {}).get("weights_bytes", 0) / 1024, 1),
            "train_s": card.get("training", {}).get("time_s"), "cpu_s": card.get("training", {}).get("cpu_s"),
        })
    return pd.DataFrame.from_records(records, columns=[
        "name", "property", "units", "task", "dataset", "train_rows", "test_rows", "excluded", "metric",
        "value", "baseline", "r2", "parameters", "size_kb", "train_s", "cpu_s"])
