"""Ionic substitution likelihoods, oxidation-state assignment and volume scaling for prototype substitution.

Hautier et al. (Inorg. Chem. 50, 656, 2011) mined the ICSD for how often one ion replaces another in the
same structure: a weight ``lambda(s1, s2)`` per pair of ions, shipped with pymatgen as ``lambda.json``.
:class:`SubstitutionTable` reads that table directly (offline; pymatgen's own ``SubstitutionProbability``
spends ~4 s building the same sums through ``Species`` objects) and gives

- ``cond_prob(new, old)``: P(ion ``new`` replaces ion ``old``), Hautier's conditional probability, and
- ``element_cond_prob(new, old)``: the same summed over the oxidation states of two elements, used when a
  composition has no charge-balanced assignment (intermetallics), so every pair still gets a likelihood.

Oxidation states come from SMACT's rules when SMACT is installed (ICSD oxidation states, charge
neutrality, Pauling electronegativity order), otherwise from pymatgen's ``oxi_state_guesses``.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from collections import defaultdict
from pathlib import Path

#: weight of a substitution never seen in the ICSD (pymatgen's default ``alpha``)
ALPHA = -5.0
#: most oxidation-state assignments kept per composition
MAX_ASSIGNMENTS = 12


def _species_name(element: str, charge: int) -> str:
    """The lambda table's spelling of an ion: ``Fe3+``, ``O2-``, ``Na1+``."""
    return f"{element}{abs(charge)}{'+' if charge >= 0 else '-'}"


def _split_species(name: str) -> tuple[str, int]:
    sign = 1 if name.endswith("+") else -1
    body = name[:-1]
    i = len(body)
    while i and body[i - 1].isdigit():
        i -= 1
    return body[:i], sign * int(body[i:] or 1)


def _lambda_path() -> Path:
    import pymatgen.core

    root = Path(pymatgen.core.__file__).parent.parent  # pymatgen is a namespace package
    for sub in ("core/structure_prediction", "analysis/structure_prediction"):
        path = root / sub / "data" / "lambda.json"
        if path.is_file():
            return path
    raise FileNotFoundError("pymatgen's lambda.json (substitution weights) was not found")


class SubstitutionTable:
    """Hautier's ionic substitution weights with conditional probabilities for ions and for elements."""

    def __init__(self, rows: list | None = None, alpha: float = ALPHA):
        if rows is None:
            rows = json.loads(_lambda_path().read_text())
        self.alpha = float(alpha)
        self._lambda: dict[frozenset, float] = {}
        for a, b, value in rows:
            if "D1+" in (a, b):
                continue
            self._lambda[frozenset((a, b))] = float(value)
        self.species = sorted({s for key in self._lambda for s in key})
        self.by_element: dict[str, list[str]] = defaultdict(list)
        for s in self.species:
            self.by_element[_split_species(s)[0]].append(s)
        # p(x) = sum_y exp(lambda(x, y)) over every species pair, as pymatgen computes it
        unseen = math.exp(self.alpha)
        self._px = {s: unseen * len(self.species) for s in self.species}
        for key, value in self._lambda.items():
            pair = tuple(key) if len(key) == 2 else (next(iter(key)),) * 2
            extra = math.exp(value) - unseen
            self._px[pair[0]] += extra
            if pair[1] != pair[0]:
                self._px[pair[1]] += extra

    def get_lambda(self, a: str, b: str) -> float:
        return self._lambda.get(frozenset((a, b)), self.alpha)

    def cond_prob(self, new: str, old: str) -> float:
        """P(ion ``new`` takes the place of ion ``old``); ions spelt ``Fe3+``."""
        px = self._px.get(old)
        if px is None:  # an ion the ICSD statistics do not know: the never-seen weight, over all ions
            return math.exp(self.get_lambda(new, old)) / (math.exp(self.alpha) * max(len(self.species), 1))
        return math.exp(self.get_lambda(new, old)) / px

    @functools.lru_cache(maxsize=65536)  # noqa: B019 - one table per process, pairs of element symbols
    def element_cond_prob(self, new: str, old: str) -> float:
        """P(element ``new`` replaces element ``old``), summed over their ions (mean over ``old``'s ions)."""
        olds = self.by_element.get(old) or []
        news = self.by_element.get(new) or []
        if new == old:
            return max([self.cond_prob(s, s) for s in olds] or [math.exp(-self.alpha)])
        if not olds or not news:
            return math.exp(self.alpha) / max(len(self.species), 1)
        return sum(self.cond_prob(n, o) for n in news for o in olds) / len(olds)


@functools.lru_cache(maxsize=1)
def substitution_table() -> SubstitutionTable:
    """The process-wide table (read once, 0.05 s)."""
    return SubstitutionTable()


def smact_available() -> bool:
    try:
        import smact  # noqa: F401
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=4096)
def oxidation_states(counts: tuple[tuple[str, int], ...]) -> tuple[dict[str, int], ...]:
    """Charge-balanced oxidation-state assignments (one state per element) of a reduced composition.

    ``counts`` is ``((element, integer amount), ...)``. SMACT when installed: ICSD-observed states, charge
    neutral, cations less electronegative than anions; pymatgen's ``oxi_state_guesses`` otherwise. Ordered
    most plausible first (SMACT: by how common the states are in the lambda table); empty for metals and
    other compositions without a charge-balanced assignment.
    """
    if len(counts) == 1:
        return ({counts[0][0]: 0},)
    if smact_available():
        return _smact_states(counts)
    from pymatgen.core import Composition

    try:
        guesses = Composition(dict(counts)).oxi_state_guesses(max_sites=-20)
    except Exception:  # noqa: BLE001 - an exotic composition: no assignment, not a failure
        return ()
    out = []
    for guess in guesses[:MAX_ASSIGNMENTS]:
        if all(float(v).is_integer() for v in guess.values()):
            out.append({el: int(v) for el, v in guess.items()})
    return tuple(out)


def _smact_states(counts: tuple[tuple[str, int], ...]) -> tuple[dict[str, int], ...]:
    import smact
    from smact.screening import pauling_test

    elements = [el for el, _ in counts]
    try:
        data = [smact.Element(el) for el in elements]
    except (NameError, KeyError, ValueError):
        return ()
    options = []
    for item in data:
        states = getattr(item, "oxidation_states_icsd24", None) or item.oxidation_states or []
        options.append([int(s) for s in states if s != 0])
    if not all(options) or math.prod(len(o) for o in options) > 200_000:
        return ()
    table = substitution_table()
    found = []
    negs = [item.pauling_eneg for item in data]
    for states in itertools.product(*options):
        if sum(q * n for q, (_, n) in zip(states, counts, strict=True)) != 0:
            continue
        if None not in negs and not pauling_test(states, negs):
            continue
        known = sum(_species_name(el, q) in table._px for el, q in zip(elements, states, strict=True))
        found.append((-known, sum(abs(q) for q in states), dict(zip(elements, states, strict=True))))
    found.sort(key=lambda item: (item[0], item[1]))
    return tuple(item[2] for item in found[:MAX_ASSIGNMENTS])


@functools.lru_cache(maxsize=4096)
def radius(element: str, charge: int | None) -> float | None:
    """Ionic radius of ``element`` in ``charge`` (Å), else its atomic radius; ``None`` when neither is known."""
    from pymatgen.core import Element, Species

    if charge:
        try:
            value = Species(element, charge).ionic_radius
        except (ValueError, KeyError):
            value = None
        if value:
            return float(value)
    el = Element(element)
    value = el.atomic_radius or el.atomic_radius_calculated
    return float(value) if value else None


def volume_ratio(mapping: dict[str, str], old_counts: dict[str, float], new_states: dict[str, int] | None,
                 old_states: dict[str, int] | None) -> float:
    """How much the cell's volume changes when each template element ``old`` becomes ``mapping[old]``:
    the ratio of summed cubed radii (ionic where both sides have oxidation states, else atomic), as
    pymatgen's reference-scaled ``RLSVolumePredictor`` does. 1.0 when a radius is unknown."""
    ionic = bool(new_states) and bool(old_states)
    new_sum = old_sum = 0.0
    for old, amount in old_counts.items():
        new = mapping[old]
        r_old = radius(old, old_states[old] if ionic else None)
        r_new = radius(new, new_states[new] if ionic else None)
        if ionic and (r_old is None or r_new is None):
            r_old, r_new = radius(old, None), radius(new, None)
        if r_old is None or r_new is None:
            return 1.0
        old_sum += amount * r_old**3
        new_sum += amount * r_new**3
    return new_sum / old_sum if old_sum > 0 else 1.0


def mappings(new_counts: dict[str, int], old_counts: dict[str, int], limit: int = 720) -> list[dict[str, str]]:
    """Every assignment of the template's elements to the new composition's elements with equal reduced
    amounts (``{old: new}``); elements with the same amount may swap. At most ``limit``."""
    by_amount_new: dict[int, list[str]] = defaultdict(list)
    by_amount_old: dict[int, list[str]] = defaultdict(list)
    for el, n in new_counts.items():
        by_amount_new[n].append(el)
    for el, n in old_counts.items():
        by_amount_old[n].append(el)
    if sorted((k, len(v)) for k, v in by_amount_new.items()) != sorted((k, len(v)) for k, v in by_amount_old.items()):
        return []
    amounts = sorted(by_amount_old)
    choices = [list(itertools.permutations(sorted(by_amount_new[a]))) for a in amounts]
    out = []
    for combo in itertools.product(*choices):
        mapping = {}
        for a, perm in zip(amounts, combo, strict=True):
            mapping.update(zip(sorted(by_amount_old[a]), perm, strict=True))
        out.append(mapping)
        if len(out) >= limit:
            break
    return out


def mapping_probability(mapping: dict[str, str], new_assignments: tuple[dict[str, int], ...],
                        old_assignments: tuple[dict[str, int], ...]) -> tuple[float, dict | None, dict | None]:
    """Likelihood of substituting along ``mapping`` (``{old: new}``): the best product of Hautier's
    conditional ion probabilities over the two compositions' oxidation-state assignments, or the
    element-level product when either side has none. Returns (probability, new states, old states)."""
    table = substitution_table()
    best = (0.0, None, None)
    for new_states in new_assignments[:MAX_ASSIGNMENTS]:
        for old_states in old_assignments[:3]:
            p = 1.0
            for old, new in mapping.items():
                p *= table.cond_prob(_species_name(new, new_states[new]), _species_name(old, old_states[old]))
            if p > best[0]:
                best = (p, new_states, old_states)
    if best[1] is None:
        p = 1.0
        for old, new in mapping.items():
            p *= table.element_cond_prob(new, old)
        best = (p, None, None)
    return best
