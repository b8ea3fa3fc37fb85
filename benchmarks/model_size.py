"""Size, save and load time of the model file ``matloop fit`` writes, old and new encodings (issue 15).

The model is ``matloop fit`` 's default (``--model auto`` inside a :class:`MaterialModel`) on all of
Matbench ``expt_gap`` (4,604 band gaps); ``--candidates forests`` restricts AutoModel to its four
forests (rf, et, et_top30, et_top60), the ensemble behind the 48 MB file of issue 15. The same fitted
model is saved four ways:

* ``full v2``: ``compact=False, pack_trees=False``: what matloop wrote first (every AutoModel
  candidate refitted on all rows, float64 split thresholds, skops arrays per tree);
* ``full packed``: ``compact=False``: every candidate kept, trees in :mod:`matloop.models.tree_codec`;
* ``compact v2``: ``pack_trees=False``: unselected candidates dropped (:mod:`matloop.models.shrink`);
* ``default``: what ``save_model`` and ``matloop fit`` write now (compacted and packed, format 3).

Every file is loaded back; the largest absolute difference of every numeric ``predict_table`` column
(prediction, std, interval bounds) and of ``predict(X, return_std=True)`` over 1,000 formulas against
the model in memory is reported (the promise: below 1e-9; by construction 0).

    .venv/bin/python benchmarks/model_size.py                        # default AutoModel (5-10 min on 2 cores)
    .venv/bin/python benchmarks/model_size.py --candidates forests   # the four-forest ensemble
    .venv/bin/python benchmarks/model_size.py --model FILE.model     # re-save an existing model file

Each run adds its entry to ``benchmarks/results/model_size.json`` and rewrites ``model_size.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
VARIANTS = {"full v2": {"compact": False, "pack_trees": False}, "full packed": {"compact": False},
            "compact v2": {"pack_trees": False}, "default": {}}


def _max_diff(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)))) if len(a) else 0.0


def measure(model, X, tmp: Path) -> dict:
    """Save ``model`` every way, load each file back and compare its predictions with ``model``'s."""
    from matloop.models import load_model, read_model_metadata, save_model

    before = model.predict_table(X)
    numbers = before.select_dtypes("number").columns
    mean, std = model.predict(X, return_std=True)
    rows = {}
    for label, options in VARIANTS.items():
        path = tmp / f"{label.replace(' ', '_')}.model"
        t = time.perf_counter()
        save_model(model, path, **options)
        save_s = time.perf_counter() - t
        t = time.perf_counter()
        loaded = load_model(path)
        load_s = time.perf_counter() - t
        after = loaded.predict_table(X)
        mean2, std2 = loaded.predict(X, return_std=True)
        rows[label] = {"bytes": path.stat().st_size, "format_version": read_model_metadata(path)["format_version"],
                       "save_s": round(save_s, 2), "load_s": round(load_s, 2),
                       "max_abs_difference": max(_max_diff(after[numbers].to_numpy(float), before[numbers].to_numpy(float)),
                                                 _max_diff(mean2, mean), _max_diff(std2, std)),
                       "in_domain_identical": bool((after["in_domain"] == before["in_domain"]).all()),
                       "columns_compared": list(map(str, numbers))}
        del loaded
    return rows


def compressors(model) -> dict:
    """Compressed bytes and seconds of every packed forest's raw column stream with xz and zlib."""
    import lzma
    import zlib

    from matloop.models.model_checks import walk_objects
    from matloop.models.shrink import compact_model
    from matloop.models.tree_codec import PackedTrees, pack_model

    streams = [lzma.decompress(p.blob_.tobytes()) for p in walk_objects(pack_model(compact_model(model)))
               if isinstance(p, PackedTrees)]
    out = {"raw_bytes": sum(map(len, streams)), "forests": len(streams)}
    for name, fn in {"xz preset 0 (used)": lambda b: lzma.compress(b, preset=0),
                     "xz preset 6": lambda b: lzma.compress(b, preset=6),
                     "xz preset 9": lambda b: lzma.compress(b, preset=9),
                     "zlib level 6": lambda b: zlib.compress(b, 6), "zlib level 9": lambda b: zlib.compress(b, 9)}.items():
        t = time.perf_counter()
        size = sum(len(fn(b)) for b in streams)
        out[name] = {"bytes": size, "seconds": round(time.perf_counter() - t, 2)}
    return out


def main() -> None:
    from matloop.datasets import load
    from matloop.models import load_model
    from matloop.models.automodel import AutoModel, default_candidates
    from matloop.models.pipeline import MaterialModel

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="an existing model file to re-save (default: fit the model)")
    parser.add_argument("--candidates", choices=("default", "forests"), default="default")
    parser.add_argument("--keep", help="keep the saved files in this folder")
    parser.add_argument("--compressors", action="store_true",
                        help="with --model: only compare xz and zlib on the model's packed tree streams")
    parser.add_argument("--rows", type=int, help="fit on the first ROWS rows only (a quick check; not recorded)")
    args = parser.parse_args()
    ds = load("matbench_expt_gap")
    t0 = time.perf_counter()
    if args.model and args.compressors:
        result = {"model": args.model, "load_average": round(os.getloadavg()[0], 1), **compressors(load_model(args.model))}
        path = RESULTS / "model_size.json"
        results = json.loads(path.read_text()) if path.exists() else {"runs": {}}
        results["compressors"] = result
        path.write_text(json.dumps(results, indent=1) + "\n")
        (RESULTS / "model_size.md").write_text(render(results))
        print(render(results))
        return
    if args.model:
        model, source, key = load_model(args.model), f"re-saved from {args.model}", f"file {Path(args.model).name}"
    else:
        candidates = None
        if args.candidates == "forests":
            candidates = {k: v for k, v in default_candidates(0).items() if k in ("rf", "et", "et_top30", "et_top60")}
        # the forests alone: a long budget, so that a busy machine does not skip one of the four
        budget = {"time_budget": 3600.0} if candidates else {}
        model = MaterialModel(AutoModel(candidates=candidates, random_state=0, **budget), kind="composition")
        X, y = (ds.X, ds.y.to_numpy()) if not args.rows else (ds.X.iloc[:args.rows], ds.y.to_numpy()[:args.rows])
        model.fit(X, y)
        source, key = f"fitted here in {time.perf_counter() - t0:.0f} s", args.candidates
    auto = model.estimator_
    X = ds.X.iloc[::4].iloc[:1000]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        rows = measure(model, X, folder)
    entry = {"dataset": "matbench_expt_gap", "rows": len(ds), "candidates": key, "model": source,
             "selected": {k: float(v) for k, v in getattr(auto, "weights_", {}).items()},
             "refitted": sorted(getattr(auto, "estimators_", {})), "files": rows,
             "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared), load average "
                        f"{os.getloadavg()[0]:.1f}"}
    if args.rows:
        print(json.dumps(entry, indent=1))
        return
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "model_size.json"
    try:
        results = json.loads(path.read_text())
        results = results if isinstance(results, dict) and "runs" in results else {"runs": {}}
    except (OSError, ValueError):
        results = {"runs": {}}
    results["runs"][key] = entry
    path.write_text(json.dumps(results, indent=1) + "\n")
    (RESULTS / "model_size.md").write_text(render(results))
    print(render(results))


def render(results: dict) -> str:
    lines = ["# Model file size (matloop fit, Matbench expt_gap, 4,604 rows)", "",
             "`benchmarks/model_size.py` (default AutoModel) and `--candidates forests` (AutoModel of the four "
             "forests, the candidates of the 48 MB ensemble of issue 15). `full v2`: every candidate, skops arrays "
             "per tree (what matloop wrote first); `full packed`: every candidate, trees packed; `compact v2`: "
             "unselected candidates dropped, float32-floored thresholds (what matloop wrote before packing); "
             "`default`: compacted and trees packed by `matloop.models.tree_codec` (format 3, what `matloop fit` "
             "writes now). Max diff: largest absolute difference of any numeric `predict_table` column "
             "(prediction, std, bounds) and of `predict(X, return_std=True)` over 1,000 formulas, loaded file vs the model in memory.", ""]
    for key, run in results["runs"].items():
        ensemble = ", ".join(f"{k} {v:.2f}" for k, v in run["selected"].items())
        lines += [f"## {key}", "", f"Model {run['model']} ({run['machine']}). Ensemble: {ensemble}; candidates "
                  f"refitted on all rows: {', '.join(run['refitted'])}.", "",
                  "| file | MB | format | save s | load s | max diff | in_domain same |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for label, r in run["files"].items():
            lines.append(f"| {label} | {r['bytes'] / 1e6:.1f} | {r['format_version']} | {r['save_s']:.1f} | "
                         f"{r['load_s']:.1f} | {r['max_abs_difference']:.3g} | {r['in_domain_identical']} |")
        lines.append("")
    comp = results.get("compressors")
    if comp:
        lines += ["## Compressor of the packed streams", "",
                  f"`--model {comp['model']} --compressors`: the {comp['forests']} forests' column streams "
                  f"({comp['raw_bytes'] / 1e6:.1f} MB raw), compressed each way on this machine (load average "
                  f"{comp['load_average']}).", "", "| compressor | MB | s |", "|---|---:|---:|"]
        lines += [f"| {k} | {v['bytes'] / 1e6:.2f} | {v['seconds']:.1f} |" for k, v in comp.items() if isinstance(v, dict)]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
