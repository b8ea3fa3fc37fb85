"""A compact, exact encoding of fitted scikit-learn tree ensembles inside matloop model files.

scikit-learn stores every decision tree as 64-byte node records (two int64 children, an int64
feature, float64 threshold, impurity and weighted sample count, an int64 sample count) plus a
float64 value per node, and skops writes every tree as its own arrays: a 4-forest AutoModel on
Matbench expt_gap (2.4 M nodes) made a 42-48 MB file. :func:`pack_model` (applied by
:func:`matloop.models.persistence.save_model`, format 3) replaces every list of fitted trees (a
forest's ``estimators_``) by one :class:`PackedTrees` holding one of the tree estimators without its
``tree_`` as a template (with the others' seeds) and one compressed byte array of all the nodes,
column by column:

* the structure as one bit per node: scikit-learn's depth-first builder numbers nodes in
  pre-order (left child ``i + 1``), so the children follow from which nodes are leaves (explicit
  int32 children otherwise);
* every field split into internal nodes and leaves (a leaf's feature and threshold are constants);
  each part stored as a constant, a dictionary (values <= 65,535 distinct ones: leaf values of fully
  grown trees are training targets), or the smallest dtype that holds it exactly (thresholds are
  float32 numbers after :mod:`matloop.models.shrink`'s floor, sample counts small integers);
* the internal nodes' sample counts, values and impurities as the difference, in the bits of the
  number, from what their children imply (sum of the counts, weighted mean of the values, the
  squared-error decomposition of the impurity): a few units of the last place instead of 8 random
  bytes. Exact by construction, whatever the rounding: the loader computes the same float64
  operations on the same (already exact) children and adds the stored bit differences;
* multi-byte columns split into byte planes (as Blosc's shuffle), then compressed with LZMA (xz,
  CRC-64 checked) at preset 0: on the four-forest model 7.31 MB in 3.2 s, against 6.72 MB in
  16.4 s at preset 6 (``benchmarks/model_size.py --compressors``); a fit should not wait 13 s
  for 8 % of the file.

``benchmarks/results/model_size.md``: the file ``matloop fit`` writes on expt_gap (a three-forest
ensemble on an idle machine), 63.6 -> 10.5 MB, saved in 4.2 s, loaded in 1.4 s; predictions identical.

Nothing is dropped: every node field of every tree is rebuilt bit for bit (sklearn ``Tree``
``__setstate__``), so predictions, feature importances and TreeSHAP are those of the fitted model.
:func:`pack_model` decodes what it encoded before saving and keeps any list whose round trip is
not exact unpacked, so an unusual tree is saved the old way rather than wrongly.

:func:`unpack_model` (applied by :func:`~matloop.models.persistence.load_model` before the tree
checks) refuses, with :class:`~matloop.models.persistence.UntrustedModelError`, a packed list whose
declared sizes exceed the model-file limit, whose compressed stream does not inflate to exactly
the declared size (never beyond it, with a bounded LZMA memory), or whose bits do not describe
complete binary trees; the rebuilt trees then pass the same index checks as any other tree.
"""

from __future__ import annotations

import copy
import lzma
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from matloop.models.tree_columns import (
    Reader,
    delta_fields,
    derive,
    encode_column,
    levels,
    minus,
    plus,
    preorder_children,
    same,
)

__all__ = ["CODEC_VERSION", "PackedTrees", "decode_trees", "encode_trees", "pack", "pack_model", "unpack_model"]

CODEC_VERSION = 1
LZMA_PRESET = 0
LZMA_MEMLIMIT = 256 * 2**20  # bytes of memory the decompressor may use (a preset-9 stream needs ~65 MiB)
MIN_TREES = 2  # lists shorter than this are left to skops
MAX_TABLE_BYTES = 2**24  # bytes of constants and dictionary tables a stream may hold beyond one copy of its nodes


class PackedTrees(BaseEstimator):
    """A list of fitted scikit-learn trees in a saved model file (see the module docstring).

    ``template_`` is the first tree estimator without ``tree_`` and ``varying_`` the attributes in
    which the others differ from it (their ``random_state``: one JSON list instead of a skops object
    per tree, which made saving and loading slow), or ``shells_`` all of them when they differ in
    more than numbers and strings; ``layout_`` describes the node arrays and ``blob_`` holds them,
    compressed. Only :func:`unpack_model` reads it; it never predicts.
    """

    def __init__(self) -> None:
        pass

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "blob_")


# ----------------------------------------------------------------------------- trees
def _node_dtype() -> np.dtype:
    from sklearn.tree._tree import Tree

    return Tree(1, np.ones(1, dtype=np.intp), 1).__getstate__()["nodes"].dtype


def encode_trees(trees: list) -> tuple[dict, bytes]:
    """``(layout, xz bytes)`` of a list of scikit-learn ``Tree`` objects (see the module docstring).

    Raises ``ValueError`` when the trees cannot share one layout (different widths or outputs).
    """
    first = trees[0]
    n_classes = [int(c) for c in np.asarray(first.n_classes).reshape(-1)]
    n_outputs, n_features = int(first.n_outputs), int(first.n_features)
    states = [t.__getstate__() for t in trees]
    dtype = _node_dtype()
    for t, s in zip(trees, states, strict=True):
        if (int(t.n_outputs), int(t.n_features)) != (n_outputs, n_features) \
                or [int(c) for c in np.asarray(t.n_classes).reshape(-1)] != n_classes or s["nodes"].dtype != dtype:
            raise ValueError("the trees differ in inputs, outputs or node layout")
    counts = np.array([int(s["node_count"]) for s in states], dtype=np.int64)
    nodes = np.concatenate([s["nodes"][:c] for s, c in zip(states, counts, strict=True)])
    width = int(np.prod(states[0]["values"].shape[1:]))
    values = np.concatenate([np.asarray(s["values"], dtype=np.float64)[:c].reshape(c, width)
                             for s, c in zip(states, counts, strict=True)])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    leaf = nodes["left_child"] == -1
    chunks: list[bytes] = []
    columns: list[list] = []
    structure = "explicit"
    try:
        left, right = preorder_children(leaf, counts)
        if np.array_equal(left, nodes["left_child"]) and np.array_equal(right, nodes["right_child"]):
            structure = "preorder"
    except (ValueError, IndexError):
        pass
    if structure == "preorder":
        chunks.append(np.packbits(leaf).tobytes())
    else:
        for name in ("left_child", "right_child"):
            columns.append([name, "all", "plain", encode_column(nodes[name], chunks)])
    tree_start = np.repeat(starts, counts)
    g = np.flatnonzero(~leaf)
    lo, hi = nodes["left_child"][g] + tree_start[g], nodes["right_child"][g] + tree_start[g]
    derivable = structure == "preorder" or (len(g) == 0 or (lo.min() >= 0 and hi.min() >= 0 and (lo > g).all()
                                                           and (hi > g).all() and (lo < len(nodes)).all()
                                                           and (hi < len(nodes)).all()))
    arrays = {name: np.ascontiguousarray(nodes[name]) for name in dtype.names} | {"value": values}
    delta = delta_fields(width) if derivable else ()
    for name in [n for n in dtype.names if n not in ("left_child", "right_child")] + ["value"]:
        column = arrays[name]
        columns.append([name, "leaf", "plain", encode_column(column[leaf], chunks)])
        if name in delta:
            diff = minus(column[g], derive(name, g, lo, hi, arrays))
            columns.append([name, "internal", "delta", encode_column(diff, chunks)])
        else:
            columns.append([name, "internal", "plain", encode_column(column[~leaf], chunks)])
    raw = b"".join(chunks)
    layout = {"codec": CODEC_VERSION, "n_features": n_features, "n_classes": n_classes, "n_outputs": n_outputs,
              "value_width": width, "node_counts": counts.tolist(),
              "max_depths": [int(s["max_depth"]) for s in states], "structure": structure,
              "columns": columns, "raw_bytes": len(raw)}
    return layout, lzma.compress(raw, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=LZMA_PRESET)


def _int_list(value: Any, name: str) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError(f"{name} must be a list of integers")
    return value


def _check_layout(layout: Any, limit: int) -> tuple[int, int]:
    """Total nodes and inflated bytes the layout declares; ``ValueError`` if malformed or too large."""
    if not isinstance(layout, dict) or layout.get("codec") != CODEC_VERSION:
        raise ValueError(f"unknown packed-tree codec {str(layout.get('codec') if isinstance(layout, dict) else '')[:20]}")
    counts = _int_list(layout.get("node_counts"), "node_counts")
    depths = _int_list(layout.get("max_depths"), "max_depths")
    n_classes = _int_list(layout.get("n_classes"), "n_classes")
    ints = [layout.get(k) for k in ("n_features", "n_outputs", "value_width", "raw_bytes")]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in ints) or not counts \
            or len(depths) != len(counts) or min(counts) < 1 or min(depths) < 0 or not n_classes \
            or any(d >= c for d, c in zip(depths, counts, strict=True)) \
            or min(n_classes) < 1 or len(n_classes) != layout["n_outputs"] \
            or layout["value_width"] != layout["n_outputs"] * max(n_classes) \
            or layout.get("structure") not in ("preorder", "explicit") or not isinstance(layout.get("columns"), list):
        raise ValueError("the packed-tree layout is malformed")
    n = sum(counts)
    out_bytes = n * (_node_dtype().itemsize + 8 * layout["value_width"])
    if out_bytes > limit:
        raise MemoryError(f"packed trees would need {out_bytes:,} bytes")
    if layout["raw_bytes"] > out_bytes + MAX_TABLE_BYTES:  # the stream is never larger than the trees it holds
        raise ValueError(f"a packed tree stream declares {layout['raw_bytes']:,} bytes for {n:,} nodes")
    return n, out_bytes


def decode_trees(layout: dict, blob: bytes, limit: int) -> list:
    """The scikit-learn ``Tree`` objects of :func:`encode_trees`'s output, refusing (``ValueError``,
    ``MemoryError``) a layout that declares more than ``limit`` bytes or does not match its stream."""
    from sklearn.tree._tree import Tree

    n, _ = _check_layout(layout, limit)
    inflater = lzma.LZMADecompressor(format=lzma.FORMAT_XZ, memlimit=LZMA_MEMLIMIT)
    raw = inflater.decompress(bytes(blob), max_length=layout["raw_bytes"] + 1)
    if len(raw) != layout["raw_bytes"] or not inflater.eof:
        raise ValueError("the packed tree stream does not inflate to its declared size")
    reader = Reader(raw)
    counts = np.asarray(layout["node_counts"], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    dtype = _node_dtype()
    width = layout["value_width"]
    nodes = np.zeros(n, dtype=dtype)
    leaf = None
    if layout["structure"] == "preorder":
        leaf = np.unpackbits(reader.take("u1", (n + 7) // 8), count=n).astype(bool)
        nodes["left_child"], nodes["right_child"] = preorder_children(leaf, counts)
    arrays = {name: nodes[name].copy() for name in dtype.names} | {"value": np.zeros((n, width))}
    seen: set[tuple[str, str]] = set()
    deltas: dict[str, np.ndarray] = {}
    for entry in layout["columns"]:
        if not (isinstance(entry, list) and len(entry) == 4 and isinstance(entry[3], list) and entry[3]):
            raise ValueError("a packed column entry is malformed")
        name, part, mode, spec = entry
        if name not in arrays or (name, part) in seen or part not in ("all", "leaf", "internal") \
                or mode not in ("plain", "delta") or (part == "all") != (name in ("left_child", "right_child")) \
                or (mode == "delta" and not (part == "internal" and name in delta_fields(width))) \
                or (part == "all" and layout["structure"] != "explicit"):
            raise ValueError(f"unexpected packed column {str(name)[:40]}/{str(part)[:10]}/{str(mode)[:10]}")
        _check_spec(spec)
        seen.add((name, part))
        if part == "all":
            arrays[name] = reader.column(spec, n, np.dtype(np.int64))
            if name == "right_child":
                leaf = arrays["left_child"] == -1
            continue
        if leaf is None:
            raise ValueError("packed columns come before the tree structure")
        mask = leaf if part == "leaf" else ~leaf
        count = int(mask.sum()) * (width if name == "value" else 1)
        target = np.dtype(np.int64) if mode == "delta" else arrays[name].dtype
        column = reader.column(spec, count, target)
        if mode == "delta":
            deltas[name] = column.reshape(-1, width) if name == "value" else column
        else:
            arrays[name][mask] = column.reshape(-1, width) if name == "value" else column
    expected = {(f, p) for f in [*dtype.names, "value"] if f not in ("left_child", "right_child")
                for p in ("leaf", "internal")}
    if layout["structure"] == "explicit":
        expected |= {("left_child", "all"), ("right_child", "all")}
    if seen != expected or reader.pos != len(raw):
        raise ValueError("the packed columns do not cover every node field exactly once")
    if deltas:
        _undo_deltas(arrays, deltas, leaf, counts, starts)
    for name in dtype.names:
        nodes[name] = arrays[name]
    values = arrays["value"]
    trees = []
    n_classes = np.asarray(layout["n_classes"], dtype=np.intp)
    for start, count, depth in zip(starts.tolist(), counts.tolist(), layout["max_depths"], strict=True):
        tree = Tree(layout["n_features"], n_classes, layout["n_outputs"])
        tree.__setstate__({"max_depth": depth, "node_count": count, "nodes": nodes[start:start + count],
                           "values": values[start:start + count].reshape(count, layout["n_outputs"], -1)})
        trees.append(tree)
    return trees


def _check_spec(spec: list) -> None:
    names = ("u1", "i1", "u2", "i2", "u4", "i4", "i8", "f4", "f8")
    ok = spec[0] in ("const", "plain", "dict") and all(isinstance(s, str) and s in names for s in spec[1:3]) \
        and len(spec) == (4 if spec[0] == "dict" else 2)
    if ok and spec[0] == "dict":
        ok = isinstance(spec[3], int) and 1 <= spec[3] <= 65535 and spec[1] in ("u1", "u2")
    if not ok:
        raise ValueError("a packed column spec is malformed")


def _undo_deltas(arrays: dict, deltas: dict, leaf: np.ndarray, counts: np.ndarray, starts: np.ndarray) -> None:
    """Rebuild the internal nodes' derived fields bottom-up, one depth level at a time."""
    left, right = arrays["left_child"], arrays["right_child"]
    tree_start = np.repeat(starts, counts)
    internal = np.flatnonzero(~leaf)
    g, lo, hi = internal, left[internal] + tree_start[internal], right[internal] + tree_start[internal]
    n = len(leaf)
    if len(g) and not ((lo > g).all() and (hi > g).all() and (lo < n).all() and (hi < n).all()
                       and (lo < np.repeat(starts + counts, counts)[g]).all()
                       and (hi < np.repeat(starts + counts, counts)[g]).all()
                       and np.bincount(np.concatenate([lo, hi]), minlength=n).max() <= 1):
        raise ValueError("a packed tree has out-of-range node indices")
    position = np.cumsum(~leaf) - 1
    for level in reversed(levels(left, right, starts)):
        base = tree_start[level]
        lo, hi = left[level] + base, right[level] + base
        at = position[level]
        for name in ("n_node_samples", "weighted_n_node_samples", "value", "impurity"):
            if name in deltas:
                arrays[name][level] = plus(derive(name, level, lo, hi, arrays), deltas[name][at])


# ----------------------------------------------------------------------------- models
def _tree_list(value: Any) -> bool:
    from sklearn.tree import BaseDecisionTree

    return (type(value) is list and len(value) >= MIN_TREES
            and all(isinstance(t, BaseDecisionTree) and "tree_" in vars(t) for t in value))


def pack(trees: list) -> PackedTrees | None:
    """A :class:`PackedTrees` of fitted tree estimators, or None when their round trip is not exact."""
    try:
        layout, blob = encode_trees([t.tree_ for t in trees])
        again = decode_trees(layout, blob, limit=2**62)
    except Exception:  # trees this codec cannot describe are saved the old way
        return None
    if not all(_same_tree(a.tree_, b) for a, b in zip(trees, again, strict=True)):
        return None
    packed = PackedTrees()
    shells = []
    for tree in trees:
        shell = copy.copy(tree)
        del shell.tree_
        shells.append(shell)
    varying = _varying(shells)
    if varying is None:
        packed.shells_ = shells
    else:
        packed.template_, packed.varying_ = shells[0], varying
    packed.layout_, packed.blob_ = layout, np.frombuffer(blob, dtype=np.uint8).copy()
    return packed


_SCALARS = (int, float, str, bool, type(None))


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and same(a, b)
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # an attribute whose == is not a truth value
        return False


def _varying(shells: list) -> dict[str, list] | None:
    """The attributes in which the shells differ from the first (all plain scalars), or None."""
    first = vars(shells[0])
    varying: dict[str, list] = {}
    for shell in shells[1:]:
        state = vars(shell)
        if state.keys() != first.keys() or type(shell) is not type(shells[0]):
            return None
        for key, value in state.items():
            if key not in varying and not _equal(value, first[key]):
                varying[key] = []
    for key in varying:
        values = [vars(shell)[key] for shell in shells]
        if not all(type(v) in _SCALARS for v in values):
            return None
        varying[key] = values
    return varying


def _shells(packed: PackedTrees, n: int) -> list:
    """The tree estimators (without trees) of a packed list: as saved, or the template with its variations."""
    from sklearn.tree import BaseDecisionTree

    shells = getattr(packed, "shells_", None)
    if shells is None:
        template, varying = getattr(packed, "template_", None), getattr(packed, "varying_", None)
        if not (isinstance(template, BaseDecisionTree) and isinstance(varying, dict)
                and all(isinstance(k, str) and k in vars(template) and k != "tree_" and isinstance(v, list)
                        and len(v) == n and all(type(x) in _SCALARS for x in v) for k, v in varying.items())):
            raise ValueError("a packed tree template is malformed")
        shells = []
        for i in range(n):
            shell = copy.copy(template)
            for key, values in varying.items():
                setattr(shell, key, values[i])
            shells.append(shell)
    if not (isinstance(shells, list) and all(isinstance(s, BaseDecisionTree) for s in shells)):
        raise ValueError("a packed tree list is malformed")
    return shells


def _same_tree(a: Any, b: Any) -> bool:
    sa, sb = a.__getstate__(), b.__getstate__()
    n = int(sa["node_count"])
    if (n, sa["max_depth"]) != (int(sb["node_count"]), sb["max_depth"]) or not same(sa["values"][:n], sb["values"][:n]):
        return False
    return all(same(sa["nodes"][f][:n], sb["nodes"][f][:n]) for f in sa["nodes"].dtype.names)


def pack_model(model: Any) -> Any:
    """A copy of ``model`` whose lists of fitted trees are :class:`PackedTrees` (``model`` is not modified;
    unchanged objects are shared)."""
    return _pack(model, {})


def _pack(obj: Any, memo: dict[int, Any]) -> Any:
    if id(obj) in memo:
        return memo[id(obj)]
    memo[id(obj)] = obj  # cycles end here
    out = obj
    if isinstance(obj, list):
        items = [_pack(x, memo) for x in obj]
        out = items if any(a is not b for a, b in zip(items, obj, strict=True)) else obj
    elif isinstance(obj, tuple):
        items = tuple(_pack(x, memo) for x in obj)
        out = items if any(a is not b for a, b in zip(items, obj, strict=True)) else obj
    elif isinstance(obj, dict):
        items = {k: _pack(v, memo) for k, v in obj.items()}
        out = items if any(items[k] is not v for k, v in obj.items()) else obj
    elif isinstance(obj, np.ndarray) and obj.dtype == object:
        items = [_pack(x, memo) for x in obj.ravel()]
        if any(a is not b for a, b in zip(items, obj.ravel(), strict=True)):
            out = np.empty(obj.shape, dtype=object)
            out.ravel()[:] = items
    elif _ours(obj):
        state = vars(obj)
        changed = {}
        for key, value in state.items():
            new = pack(value) if _tree_list(value) else _pack(value, memo)
            if new is not None and new is not value:
                changed[key] = new
        if changed:
            out = copy.copy(obj)
            for key, value in changed.items():
                setattr(out, key, value)
    memo[id(obj)] = out
    return out


def _ours(obj: Any) -> bool:
    """An object of matloop or scikit-learn with attributes (estimators and their internal helpers)."""
    module = type(obj).__module__ or ""
    return hasattr(obj, "__dict__") and not isinstance(obj, type) and module.split(".")[0] in ("matloop", "sklearn")


def unpack_model(model: Any, limit: int) -> Any:
    """Replace, in place, every :class:`PackedTrees` reachable from ``model`` by its list of trees.

    ``limit`` bounds the bytes all packed lists together may inflate to. Raises ``ValueError`` or
    ``MemoryError`` for a malformed or oversized packed list (the caller refuses the file).
    """
    budget = [limit]
    seen: set[int] = set()
    stack = [model]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, str | bytes | int | float | np.generic | type):
            continue
        seen.add(id(obj))
        if isinstance(obj, list | dict):
            keys = range(len(obj)) if isinstance(obj, list) else list(obj)
            for key in keys:
                if isinstance(obj[key], PackedTrees):
                    obj[key] = _unpack(obj[key], budget)
                stack.append(obj[key])
        elif isinstance(obj, tuple):
            if any(isinstance(x, PackedTrees) for x in obj):
                raise ValueError("packed trees inside a tuple")
            stack.extend(obj)
        elif isinstance(obj, np.ndarray):
            if obj.dtype == object:
                if any(isinstance(x, PackedTrees) for x in obj.ravel()):
                    raise ValueError("packed trees inside an object array")
                stack.extend(obj.ravel().tolist())
        elif hasattr(obj, "__dict__") and not isinstance(obj, PackedTrees):
            for key, value in list(vars(obj).items()):
                if isinstance(value, PackedTrees):
                    value = _unpack(value, budget)
                    setattr(obj, key, value)
                stack.append(value)
    return model


def _unpack(packed: PackedTrees, budget: list[int]) -> list:

    layout, blob = getattr(packed, "layout_", None), getattr(packed, "blob_", None)
    if not (isinstance(layout, dict) and isinstance(blob, np.ndarray) and blob.dtype == np.uint8 and blob.ndim == 1):
        raise ValueError("a packed tree list is malformed")
    _, size = _check_layout(layout, budget[0])
    budget[0] -= size
    shells = _shells(packed, len(layout["node_counts"]))
    if len(shells) != len(layout["node_counts"]) or len({id(s) for s in shells}) != len(shells):
        raise ValueError("a packed tree list has more or fewer trees than estimators")
    trees = decode_trees(layout, blob.tobytes(), budget[0] + size)
    for shell, tree in zip(shells, trees, strict=True):
        if "tree_" in vars(shell):
            raise ValueError("a packed tree estimator already has a tree")
        shell.tree_ = tree
    return shells
