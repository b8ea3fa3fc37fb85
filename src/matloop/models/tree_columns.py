"""Column and structure primitives of :mod:`matloop.models.tree_codec` (exact, vectorised).

* columns: a 1-D array stored as a constant, a dictionary (at most 65,535 distinct values) or plain in
  the smallest dtype that holds it bit for bit, as byte planes (all first bytes, then all second
  bytes...: numbers that share their high bytes compress);
* structure: the children of trees stored in pre-order, from one leaf flag per node;
* derived fields: what an internal node's sample counts, value and impurity are from its children,
  with elementwise float64 operations only (the same bits whether computed for all nodes at save or
  level by level at load), and exact bit-pattern differences from them.
"""

from __future__ import annotations

import numpy as np


# ----------------------------------------------------------------------------- columns
def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal bit for bit (NaN payloads and signed zeros included)."""
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _int_dtype(lo: int, hi: int) -> str:
    for name in ("u1", "i1", "u2", "i2", "u4", "i4"):
        info = np.iinfo(name)
        if info.min <= lo and hi <= info.max:
            return name
    return "i8"


def _exact_dtype(x: np.ndarray) -> str:
    """The smallest dtype that holds every element of ``x`` bit for bit."""
    if x.size == 0:
        return "u1"
    if x.dtype.kind in "iu":
        return _int_dtype(int(x.min()), int(x.max()))
    with np.errstate(all="ignore"):
        if np.isfinite(x).all() and np.abs(x).max() < 2**62:
            as_int = x.astype(np.int64)
            if same(as_int.astype(x.dtype), x):
                return _int_dtype(int(as_int.min()), int(as_int.max()))
        if x.dtype.itemsize == 8 and same(x.astype(np.float32).astype(x.dtype), x):
            return "f4"
    return x.dtype.str[1:]


def _planes(x: np.ndarray) -> bytes:
    """Byte planes (all first bytes, then all second bytes, ...): numbers sharing high bytes compress."""
    x = np.ascontiguousarray(x)
    if x.dtype.itemsize == 1:
        return x.tobytes()
    return np.ascontiguousarray(x.view(np.uint8).reshape(x.size, x.dtype.itemsize).T).tobytes()


def encode_column(x: np.ndarray, chunks: list[bytes]) -> list:
    """Spec of one column (``const``, ``dict`` or ``plain`` in its smallest exact dtype); bytes to ``chunks``."""
    x = np.ascontiguousarray(x).reshape(-1)
    if x.size and x.dtype.kind in "iuf" and len(np.unique(x.view(f"u{x.dtype.itemsize}"))) == 1:
        value = x[:1]
        dtype = _exact_dtype(value)
        chunks.append(_planes(value.astype(dtype)))
        return ["const", dtype]
    dtype = _exact_dtype(x)
    size = np.dtype(dtype).itemsize
    if x.size > 1024 and size > 1:
        uniq, index = np.unique(x.view(f"u{x.dtype.itemsize}"), return_inverse=True)
        table = uniq.view(x.dtype)
        tdtype = _exact_dtype(table)
        idx = "u1" if len(uniq) <= 256 else "u2"
        if len(uniq) <= 65535 and np.dtype(idx).itemsize < size:
            chunks.append(_planes(index.reshape(-1).astype(idx)))
            chunks.append(_planes(table.astype(tdtype)))
            return ["dict", idx, tdtype, int(len(uniq))]
    chunks.append(_planes(x.astype(dtype)))
    return ["plain", dtype]


class Reader:
    """Sequential typed reads from the inflated stream, never past its end."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, dtype: str, n: int) -> np.ndarray:
        dt = np.dtype("<" + dtype if dtype[0] in "iuf" else dtype)
        size = dt.itemsize * n
        if n < 0 or self.pos + size > len(self.data):
            raise ValueError("the packed tree stream is shorter than its layout")
        raw = np.frombuffer(self.data, dtype=np.uint8, count=size, offset=self.pos)
        self.pos += size
        if dt.itemsize == 1:
            return raw.view(dt).copy()
        return np.ascontiguousarray(raw.reshape(dt.itemsize, n).T).view(dt).reshape(n)

    def column(self, spec: list, n: int, target: np.dtype) -> np.ndarray:
        if spec[0] == "const":
            return np.repeat(self.take(spec[1], 1).astype(target), n)
        if spec[0] == "dict":
            index = self.take(spec[1], n)
            table = self.take(spec[2], int(spec[3])).astype(target)
            if index.size and int(index.max()) >= len(table):
                raise ValueError("a dictionary index is out of range")
            return table[index]
        return self.take(spec[1], n).astype(target)


# ----------------------------------------------------------------------------- structure
def preorder_children(leaf: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Children (tree-local indices, -1 at leaves) of trees stored in pre-order, from the leaf flags.

    Node ``i`` contributes +1 (internal) or -1 (leaf) to a running sum ``S``; a complete binary tree
    in pre-order is a sequence whose sum first reaches -1 at its last node. The left child of an
    internal node ``i`` is ``i + 1``; its right child follows the first ``k > i`` with
    ``S[k] = S[i] - 1`` (where the left subtree ends). Raises ``ValueError`` for flags that are
    not complete binary trees.
    """
    n = len(leaf)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    tree_of = np.repeat(np.arange(len(counts)), counts)
    S = np.cumsum(np.where(leaf, -1, 1).astype(np.int64))
    base = np.where(starts > 0, S[np.maximum(starts - 1, 0)], 0)
    local = S - base[tree_of]
    ends = starts + counts - 1
    if (counts < 1).any() or (local < -1).any() or (local[ends] != -1).any() \
            or (np.bincount(tree_of, weights=local == -1, minlength=len(counts)) != 1).any():
        raise ValueError("the packed leaf flags do not describe complete binary trees")
    index = np.arange(n, dtype=np.int64)
    key = S * (n + 1) + index
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    internal = np.flatnonzero(~leaf)
    target = (S[internal] - 1) * (n + 1) + internal + 1
    k = sorted_key[np.searchsorted(sorted_key, target)] - (S[internal] - 1) * (n + 1)
    left = np.full(n, -1, dtype=np.int64)
    right = np.full(n, -1, dtype=np.int64)
    left[internal] = internal + 1 - starts[tree_of[internal]]
    right[internal] = k + 1 - starts[tree_of[internal]]
    return left, right


def levels(left: np.ndarray, right: np.ndarray, starts: np.ndarray) -> list[np.ndarray]:
    """Global indices of the internal nodes, grouped by depth (root level first).

    The caller guarantees children that point forward inside their tree and no node with two parents
    (true of pre-order trees by construction; :func:`~matloop.models.tree_codec.decode_trees` checks
    explicit ones), so every node is visited once.
    """
    out: list[np.ndarray] = []
    frontier = starts.copy()
    tree_start = np.repeat(starts, np.diff(np.concatenate([starts, [len(left)]])))
    while frontier.size:
        inner = frontier[left[frontier] >= 0]
        if inner.size == 0:
            break
        out.append(inner)
        base = tree_start[inner]
        frontier = np.concatenate([left[inner] + base, right[inner] + base])  # no node has two parents
        if len(out) > len(left):
            raise ValueError("the packed trees contain a cycle")
    return out


# ----------------------------------------------------------------------------- derived fields
def derive(field: str, g: np.ndarray, lo: np.ndarray, hi: np.ndarray, arr: dict[str, np.ndarray]) -> np.ndarray:
    """What internal nodes ``g`` hold from their children ``lo``/``hi`` (global indices); elementwise
    float64 operations only, so a batch of nodes gives the same bits as the nodes one by one."""
    with np.errstate(all="ignore"):
        if field in ("n_node_samples", "weighted_n_node_samples"):
            return arr[field][lo] + arr[field][hi]
        w = arr["weighted_n_node_samples"]
        v = arr["value"]
        if field == "value":
            return (w[lo, None] * v[lo] + w[hi, None] * v[hi]) / w[g, None]
        imp = arr["impurity"]  # squared error: within-node variance = children's variances + spread of means
        return (w[lo] * (imp[lo] + v[lo, 0] * v[lo, 0]) + w[hi] * (imp[hi] + v[hi, 0] * v[hi, 0])) / w[g] \
            - v[g, 0] * v[g, 0]


def minus(actual: np.ndarray, derived: np.ndarray) -> np.ndarray:
    if actual.dtype.kind == "f":  # difference of the bit patterns (wrapping): exact whatever the rounding
        return (actual.view(np.uint64) - derived.view(np.uint64)).view(np.int64)
    return actual - derived


def plus(derived: np.ndarray, delta: np.ndarray) -> np.ndarray:
    if derived.dtype.kind == "f":
        return (derived.view(np.uint64) + delta.astype(np.int64).view(np.uint64)).view(np.float64)
    return derived + delta.astype(derived.dtype)


def delta_fields(value_width: int) -> tuple[str, ...]:
    return ("n_node_samples", "weighted_n_node_samples", "value") + (("impurity",) if value_width == 1 else ())
