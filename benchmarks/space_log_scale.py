"""A design-space campaign over a concentration that spans decades: ``log: true`` against a linear scale.

The space: ``conc`` from 0.001 to 1 M and ``temperature`` from 20 to 80 °C (step 5). The yield of a
generated reaction peaks at a concentration drawn per function, log-uniformly over the range (half of
the draws below 0.03 M, where a linear scale puts 3 % of its samples), with a width of a third of a
decade, plus a mild temperature trend and 1 % noise. Each campaign runs as ``matloop campaign`` does
(:class:`matloop.design.campaign.Campaign`: a space-filling first batch, then the default surrogate
and batch), batches of 5, 30 experiments; the arms differ only in the space file's ``log: true``.
Paired over functions (same function and seed for both arms). Reported: the best yield found after
10, 20 and 30 experiments as a share of the function's maximum, and how often 95 % of it was reached.

usage: python benchmarks/space_log_scale.py [--functions 12] [--budget 30]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from matloop.design.acquisition import Objective  # noqa: E402
from matloop.design.campaign import Campaign  # noqa: E402
from matloop.design.space import DesignSpace  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def reaction(seed: int):
    """A yield function of (conc, temperature) with its peak at a log-uniform concentration; its maximum."""
    rng = np.random.default_rng(seed)
    centre = rng.uniform(-3, 0)  # log10 of the best concentration
    t_best = rng.uniform(20, 80)

    def f(conc, temperature, noise=True):
        x = np.log10(np.asarray(conc, dtype=float))
        y = 80 * np.exp(-((x - centre) ** 2) / (2 * 0.33 ** 2)) + 10 * np.exp(-((np.asarray(temperature) - t_best) / 40) ** 2)
        return y + (rng.normal(0, 0.8, np.shape(y)) if noise else 0)
    return f, 90.0


def run(log: bool, seed: int, budget: int, batch: int) -> list[float]:
    f, top = reaction(seed)
    spec = {"conc": {"low": 0.001, "high": 1, "log": log}, "temperature": {"low": 20, "high": 80, "step": 5}}
    space = DesignSpace.from_dict(spec)
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/c.db"
        camp = Campaign.create("c", db, Objective("max"), "yield", space=space, space_spec=spec)
        best, curve = -np.inf, []
        while len(curve) < budget:
            out = camp.suggest(batch=min(batch, budget - len(curve)), seed=seed)
            y = f(out["conc"].to_numpy(dtype=float), out["temperature"].to_numpy(dtype=float))
            out = out[["conc", "temperature"]].assign(**{"yield": np.round(y, 3)})
            camp.record(out, source="bench")
            for value in f(out["conc"], out["temperature"], noise=False):  # the true yield of what was made
                best = max(best, float(value))
                curve.append(best / top)
        camp.ledger.engine.dispose()
    return curve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--functions", type=int, default=12)
    ap.add_argument("--budget", type=int, default=30)
    ap.add_argument("--batch", type=int, default=5)
    args = ap.parse_args()
    curves: dict[str, list] = {"log": [], "linear": []}
    t0 = time.perf_counter()
    for seed in range(args.functions):
        for arm in curves:
            curves[arm].append(run(arm == "log", seed, args.budget, args.batch))
        print(f"function {seed}: best share after {args.budget}: log {curves['log'][-1][-1]:.3f}, "
              f"linear {curves['linear'][-1][-1]:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    C = {k: np.asarray(v) for k, v in curves.items()}
    lines = ["# Design spaces: a concentration over three decades, `log: true` against a linear scale", "",
             "Made by `benchmarks/space_log_scale.py` (protocol in its docstring): "
             f"{args.functions} generated reactions, batches of {args.batch}, {args.budget} experiments, "
             "paired (same function, same seed). Best true yield found as a share of the maximum "
             "(mean ± standard error of the paired difference).", "",
             "| experiments | log: true | linear | log - linear | reached 95 %: log / linear |", "|---|---|---|---|---|"]
    for n in sorted({n for n in (10, 20, args.budget) if n <= args.budget}):
        a, b = C["log"][:, n - 1], C["linear"][:, n - 1]
        d = a - b
        lines.append(f"| {n} | {a.mean():.3f} | {b.mean():.3f} | {d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(len(d)):.3f} "
                     f"| {int((a >= 0.95).sum())} / {int((b >= 0.95).sum())} of {len(d)} |")
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "space_log_scale.md").write_text(text)
    (RESULTS / "space_log_scale.json").write_text(json.dumps({"args": vars(args), "curves": {
        k: np.round(v, 5).tolist() for k, v in C.items()}}, indent=1))


if __name__ == "__main__":
    main()
