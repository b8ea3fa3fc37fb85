"""Design spaces defined in YAML/JSON: continuous, integer, categorical and composition parameters.

Example (``space.yaml``)::

    parameters:
      - {name: temperature, type: continuous, low: 300, high: 900}
      - {name: layers, type: integer, low: 1, high: 10}
      - {name: solvent, type: categorical, values: [water, ethanol, toluene]}
      - name: alloy
        type: composition          # element fractions summing to 1
        elements: {Fe: [0.5, 0.9], Ni: [0, 0.3], Cr: [0, 0.3]}
    constraints:
      - "temperature + 50 * layers <= 1200"      # linear
      - "Ni + Cr <= 0.4"                           # on composition fractions
      - "temperature * layers > 600"               # any expression of the parameters

Constraints are parsed with :mod:`ast` into a whitelisted expression (names, numbers, arithmetic,
comparisons, ``and``/``or``, ``exp``/``log``/``sqrt``/``abs``), never ``eval`` on raw text.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from matloop.errors import MatloopError
from matloop.io.elements import ATOMIC_NUMBER

PARAMETER_TYPES = ("continuous", "integer", "categorical", "composition")


@dataclass
class Parameter:
    """One dimension of a design space."""

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    values: list = field(default_factory=list)
    elements: dict[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"parameter {self.name!r}"
        if self.type not in PARAMETER_TYPES:
            raise MatloopError(f"{where}: type must be one of {PARAMETER_TYPES}, got {self.type!r}")
        if self.type in ("continuous", "integer"):
            if self.low is None or self.high is None or not float(self.low) < float(self.high):
                raise MatloopError(f"{where}: needs low < high, got low={self.low}, high={self.high}")
            self.low, self.high = float(self.low), float(self.high)
        if self.type == "categorical" and len(self.values) < 2:
            raise MatloopError(f"{where}: a categorical parameter needs at least two values")
        if self.type == "composition":
            if len(self.elements) < 2:
                raise MatloopError(f"{where}: a composition needs at least two elements")
            for el, bounds in self.elements.items():
                if el not in ATOMIC_NUMBER:
                    raise MatloopError(f"{where}: unknown element {el!r}")
                lo, hi = (float(b) for b in bounds)
                if not 0 <= lo <= hi <= 1:
                    raise MatloopError(f"{where}: bounds of {el} must satisfy 0 <= min <= max <= 1, got {bounds}")
                self.elements[el] = (lo, hi)
            lows = sum(b[0] for b in self.elements.values())
            highs = sum(b[1] for b in self.elements.values())
            if lows > 1 + 1e-12 or highs < 1 - 1e-12:
                raise MatloopError(f"{where}: fractions cannot sum to 1 within the bounds (min sum {lows:g}, "
                                   f"max sum {highs:g})")

    @property
    def columns(self) -> list[str]:
        """Columns this parameter occupies in a candidate table."""
        return list(self.elements) if self.type == "composition" else [self.name]


class Constraint:
    """A safe, vectorised boolean expression over parameter columns."""

    _BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
               ast.Pow: operator.pow}
    _CMPOPS = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
               ast.Eq: np.isclose, ast.NotEq: lambda a, b: ~np.isclose(a, b)}
    _FUNCS = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs, "min": np.minimum, "max": np.maximum}

    def __init__(self, text: str, names: set[str]):
        self.text = text
        try:
            self.tree = ast.parse(text, mode="eval").body
        except SyntaxError as exc:
            raise MatloopError(f"constraint {text!r} is not a valid expression: {exc.msg}") from None
        self._check(self.tree, names)

    def _check(self, node, names):
        allowed = (ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.Name, ast.Constant, ast.Call, ast.USub,
                   ast.UAdd, ast.Load, ast.And, ast.Or, *self._BINOPS, *self._CMPOPS)
        for sub in ast.walk(node):
            if not isinstance(sub, allowed):
                raise MatloopError(f"constraint {self.text!r}: {type(sub).__name__} is not allowed")
            if isinstance(sub, ast.Name) and sub.id not in names and sub.id not in self._FUNCS:
                raise MatloopError(f"constraint {self.text!r}: unknown name {sub.id!r} (known: {sorted(names)})")
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
            return frame[node.id].to_numpy(dtype=float)
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


class DesignSpace:
    """A set of parameters and constraints; samples, validates and mutates candidates."""

    def __init__(self, parameters: list[Parameter], constraints: list[str] | None = None):
        if not parameters:
            raise MatloopError("a design space needs at least one parameter")
        self.parameters = parameters
        names = [c for p in parameters for c in p.columns]
        if len(set(names)) != len(names):
            raise MatloopError(f"parameter/element names repeat: {names}")
        self.constraints = [Constraint(c, set(names)) for c in (constraints or [])]

    @classmethod
    def from_dict(cls, spec: dict) -> DesignSpace:
        if not isinstance(spec, dict) or "parameters" not in spec:
            raise MatloopError("a space file needs a 'parameters' list")
        params = []
        for i, p in enumerate(spec["parameters"], start=1):
            if not isinstance(p, dict) or "name" not in p or "type" not in p:
                raise MatloopError(f"parameter {i}: needs at least 'name' and 'type'")
            params.append(Parameter(**{k: v for k, v in p.items() if k in Parameter.__dataclass_fields__}))
        return cls(params, spec.get("constraints", []))

    @classmethod
    def from_file(cls, path: str | Path) -> DesignSpace:
        """Read a YAML or JSON space file."""
        from matloop.errors import InputError
        from matloop.io.specfile import read_spec

        path = Path(path)
        spec = read_spec(path)  # size-capped, unique keys, no YAML aliases; problems are InputError
        try:
            return cls.from_dict(spec)
        except InputError:
            raise
        except (MatloopError, ValueError, TypeError, AttributeError, KeyError) as exc:
            raise InputError(f"{path.name}: {exc}") from None

    @property
    def columns(self) -> list[str]:
        return [c for p in self.parameters for c in p.columns]

    def feasible(self, frame: pd.DataFrame) -> np.ndarray:
        """Which rows satisfy bounds, types and every constraint."""
        ok = np.ones(len(frame), dtype=bool)
        for p in self.parameters:
            if p.type in ("continuous", "integer"):
                v = frame[p.name].to_numpy(dtype=float)
                ok &= (v >= p.low - 1e-12) & (v <= p.high + 1e-12)
                if p.type == "integer":
                    ok &= np.isclose(v, np.round(v))
            elif p.type == "categorical":
                ok &= frame[p.name].isin(p.values).to_numpy()
            else:
                fr = frame[list(p.elements)].to_numpy(dtype=float)
                lo = np.array([b[0] for b in p.elements.values()])
                hi = np.array([b[1] for b in p.elements.values()])
                ok &= np.all((fr >= lo - 1e-9) & (fr <= hi + 1e-9), axis=1) & np.isclose(fr.sum(axis=1), 1.0)
        for c in self.constraints:
            ok &= c(frame)
        return ok

    def sample(self, n: int, rng: np.random.Generator, max_tries: int = 50) -> pd.DataFrame:
        """``n`` feasible random candidates (rejection sampling; raises if constraints are too tight)."""
        chunks, have = [], 0
        for _ in range(max_tries):
            draw = self._raw_sample(max(2 * (n - have), 256), rng)
            draw = draw[self.feasible(draw)]
            chunks.append(draw)
            have += len(draw)
            if have >= n:
                break
        out = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(columns=self.columns)
        if len(out) < n:
            raise MatloopError(f"could only sample {len(out)} of {n} feasible points: constraints too tight?")
        return out.iloc[:n].reset_index(drop=True)

    def _raw_sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        cols: dict[str, np.ndarray] = {}
        for p in self.parameters:
            if p.type == "continuous":
                cols[p.name] = rng.uniform(p.low, p.high, n)
            elif p.type == "integer":
                cols[p.name] = rng.integers(int(np.ceil(p.low)), int(np.floor(p.high)) + 1, n).astype(float)
            elif p.type == "categorical":
                cols[p.name] = np.array(p.values, dtype=object)[rng.integers(0, len(p.values), n)]
            else:
                fr = _sample_simplex(p, n, rng)
                for j, el in enumerate(p.elements):
                    cols[el] = fr[:, j]
        return pd.DataFrame(cols)

    def mutate(self, frame: pd.DataFrame, scale: float, rng: np.random.Generator) -> pd.DataFrame:
        """Perturb candidates (Gaussian steps of ``scale`` x range; categorical resampling) and keep
        the feasible children."""
        out = frame.copy()
        n = len(out)
        for p in self.parameters:
            if p.type in ("continuous", "integer"):
                v = out[p.name].to_numpy(dtype=float) + rng.normal(0, scale * (p.high - p.low), n)
                v = np.clip(v, p.low, p.high)
                out[p.name] = np.round(v) if p.type == "integer" else v
            elif p.type == "categorical":
                flip = rng.random(n) < scale
                new = np.array(p.values, dtype=object)[rng.integers(0, len(p.values), n)]
                out[p.name] = np.where(flip, new, out[p.name].to_numpy(dtype=object))
            else:
                els = list(p.elements)
                fr = out[els].to_numpy(dtype=float) + rng.normal(0, scale * 0.5, (n, len(els)))
                lo = np.array([b[0] for b in p.elements.values()])
                hi = np.array([b[1] for b in p.elements.values()])
                fr = _project_to_bounded_simplex(fr, lo, hi)
                out[els] = fr
        return out[self.feasible(out)].reset_index(drop=True)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Numeric model inputs: raw numbers, one-hot categoricals, composition fractions."""
        parts = []
        for p in self.parameters:
            if p.type == "categorical":
                parts.append(np.stack([(frame[p.name] == v).to_numpy(dtype=float) for v in p.values], axis=1))
            else:
                parts.append(frame[p.columns].to_numpy(dtype=float))
        return np.hstack(parts)

    def formulas(self, frame: pd.DataFrame) -> list[str] | None:
        """Formula strings of the first composition parameter (for composition featurizers)."""
        comp = next((p for p in self.parameters if p.type == "composition"), None)
        if comp is None:
            return None
        fr = frame[list(comp.elements)].to_numpy(dtype=float)
        return ["".join(f"{el}{x:.6g}" for el, x in zip(comp.elements, row, strict=True) if x > 0) for row in fr]


def _sample_simplex(p: Parameter, n: int, rng: np.random.Generator) -> np.ndarray:
    lo = np.array([b[0] for b in p.elements.values()])
    hi = np.array([b[1] for b in p.elements.values()])
    free = 1.0 - lo.sum()
    fr = lo + free * rng.dirichlet(np.ones(len(lo)), size=n)
    return _project_to_bounded_simplex(fr, lo, hi)


def _project_to_bounded_simplex(fr: np.ndarray, lo: np.ndarray, hi: np.ndarray, iters: int = 60) -> np.ndarray:
    """Euclidean projection onto {lo <= x <= hi, sum x = 1} by bisection on the shift (vectorised)."""
    a = (fr - hi).min(axis=1) - 1.0
    b = (fr - lo).max(axis=1) + 1.0
    for _ in range(iters):
        mid = 0.5 * (a + b)
        s = np.clip(fr - mid[:, None], lo, hi).sum(axis=1)
        a = np.where(s > 1.0, mid, a)
        b = np.where(s > 1.0, b, mid)
    return np.clip(fr - (0.5 * (a + b))[:, None], lo, hi)


def optimize(space: DesignSpace, score, n: int, rng: np.random.Generator, n_initial: int = 2000,
             generations: int = 12, population: int = 64, start: pd.DataFrame | None = None) -> pd.DataFrame:
    """Maximise ``score(frame) -> ndarray`` over the space by an evolutionary search.

    A large random start (so no region is ignored), then generations of mutation around the best
    (step sizes shrinking from 10% to 1% of each range), keeping the ``population`` best. Returns the
    ``n`` best distinct candidates found, best first, with their scores in column ``_score``.
    ``start`` (e.g. known good materials) joins the random start.
    """
    pop = space.sample(n_initial, rng)
    if start is not None and len(start):
        pop = pd.concat([start[space.columns], pop], ignore_index=True)
    pop["_score"] = score(pop[space.columns])
    for g in range(generations):
        elite = pop.nlargest(population, "_score")
        scale = 0.1 * (0.1 ** (g / max(generations - 1, 1)))
        children = space.mutate(pd.concat([elite[space.columns]] * 4, ignore_index=True), scale, rng)
        if len(children):
            children["_score"] = score(children[space.columns])
            pop = pd.concat([elite, children], ignore_index=True)
    pop = pop.drop_duplicates(subset=space.columns)
    return pop.nlargest(n, "_score").reset_index(drop=True)
