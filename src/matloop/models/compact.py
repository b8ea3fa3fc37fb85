"""A compact screening model saved beside the full one, so that ``matloop screen`` ranks fast.

The model ``matloop fit`` saves by default (AutoModel: an ensemble of forests, boosting and a GP)
costs ~200 microseconds per prediction; screening 10^6 candidates with it takes minutes. A
64-tree forest costs ~12. :func:`fit_screening_model` distils the full model into such a forest:
the forest learns the *full model's predictions* (not the measured targets) on the training
compositions and on synthetic ones (random mixtures of two training compositions, and random 2-4
element integer compositions of the training elements, the kind screening enumerates), so it
imitates the full model where screening looks, not only on the data.

Screening then ranks every candidate with the compact forest, keeps a shortlist per chunk and
re-scores only the shortlist with the full model (:class:`matloop.design.screen.Screener`): the
reported predictions, stds and domain flags are the full model's. What the shortcut costs (MAE of
the compact model against the full one on held-out rows, and how many of the full model's top hits
the shortlist recovers) is measured by ``benchmarks/screening.py``.

The file is ``MODEL.screen`` beside ``MODEL`` (same safe format, :func:`~matloop.models.persistence.
save_model`); its header names the SHA-256 of the full model's payload, so a stale compact model
(the full model was refitted or replaced) is never used.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["SCREEN_FOREST", "fit_screening_model", "load_screening_model", "save_screening_model",
           "screening_model_path", "supports_screening_model", "write_for_screening"]

#: the compact forest: 64 trees, spread of the trees as uncertainty, out-of-bag noise
SCREEN_FOREST = {"n_estimators": 64, "uncertainty": "trees", "noise": "oob", "max_features": 0.33}
ROLE = "screening"


def screening_model_path(model_path: str | os.PathLike) -> Path:
    """``gap.model`` -> ``gap.model.screen``."""
    path = Path(model_path)
    return path.with_name(path.name + ".screen")


def supports_screening_model(model) -> bool:
    """True for what ``screen`` can use: a fitted regression MaterialModel of compositions without
    extra input columns."""
    from matloop.models.pipeline import MaterialModel

    return (type(model) is MaterialModel and getattr(model, "task", "") == "regression"
            and getattr(model, "kind", "") == "composition" and not getattr(model, "extra_inputs", None)
            and hasattr(model, "featurizer_") and hasattr(model, "estimator_"))


def _mixtures(comps, n: int, rng: np.random.Generator):
    """``n`` random mixtures ``x A + (1 - x) B`` of two rows of ``comps`` (atomic fractions)."""
    from matloop.io.formula import Compositions

    a, b = rng.integers(0, len(comps), n), rng.integers(0, len(comps), n)
    x = rng.uniform(0.1, 0.9, n)[:, None]
    dense = comps.take(a).to_dense() * x + comps.take(b).to_dense() * (1.0 - x)
    rows, z = np.nonzero(dense)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]).astype(np.int64)
    return Compositions(indptr, z.astype(np.int16), dense[rows, z])


def _recombined(comps, n: int, rng: np.random.Generator):
    """``n`` compositions like those screening enumerates: 2 to 4 of the training set's elements
    (drawn as often as they occur there), small integer counts (1-8)."""
    from matloop.io.formula import Compositions

    z, freq = np.unique(comps.z, return_counts=True)
    k = rng.integers(2, min(4, len(z)) + 1, n) if len(z) >= 2 else np.ones(n, dtype=np.int64)
    keys = rng.random((n, len(z))) ** (1.0 / freq)  # weighted sampling without replacement (Efraimidis-Spirakis)
    order = np.argsort(-keys, axis=1)
    rows = np.repeat(np.arange(n), k)
    cols = order[rows, np.concatenate([np.arange(m) for m in k])]
    dense = np.zeros((n, len(z)))
    dense[rows, cols] = rng.integers(1, 9, len(rows))
    r, c = np.nonzero(dense)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=n))]).astype(np.int64)
    return Compositions(indptr, z[c].astype(np.int16), dense[r, c])


def fit_screening_model(model, X, *, n_synthetic: int | None = None, random_state: int = 0):
    """A compact forest that imitates ``model`` (a fitted MaterialModel of compositions) on the
    training inputs ``X``, ``n_synthetic`` mixtures of two of them and ``n_synthetic`` recombined
    compositions (default: as many as training rows, at least 1,000 and at most 20,000 of each).
    Its inputs are ``model.features(...)``."""
    import pandas as pd

    from matloop.io.formula import Compositions, parse_formulas
    from matloop.models.forest import RandomForestRegressor

    if not supports_screening_model(model):
        raise ValueError("a compact screening model needs a fitted regression MaterialModel of compositions")
    values = X.iloc[:, 0] if isinstance(X, pd.DataFrame) else X
    comps = values if isinstance(values, Compositions) else parse_formulas(np.asarray(values, dtype=object))
    rng = np.random.default_rng(random_state)
    n = min(max(len(comps), 1_000), 20_000) if n_synthetic is None else int(n_synthetic)
    F = pd.concat([model.features(comps), model.features(_mixtures(comps, n, rng)),
                   model.features(_recombined(comps, n, rng))], ignore_index=True)
    target = np.asarray(model.estimator_.predict(F), dtype=float)
    ok = np.isfinite(target)
    forest = RandomForestRegressor(random_state=random_state, **SCREEN_FOREST)
    return forest.fit(F.loc[ok].reset_index(drop=True), target[ok])


def save_screening_model(compact, model_path: str | os.PathLike) -> Path:
    """Write ``compact`` to ``MODEL.screen``, bound to the payload of the saved full model."""
    from matloop.models.persistence import read_model_metadata, save_model

    header = read_model_metadata(model_path)
    meta = {"role": ROLE, "full_model": Path(model_path).name,
            "full_model_sha256": header.get("payload_sha256"), "forest": SCREEN_FOREST}
    return save_model(compact, screening_model_path(model_path), metadata=meta)


def load_screening_model(model_path: str | os.PathLike):
    """(compact model or None, a line saying why) for the full model at ``model_path``: None when
    there is no ``MODEL.screen`` or it belongs to another model (stale)."""
    from matloop.models.persistence import load_model, read_model_metadata

    path = screening_model_path(model_path)
    if not path.exists():
        return None, f"no compact screening model ({path.name}) beside {Path(model_path).name}"
    header = read_model_metadata(path)
    meta = header.get("metadata") or {}
    full = read_model_metadata(model_path).get("payload_sha256")
    if not isinstance(meta, dict) or meta.get("role") != ROLE or meta.get("full_model_sha256") != full:
        return None, f"{path.name} belongs to another model (refitted since?): ignored"
    return load_model(path), f"ranking with the compact screening model {path.name}"


def write_for_screening(model, X, model_path: str | os.PathLike, random_state: int = 0) -> str | None:
    """What ``matloop fit`` calls after saving: distil and save ``MODEL.screen`` when ``screen`` can
    use it (returns a line to print), else remove a stale one and return None."""
    import time

    path = screening_model_path(model_path)
    if not supports_screening_model(model):
        path.unlink(missing_ok=True)
        return None
    t0 = time.perf_counter()
    save_screening_model(fit_screening_model(model, X, random_state=random_state), model_path)
    return (f"saved {path} (compact model for 'matloop screen', distilled in {time.perf_counter() - t0:.1f} s; "
            "it ranks candidates, the full model re-scores the best)")
