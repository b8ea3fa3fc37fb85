"""One paragraph on what a fitted model is: which model ``auto`` chose and how well it did in the
cross-validation it already ran while choosing (no extra fit).

``matloop fit`` prints it at the end, so that the user knows what was saved and how much to trust
it before calling ``validate``. Figures come from the out-of-fold predictions of AutoModel's inner
cross-validation; its uncertainty was calibrated on the same predictions, so the 95 % coverage shown
is a consistency check rather than an independent test (``matloop validate`` gives that).
"""

from __future__ import annotations

import numpy as np

__all__ = ["describe_fitted"]


def _inner(model: object) -> object:
    """The AutoModel inside a MaterialModel (or a wrapper's ``estimator_``); the model itself otherwise."""
    for _ in range(4):
        if hasattr(model, "weights_"):
            return model
        nxt = getattr(model, "estimator_", None)
        if nxt is None or nxt is model:
            return model
        model = nxt
    return model


def describe_fitted(model: object, y: np.ndarray | None = None, unit: str = "") -> str | None:
    """A few lines on the chosen model and its inner cross-validated error, or None when the model is
    not an AutoModel / AutoClassifier (the user chose one model; nothing was chosen for them)."""
    est = _inner(model)
    weights = getattr(est, "weights_", None)
    if not weights:
        return None
    members = ", ".join(f"{name} ({w:.2f})" for name, w in sorted(weights.items(), key=lambda kv: -kv[1]))
    chosen = f"a single model, {next(iter(weights))}" if len(weights) == 1 else f"an ensemble of {members}"
    if not hasattr(est, "cv_scores_"):  # AutoClassifier: members only
        return f"auto chose {chosen} (weights by cross-validated log loss)"
    scores = {k: v for k, v in est.cv_scores_.items() if k != "ensemble"}
    unit = f" {unit}" if unit else ""
    best = min(scores, key=scores.get)
    n = len(getattr(est, "oof_prediction_", []))
    repeats = getattr(est, "cv_repeats_", 1)
    lines = [f"auto chose {chosen}",
             f"  inner cross-validation ({n} rows{f', {repeats} shuffles' if repeats > 1 else ''}): MAE "
             f"{est.cv_scores_['ensemble']:.4g}{unit} (best single model {best}: {scores[best]:.4g}{unit}; "
             f"{len(scores)} variants scored)"]
    if y is not None and n == len(y):
        y = np.asarray(y, dtype=float)
        pred = np.asarray(est.oof_prediction_, dtype=float)
        std = np.asarray(getattr(est, "oof_std_", np.full(n, np.nan)), dtype=float)
        base = float(np.mean(np.abs(y - np.median(y))))
        lines[-1] += f"; predicting the median gives {base:.4g}{unit}"
        lo, hi = pred - 1.959964 * std, pred + 1.959964 * std
        residuals = getattr(est, "residuals_", None)
        if residuals is not None and hasattr(residuals, "distribution"):
            try:
                lo, hi = residuals.distribution(pred, std, getattr(est, "bounds_", (None, None))).interval(0.95)
            except Exception:  # noqa: BLE001 - the Gaussian band above is the fallback
                pass
        if np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)):
            cover = float(np.mean((y >= lo) & (y <= hi)))
            lines.append(f"  95% intervals hold {cover:.0%} of the out-of-fold values (calibrated on them; "
                         "'matloop validate' tests it on held-out rows)")
    note = getattr(getattr(model, "featurizer_", None), "gnn_note_", None)  # the structure AutoModel's network
    if note:
        lines.append(f"  crystal graph network candidate: {note}")
    return "\n".join(lines)
