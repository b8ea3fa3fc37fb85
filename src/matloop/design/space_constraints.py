"""A design space's constraints: safe, vectorised expressions over its parameter columns.

Split out of :mod:`matloop.design.space` (which uses :class:`Constraint` for every ``constraints:``
entry of a space file). Parsed with :mod:`ast` into a whitelisted expression (names, numbers,
arithmetic, comparisons, ``and``/``or``, ``exp``/``log``/``sqrt``/``abs``/``min``/``max``), never ``eval``
on raw text; a parameter named as a Python keyword (``lambda``) or not as an identifier
(``temp (C)``) is read through :func:`matloop.design.expression_names.protect_names`.
"""

from __future__ import annotations

import ast
import operator

import numpy as np
import pandas as pd

from matloop.errors import MatloopError


class Constraint:
    """A safe, vectorised boolean expression over parameter columns."""

    _BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
               ast.Pow: operator.pow}
    _CMPOPS = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
               ast.Eq: np.isclose, ast.NotEq: lambda a, b: ~np.isclose(a, b)}
    _FUNCS = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs, "min": np.minimum, "max": np.maximum}

    def __init__(self, text: str, names: set[str]):
        from matloop.design.expression_names import protect_names

        self.text = text
        source, self.alias = protect_names(text, names)  # a parameter named lambda, or 'temp (C)'
        try:
            self.tree = ast.parse(source, mode="eval").body
        except SyntaxError as exc:
            raise MatloopError(f"constraint {text!r} is not a valid expression: {exc.msg}") from None
        self._check(self.tree, names)

    def _check(self, node, names):
        allowed = (ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.Name, ast.Constant, ast.Call, ast.USub,
                   ast.UAdd, ast.Load, ast.And, ast.Or, *self._BINOPS, *self._CMPOPS)
        for sub in ast.walk(node):
            if not isinstance(sub, allowed):
                raise MatloopError(f"constraint {self.text!r}: {type(sub).__name__} is not allowed")
            if isinstance(sub, ast.Name) and self.alias.get(sub.id, sub.id) not in names and sub.id not in self._FUNCS:
                raise MatloopError(f"constraint {self.text!r}: unknown name {self.alias.get(sub.id, sub.id)!r} "
                                   f"(known: {sorted(names)})")
            if isinstance(sub, ast.Call) and not (isinstance(sub.func, ast.Name) and sub.func.id in self._FUNCS):
                raise MatloopError(f"constraint {self.text!r}: only {sorted(self._FUNCS)} may be called")
            if isinstance(sub, ast.Constant) and not isinstance(sub.value, int | float):
                raise MatloopError(f"constraint {self.text!r}: only numbers may appear as constants")
        if not isinstance(node, ast.Compare | ast.BoolOp):
            raise MatloopError(f"constraint {self.text!r} must be a comparison such as 'x + y <= 1'")

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self._eval(self.tree, frame), dtype=bool) & np.ones(len(frame), dtype=bool)

    def _eval(self, node, frame):
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            return frame[self.alias.get(node.id, node.id)].to_numpy(dtype=float)
        if isinstance(node, ast.UnaryOp):
            v = self._eval(node.operand, frame)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp):
            return self._BINOPS[type(node.op)](self._eval(node.left, frame), self._eval(node.right, frame))
        if isinstance(node, ast.Call):
            return self._FUNCS[node.func.id](*[self._eval(a, frame) for a in node.args])
        if isinstance(node, ast.BoolOp):
            vals = [self._eval(v, frame) for v in node.values]
            out = vals[0]
            for v in vals[1:]:
                out = (out & v) if isinstance(node.op, ast.And) else (out | v)
            return out
        left = self._eval(node.left, frame)
        result = True
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = self._eval(comp, frame)
            result = result & self._CMPOPS[type(op)](left, right)
            left = right
        return result
