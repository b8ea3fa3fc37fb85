"""Size of the model file ``matloop fit`` writes by default, before and after compaction (issue 15).

The model is ``matloop fit`` 's default (``--model auto`` inside a :class:`MaterialModel`) on all of
Matbench ``expt_gap`` (4,604 band gaps). The same fitted model is saved twice: with
``save_model(..., compact=False)`` (what matloop wrote before: every AutoModel candidate refitted
on all rows, float64 split thresholds) and with the default ``compact=True``
(:func:`matloop.models.shrink.compact_model`). The compacted file is loaded back and its
``predict_table`` compared with the in-memory model's on 1,000 formulas: the largest absolute
difference of every numeric column is reported (the promise: below 1e-9; by construction 0).

    .venv/bin/python benchmarks/model_size.py                     # fit (about 3-10 min on 2 cores)
    .venv/bin/python benchmarks/model_size.py --model FILE.model  # re-save an existing model file

Writes ``benchmarks/results/model_size.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"


def _inner_members(path: Path) -> dict[str, int]:
    """How many zip members (arrays, schema) the skops payload holds."""
    with zipfile.ZipFile(path) as outer, zipfile.ZipFile(io.BytesIO(outer.read("model.skops"))) as inner:
        return {"members": len(inner.infolist())}


def main() -> None:
    from matloop.datasets import load
    from matloop.models import load_model, save_model
    from matloop.models.pipeline import MaterialModel
    from matloop.models.registry import make_model

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="an existing model file to re-save (default: fit the default model)")
    args = parser.parse_args()
    ds = load("matbench_expt_gap")
    t0 = time.perf_counter()
    if args.model:
        model, source = load_model(args.model), f"re-saved from {args.model}"
        given = Path(args.model).stat().st_size
    else:
        model = MaterialModel(make_model("auto", "regression"), kind="composition").fit(ds.X, ds.y.to_numpy())
        source, given = f"fitted here in {time.perf_counter() - t0:.0f} s", None
    auto = getattr(model, "estimator_", None)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, compact in (("full", False), ("compact", True)):
            path = Path(tmp) / f"{label}.model"
            t = time.perf_counter()
            save_model(model, path, compact=compact)
            rows[label] = {"bytes": path.stat().st_size, "save_s": time.perf_counter() - t, **_inner_members(path)}
            t = time.perf_counter()
            loaded = load_model(path)
            rows[label]["load_s"] = time.perf_counter() - t
        X = ds.X.iloc[::4].iloc[:1000]
        before, after = model.predict_table(X), loaded.predict_table(X)
        numbers = before.select_dtypes("number").columns
        diff = float(np.max(np.abs(after[numbers].to_numpy(float) - before[numbers].to_numpy(float))))
        same_flags = bool((after["in_domain"] == before["in_domain"]).all())
    result = {"dataset": "matbench_expt_gap", "rows": len(ds), "model": source, "given_file_bytes": given,
              "selected": dict(getattr(auto, "weights_", {})), "refitted": sorted(getattr(auto, "estimators_", {})),
              "saved_full": rows["full"], "saved_compact": rows["compact"],
              "max_abs_prediction_difference": diff, "in_domain_identical": same_flags}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "model_size.json").write_text(json.dumps(result, indent=1))
    mb = 1e6
    lines = ["# Model file size (matloop fit, default model, Matbench expt_gap)", "",
             f"{len(ds):,} rows; model {source}. Ensemble: "
             + ", ".join(f"{k} {v:.2f}" for k, v in result["selected"].items())
             + f"; candidates refitted on all rows: {', '.join(result['refitted'])}.", "",
             "| file | MB | zip members in payload | save s | load s |", "|---|---:|---:|---:|---:|"]
    if given:
        lines.append(f"| given file | {given / mb:.1f} | | | |")
    for label in ("full", "compact"):
        r = rows[label]
        lines.append(f"| {label} | {r['bytes'] / mb:.1f} | {r['members']:,} | {r['save_s']:.1f} | {r['load_s']:.1f} |")
    lines += ["", f"Largest absolute difference of any predict_table column over 1,000 formulas, compact file "
              f"vs the model in memory: {diff:.3g} (in_domain identical: {same_flags})."]
    (RESULTS / "model_size.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
