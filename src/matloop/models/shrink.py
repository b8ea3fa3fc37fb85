"""Smaller model files that predict exactly as the fitted model does.

``matloop fit --model auto`` on Matbench expt_gap (4,604 rows) wrote a 48 MB file: AutoModel refits
every candidate on all rows (so that :meth:`~matloop.models.automodel.AutoModel.member_predictions`
can report single models), and each fully grown tree stores float64 split thresholds. What a saved
model needs is only what its predictions use, so :func:`compact_model` (applied by
:func:`matloop.models.persistence.save_model`) returns a copy that

* keeps, in every fitted :class:`~matloop.models.automodel.AutoModel`, only the candidates its
  ensemble selected (with their variants and out-of-fold predictions; ``cv_scores_`` still lists
  every candidate that was scored, so the choice stays documented);
* stores every scikit-learn decision tree's split thresholds as the largest float32 number not
  above them. scikit-learn trees compare float32 inputs (``predict``/``apply`` cast ``X`` to
  float32) with ``x <= threshold``; no float32 lies between that number and the threshold, so every
  comparison, hence every prediction, is bit-for-bit the same, and the zeroed low mantissa bits
  compress away; the alignment bytes of every node record, which hold allocator garbage, are zeroed.
  Impurities, sample counts and node values are kept: feature importances and SHAP's tree explainer
  read them.

The copy shares every unchanged object with the original, which is never modified. :func:`save_model`
then packs its trees (:mod:`matloop.models.tree_codec`), where float32-exact thresholds take 4 bytes.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

__all__ = ["compact_model", "float32_floor"]


def float32_floor(values: np.ndarray) -> np.ndarray:
    """The largest float32 number not above each value, as float64 (exact for float32 inputs)."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore"):
        low = values.astype(np.float32)
    above = low.astype(np.float64) > values
    low[above] = np.nextafter(low[above], np.float32(-np.inf))
    return low.astype(np.float64)


def compact_model(model: Any) -> Any:
    """A copy of ``model`` without what its predictions do not use (see the module docstring)."""
    return _compact(model, {})


def _compact(obj: Any, memo: dict[int, Any]) -> Any:
    if id(obj) in memo:
        return memo[id(obj)]
    out = obj
    if isinstance(obj, BaseEstimator):
        out = _compact_estimator(obj, memo)
    elif isinstance(obj, list | tuple):
        items = [_compact(x, memo) for x in obj]
        if any(a is not b for a, b in zip(items, obj, strict=True)):
            out = type(obj)(items) if isinstance(obj, list) else tuple(items)
    elif isinstance(obj, dict):
        items = {k: _compact(v, memo) for k, v in obj.items()}
        if any(items[k] is not v for k, v in obj.items()):
            out = items
    elif isinstance(obj, np.ndarray) and obj.dtype == object:
        items = [_compact(x, memo) for x in obj.ravel()]
        if any(a is not b for a, b in zip(items, obj.ravel(), strict=True)):
            out = np.empty(obj.shape, dtype=object)
            out.ravel()[:] = items
    memo[id(obj)] = out
    return out


def _compact_estimator(est: BaseEstimator, memo: dict[int, Any]) -> BaseEstimator:
    from sklearn.tree import BaseDecisionTree

    from matloop.models.automodel import AutoModel

    if isinstance(est, BaseDecisionTree) and hasattr(est, "tree_"):
        new = copy.copy(est)
        new.tree_ = _floor_tree(est.tree_)
        return new
    state = dict(vars(est))
    if isinstance(est, AutoModel) and isinstance(getattr(est, "weights_", None), dict):
        used = set(est.weights_)
        names = {est.variants_[v][0] for v in used}
        state["estimators_"] = {k: v for k, v in est.estimators_.items() if k in names}
        state["variants_"] = {k: v for k, v in est.variants_.items() if k in used}
        if isinstance(getattr(est, "oof_predictions_", None), dict):
            state["oof_predictions_"] = {k: v for k, v in est.oof_predictions_.items() if k in used}
    changed = {k: _compact(v, memo) for k, v in state.items() if k.endswith("_") and not k.startswith("__")}
    if all(changed[k] is getattr(est, k) for k in changed) and state.keys() == vars(est).keys() \
            and all(state[k] is vars(est)[k] for k in state):
        return est
    new = copy.copy(est)
    for k, v in {**state, **changed}.items():
        setattr(new, k, v)
    return new


def _floor_tree(tree: Any) -> Any:
    """A new scikit-learn ``Tree`` with float32-floored split thresholds (leaves untouched)."""
    from sklearn.tree._tree import Tree

    state = dict(tree.__getstate__())
    nodes = state["nodes"].copy()
    split = nodes["left_child"] != -1
    nodes["threshold"][split] = float32_floor(nodes["threshold"][split])
    state["nodes"] = nodes
    new = Tree(tree.n_features, np.asarray(tree.n_classes, dtype=np.intp), tree.n_outputs)
    new.__setstate__(state)
    _zero_padding(new)
    return new


def _zero_padding(tree: Any) -> None:
    """Zero the alignment bytes of the tree's node records (7 of 64 per node): scikit-learn leaves
    whatever the allocator returned there, which is saved with the tree and does not compress."""
    nodes = tree.__getstate__()["nodes"]
    used = np.zeros(nodes.dtype.itemsize, dtype=bool)
    for name in nodes.dtype.names:
        field, offset = nodes.dtype.fields[name][:2]
        used[offset:offset + field.itemsize] = True
    if used.all() or not nodes.flags.writeable or not len(nodes):
        return
    raw = nodes.view(np.uint8).reshape(len(nodes), nodes.dtype.itemsize)
    raw[:, ~used] = 0
