"""Does the model have skill? Plain-word verdicts for a report, never a meaningless percentage.

A cross-validated score means little on its own: a model is only useful when it beats predicting
the mean (R² > 0) and a 1-nearest-neighbour lookup of the most similar known material. When it
does not, the report must say so in words at the top. The share of the model's improvement over
the mean that the lookup already achieves is a ratio of two differences; it is only meaningful
when the model improves on the mean and the lookup does not beat the model (a share in [0, 1]).
Outside that range (e.g. "-817 %" when the model barely beats the mean and the lookup is far
worse) it is replaced by the three errors side by side.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from matloop.report.style import fmt

__all__ = ["errors", "is_percent_share_warning", "memorisation_sentence", "skill_warnings"]


def errors(task: str, model: Mapping[str, float], memo: object) -> tuple[float, float, float, str]:
    """(model, 1-NN, mean-predictor) errors and the metric's name: MAE, or 1 - balanced accuracy."""
    if task == "regression":
        get, name = (lambda m: float(m.get("mae", np.nan))), "MAE"
    else:
        get, name = (lambda m: 1.0 - float(m.get("balanced_accuracy", np.nan))), "error rate (1 - balanced accuracy)"
    return get(model), get(memo.nearest_neighbour), get(memo.dummy), name


def _shown(value: float, task: str, unit: str) -> str:
    return fmt(value, unit) if task == "regression" else f"{value:.3f}"


def skill_warnings(task: str, model: Mapping[str, float], memo: object | None, unit: str = "") -> list[str]:
    """Warnings, in words, when the model has no skill (R² <= 0, no better than the mean or the 1-NN lookup)
    or when the lookup already achieves most of its improvement."""
    out: list[str] = []
    r2 = float(model.get("r2", np.nan)) if task == "regression" else np.nan
    if memo is None:
        if np.isfinite(r2) and r2 <= 0:
            out.append(f"The model has no skill: its cross-validated R² is {r2:.2f} (0 is predicting the mean). "
                       "Do not use its predictions.")
        return out
    e_model, e_nn, e_mean, name = errors(task, model, memo)
    if not np.isfinite(e_model):
        return out
    shown = {k: _shown(v, task, unit) for k, v in (("model", e_model), ("nn", e_nn), ("mean", e_mean))}
    if (np.isfinite(r2) and r2 <= 0) or (np.isfinite(e_mean) and e_model >= e_mean):
        r2_text = f", R² {r2:.2f}" if np.isfinite(r2) else ""
        out.append(f"The model has no skill: its cross-validated {name} ({shown['model']}{r2_text}) is no better "
                   f"than predicting the {'mean' if task == 'regression' else 'class frequencies'} "
                   f"({shown['mean']}). Do not use its predictions; more or more informative data are needed.")
    elif np.isfinite(e_nn) and e_model >= e_nn:
        out.append(f"The model is no better than a 1-nearest-neighbour lookup: {name} {shown['model']} against "
                   f"{shown['nn']} for copying the target of the most similar known material. It adds nothing "
                   "over looking that material up.")
    elif np.isfinite(e_nn) and np.isfinite(e_mean) and e_mean > e_model and (e_mean - e_nn) >= 0.9 * (e_mean - e_model):
        out.append(f"A 1-nearest-neighbour lookup gets almost as far as the model ({name} {shown['nn']} against the "
                   f"model's {shown['model']} and the mean's {shown['mean']}): the score mostly reflects "
                   "near-duplicates in the data.")
    return out


def memorisation_sentence(task: str, model: Mapping[str, float], memo: object, unit: str = "") -> str:
    """The 1-NN baseline in words: the three errors, and the share of the model's improvement only when it
    is meaningful (between 0 and 100 %)."""
    e_model, e_nn, e_mean, name = errors(task, model, memo)
    shown = {k: _shown(v, task, unit) for k, v in (("model", e_model), ("nn", e_nn), ("mean", e_mean))}
    text = (f"Cross-validated {name}: model {shown['model']}, 1-nearest-neighbour lookup (no model, just the "
            f"target of the most similar training material) {shown['nn']}, predicting the mean {shown['mean']}.")
    if not all(np.isfinite([e_model, e_nn, e_mean])):
        return text
    if e_model >= e_mean:
        return text + " The model does not improve on predicting the mean."
    share = (e_mean - e_nn) / (e_mean - e_model)
    if share < 0:
        return text + " The lookup is worse than predicting the mean: the model's skill is not memorisation."
    if share > 1:
        return text + " The lookup is better than the model."
    return text + f" The lookup achieves {share:.0%} of the model's improvement over predicting the mean."


def is_percent_share_warning(text: str) -> bool:
    """The audit's own share warning (a percentage), replaced by :func:`skill_warnings` in reports."""
    return "1-nearest-neighbour lookup already achieves" in text
