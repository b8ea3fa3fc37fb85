"""Design spaces defined in YAML/JSON: continuous, integer, categorical and composition parameters.

Example (``space.yaml``)::

    parameters:
      - {name: temperature, type: continuous, low: 300, high: 900, step: 5}
      - {name: time, type: continuous, low: 1, high: 10, decimals: 1}
      - {name: layers, type: integer, low: 1, high: 10}
      - {name: solvent, type: categorical, values: [water, ethanol, toluene]}
      - name: alloy
        type: composition          # element fractions summing to 1
        elements: {Fe: [0.5, 0.9], Ni: [0, 0.3], Cr: [0, 0.3]}
    constraints:
      - "temperature + 50 * layers <= 1200"      # linear
      - "Ni + Cr <= 0.4"                           # on composition fractions
      - "temperature * layers > 600"               # any expression of the parameters
    min_separation: 0.05   # designs of one batch differ by >= 5% of some parameter's range

``step`` / ``decimals`` set a parameter's resolution (suggested values are rounded to it; defaults:
integers 1, fractions 0.001, continuous about a hundredth of the range). ``log: true`` puts a
continuous parameter that spans decades (a concentration from 0.001 to 1 M, a catalyst loading from
0.1 to 10 mol%) on a log scale: it is sampled, searched, modelled and spread out in its logarithm,
and its default resolution is two significant digits (0.0031, 0.047, 0.22). The user guide is
``docs/design_spaces.md``.

Constraints are parsed with :mod:`ast` into a whitelisted expression (names, numbers, arithmetic,
comparisons, ``and``/``or``, ``exp``/``log``/``sqrt``/``abs``), never ``eval`` on raw text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from matloop.design.space_constraints import Constraint
from matloop.errors import MatloopError
from matloop.io.elements import ATOMIC_NUMBER
from matloop.io.write import round_significant

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
    step: float | None = None  # resolution: suggested values are multiples of it (see :meth:`resolution`)
    decimals: int | None = None  # or: suggested values keep this many decimals
    log: bool = False  # a continuous parameter spanning decades: sampled, searched and modelled in log10

    def __post_init__(self) -> None:
        where = f"parameter {self.name!r}"
        if self.type not in PARAMETER_TYPES:
            raise MatloopError(f"{where}: type must be one of {PARAMETER_TYPES}, got {self.type!r}")
        if self.step is not None and not (isinstance(self.step, int | float) and 0 < float(self.step) < np.inf):
            raise MatloopError(f"{where}: step must be a positive number, got {self.step!r}")
        if self.decimals is not None and not (isinstance(self.decimals, int) and 0 <= self.decimals <= 12):
            raise MatloopError(f"{where}: decimals must be a whole number from 0 to 12, got {self.decimals!r}")
        if self.type in ("continuous", "integer"):
            if self.low is None or self.high is None or not float(self.low) < float(self.high):
                raise MatloopError(f"{where}: needs low < high, got low={self.low}, high={self.high}")
            self.low, self.high = float(self.low), float(self.high)
        if not isinstance(self.log, bool):
            raise MatloopError(f"{where}: log must be true or false, got {self.log!r}")
        if self.log and (self.type not in ("continuous", "integer") or self.low <= 0):
            raise MatloopError(f"{where}: log: true needs a continuous or integer parameter with low > 0 (a log "
                               f"scale spans decades of positive values), got type {self.type}, low={self.low}")
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

    def to_unit(self, values) -> np.ndarray:
        """A number parameter's values mapped onto [0, 1] over its bounds (in log10 with ``log``)."""
        v = np.asarray(values, dtype=float)
        if self.log:
            with np.errstate(divide="ignore", invalid="ignore"):
                return (np.log10(v) - np.log10(self.low)) / (np.log10(self.high) - np.log10(self.low))
        return (v - self.low) / (self.high - self.low)

    def whole(self, u) -> np.ndarray:
        """An integer parameter's values for unit coordinates ``u`` (log-spaced with ``log``), rounded within bounds."""
        return np.clip(np.round(self.from_unit(u)), np.ceil(self.low), np.floor(self.high))

    def from_unit(self, u) -> np.ndarray:
        """The inverse of :meth:`to_unit` (values for unit coordinates)."""
        u = np.asarray(u, dtype=float)
        if self.log:
            return 10.0 ** (np.log10(self.low) + u * (np.log10(self.high) - np.log10(self.low)))
        return self.low + u * (self.high - self.low)

    def resolution(self) -> float | None:
        """The smallest difference worth making: ``step``, else ``10**-decimals``, else 1 for integers,
        0.001 for composition fractions and about a hundredth of the range (a power of ten) for
        continuous parameters (300..900 -> 1, 1..10 -> 0.01). None for categorical parameters."""
        if self.type == "categorical":
            return None
        if self.step is not None:
            return max(float(self.step), 1.0) if self.type == "integer" else float(self.step)
        if self.decimals is not None:
            return max(10.0 ** -self.decimals, 1.0) if self.type == "integer" else 10.0 ** -self.decimals
        if self.type == "integer":
            return 1.0
        if self.type == "composition":
            return 0.001
        return 10.0 ** (np.floor(np.log10(self.high - self.low)) - 2)


class DesignSpace:
    """A set of parameters and constraints; samples, validates and mutates candidates."""

    def __init__(self, parameters: list[Parameter], constraints: list[str] | None = None,
                 min_separation: float = 0.05):
        if not parameters:
            raise MatloopError("a design space needs at least one parameter")
        if not (isinstance(min_separation, int | float) and 0 <= float(min_separation) < 1):
            raise MatloopError(f"min_separation must be a number in [0, 1), got {min_separation!r}")
        self.parameters = parameters
        #: two suggestions of one batch differ by at least this fraction of some parameter's range
        self.min_separation = float(min_separation)
        names = [c for p in parameters for c in p.columns]
        if len(set(names)) != len(names):
            raise MatloopError(f"parameter/element names repeat: {names}")
        self.constraints = [Constraint(c, set(names)) for c in (constraints or [])]

    @classmethod
    def from_dict(cls, spec: dict, strict: bool = True) -> DesignSpace:
        """A space from its dict: ``parameters`` a list of ``{name, type, ...}``, or the short form, a
        mapping ``name: {low, high, step}`` / ``name: [label, ...]`` (see :func:`long_form_spec`). ``strict``:
        unknown keys are errors (files); off for a ledger's stored copy, which older versions read leniently."""
        from matloop.design.space_spec import NOTE_KEYS, long_form_spec

        spec = long_form_spec(spec, strict)
        params = []
        for i, p in enumerate(spec["parameters"], start=1):
            if not isinstance(p, dict) or "name" not in p or "type" not in p:
                raise MatloopError(f"parameter {i}: needs at least 'name' and 'type'")
            p = {k: v for k, v in p.items() if k not in NOTE_KEYS}
            unknown = sorted(set(p) - set(Parameter.__dataclass_fields__))
            if unknown and not strict:
                p = {k: v for k, v in p.items() if k not in unknown}
            elif unknown:
                raise MatloopError(f"parameter {p['name']!r}: unknown key(s) {unknown} (known: "
                                   f"{sorted(Parameter.__dataclass_fields__)})")
            params.append(Parameter(**p))
        return cls(params, spec.get("constraints", []), spec.get("min_separation", 0.05))

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

    def ordered_as(self, columns: list[str]) -> DesignSpace:
        """This space with each composition's elements in the order of ``columns``: a ledger stores the
        space as JSON with sorted keys (Co, Fe, Ni) but its parameter columns as a list (Ni, Fe, Co), and
        suggestions and results must be keyed in one order."""
        pos = {c: i for i, c in enumerate(columns)}
        for p in self.parameters:
            if p.type == "composition" and all(el in pos for el in p.elements):
                p.elements = dict(sorted(p.elements.items(), key=lambda item: pos[item[0]]))
        return self

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

    def violations(self, frame: pd.DataFrame, rows: list[int] | None = None) -> list[dict]:
        """Why rows of ``frame`` lie outside the space: error records (row, column, value, reason) for
        every missing or non-numeric value, value out of bounds, non-integer, unknown category,
        composition not summing to 1, and constraint not met. ``rows`` are the 1-based file rows."""
        rows = list(range(1, len(frame) + 1)) if rows is None else list(rows)
        out: list[dict] = []
        clean = pd.DataFrame(index=frame.index)
        bad = np.zeros(len(frame), dtype=bool)
        for p in self.parameters:
            for col in p.columns:
                if col not in frame.columns:
                    return [{"row": 0, "column": col, "value": None, "reason": "column missing"}]
                if p.type == "categorical":
                    v = frame[col].to_numpy(dtype=object)
                    ok = frame[col].isin(p.values).to_numpy()
                    out += [{"row": r, "column": col, "value": x, "reason": f"not one of {p.values}"}
                            for r, x, o in zip(rows, v, ok, strict=True) if not o]
                    bad |= ~ok
                    clean[col] = frame[col]
                    continue
                num = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
                lo, hi = (p.low, p.high) if p.type != "composition" else p.elements[col]
                for r, x, v in zip(rows, frame[col].to_numpy(dtype=object), num, strict=True):
                    if not np.isfinite(v):
                        out.append({"row": r, "column": col, "value": x, "reason": "not a number"})
                    elif v < lo - 1e-9 or v > hi + 1e-9:
                        out.append({"row": r, "column": col, "value": x, "reason": f"outside [{lo:g}, {hi:g}]"})
                    elif p.type == "integer" and not np.isclose(v, round(v)):
                        out.append({"row": r, "column": col, "value": x, "reason": "not a whole number"})
                bad |= ~np.isfinite(num)
                clean[col] = num
            if p.type == "composition":
                total = clean[p.columns].to_numpy(dtype=float).sum(axis=1)
                out += [{"row": r, "column": p.name, "value": f"{t:.6g}", "reason": "fractions do not sum to 1"}
                        for r, t, b in zip(rows, total, bad, strict=True) if not b and not np.isclose(t, 1.0)]
        for c in self.constraints:
            ok = c(clean.fillna(0) if len(clean) else clean)
            out += [{"row": r, "column": "(constraint)", "value": c.text, "reason": "constraint not met"}
                    for r, o, b in zip(rows, ok, bad, strict=True) if not o and not b]
        return sorted(out, key=lambda e: e["row"])

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
                cols[p.name] = p.from_unit(rng.uniform(0.0, 1.0, n))
            elif p.type == "integer":
                cols[p.name] = p.whole(rng.uniform(0.0, 1.0, n)) if p.log else rng.integers(
                    int(np.ceil(p.low)), int(np.floor(p.high)) + 1, n).astype(float)
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
            if p.type in ("continuous", "integer"):  # a Gaussian step in unit coordinates (log10 with log)
                v = p.from_unit(np.clip(p.to_unit(out[p.name].to_numpy(dtype=float)) + rng.normal(0, scale, n), 0, 1))
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
        """Numeric model inputs: raw numbers (log10 of a ``log`` parameter), one-hot categoricals,
        composition fractions."""
        parts = []
        for p in self.parameters:
            if p.type == "categorical":
                parts.append(np.stack([(frame[p.name] == v).to_numpy(dtype=float) for v in p.values], axis=1))
            elif p.log:
                with np.errstate(divide="ignore", invalid="ignore"):
                    parts.append(np.log10(frame[p.name].to_numpy(dtype=float))[:, None])
            else:
                parts.append(frame[p.columns].to_numpy(dtype=float))
        return np.hstack(parts)

    def unit(self, frame: pd.DataFrame) -> np.ndarray:
        """Coordinates in which every parameter spans [0, 1]: numbers scaled by their range, one column
        per category (two categories differ by 1 in one coordinate, as in :meth:`round`), fractions by
        the largest element range. Distances here compare designs across parameters."""
        parts = []
        for p in self.parameters:
            if p.type == "categorical":
                parts.append(np.stack([(frame[p.name] == v).to_numpy(dtype=float) for v in p.values], axis=1))
            elif p.type == "composition":
                width = max(max(hi - lo for lo, hi in p.elements.values()), 1e-12)
                parts.append(frame[p.columns].to_numpy(dtype=float) / width)
            else:
                parts.append(p.to_unit(frame[p.name].to_numpy(dtype=float))[:, None])
        return np.hstack(parts)

    def round(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Values at each parameter's :meth:`~Parameter.resolution` (so a batch never carries
        13-decimal values): numbers to the nearest multiple of the step inside the bounds, composition
        fractions to the step and still summing to 1 (the rounding residue goes to the elements whose
        rounding moved them most, within their bounds)."""
        out = frame.copy()
        for p in self.parameters:
            if p.log and p.step is None and p.decimals is None:  # two significant digits, within the bounds
                v = round_significant(out[p.name].to_numpy(dtype=float), 2)
                if p.type == "integer" and np.isfinite(v).all():  # whole numbers stay whole: 350, not 350.0
                    out[p.name] = np.clip(np.round(v), np.ceil(p.low), np.floor(p.high)).astype(np.int64)
                else:
                    out[p.name] = np.clip(v, p.low, p.high)
                continue
            res = p.resolution()
            if res is None:
                continue
            digits = _decimals_of(res)
            if p.type != "composition":
                v = np.round(out[p.name].to_numpy(dtype=float) / res) * res
                v = np.clip(v, p.low, p.high)
                whole = p.type == "integer" and digits == 0 and np.isfinite(v).all()
                out[p.name] = np.round(v).astype(np.int64) if whole else np.round(v, digits)  # 3, not 3.0
                continue
            els = list(p.elements)
            lo = np.array([b[0] for b in p.elements.values()])
            hi = np.array([b[1] for b in p.elements.values()])
            raw = out[els].to_numpy(dtype=float)
            fr = np.clip(np.round(raw / res) * res, lo, hi)
            for i in range(len(fr)):  # a few steps of the residue per row, moved where rounding erred most
                for _ in range(4 * len(els)):
                    gap = 1.0 - fr[i].sum()
                    if abs(gap) < res / 2:
                        break
                    move = np.sign(gap) * res
                    room = (fr[i] + move <= hi + 1e-12) & (fr[i] + move >= lo - 1e-12)
                    if not room.any():
                        break
                    err = (raw[i] - fr[i]) * np.sign(gap)
                    j = int(np.argmax(np.where(room, err, -np.inf)))
                    fr[i, j] += move
            out[els] = np.round(fr, digits)
        return out

    def distinct(self, frame: pd.DataFrame, measured: pd.DataFrame | None = None,
                 separation: float | None = None) -> np.ndarray:
        """Positions of rows to keep, in order, so that no two kept rows (and no kept row and a
        ``measured`` row) are closer than ``separation`` (default :attr:`min_separation`) in every
        unit coordinate: each kept design differs from the others by at least that fraction of some
        parameter's range (or in a category)."""
        sep = self.min_separation if separation is None else float(separation)
        U = self.unit(frame)
        taken = self.unit(measured) if measured is not None and len(measured) else np.empty((0, U.shape[1]))
        keep = []
        for i in range(len(U)):
            if len(taken) and np.min(np.max(np.abs(taken - U[i]), axis=1)) < max(sep, 1e-9):
                continue
            keep.append(i)
            taken = np.vstack([taken, U[i]])
        return np.asarray(keep, dtype=int)

    def formulas(self, frame: pd.DataFrame) -> list[str] | None:
        """Formula strings of the first composition parameter (for composition featurizers)."""
        comp = next((p for p in self.parameters if p.type == "composition"), None)
        if comp is None:
            return None
        fr = frame[list(comp.elements)].to_numpy(dtype=float)
        return ["".join(f"{el}{x:.6g}" for el, x in zip(comp.elements, row, strict=True) if x > 0) for row in fr]


def _decimals_of(step: float) -> int:
    """How many decimals a multiple of ``step`` needs (0.25 -> 2, 0.1 -> 1, 5 -> 0)."""
    text = np.format_float_positional(float(step), precision=12, trim="-")
    return len(text.split(".")[1]) if "." in text else 0


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
