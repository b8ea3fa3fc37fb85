"""``matloop report TABLE --target COL -o report.html``: audit, validate and explain, in one HTML page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from matloop.cli.common import add_table_arguments
from matloop.cli.options import int_at_least, positive_float, seed

DESCRIPTION = """\
Write a report a reviewer can read before trusting a model trained on TABLE: one self-contained
HTML file (figures embedded, opens offline), each figure with a one-line takeaway computed from the
data. Sections, in reading order:

  summary          headline score and every warning
  data overview    target distribution, elements on a periodic table, repeated or conflicting
                   measurements, class balance, missing values
  coverage & bias  PCA/UMAP maps by target and by cluster, cluster sizes, point density and the
                   error in sparse vs dense regions
  validation       random vs leave-one-cluster-out vs extrapolation CV side by side (a warning when
                   a harder split's MAE exceeds 1.5x the random one) and a 1-nearest-neighbour
                   memorisation baseline
  diagnostics      parity with error bars, calibration, residuals vs sigma, learning curve,
                   applicability domain
  interpretation   permutation importance on CV folds, SHAP (tree models), partial dependence and
                   ICE curves, warnings about correlated features
  provenance       featurizer, model, settings, versions, what was subsampled

Everything runs within --time-budget seconds: larger tables are subsampled, and parts that no longer
fit (learning curve, interpretation, UMAP, the harder CVs) are left out; the report says what. The
default model is the one 'matloop fit' saves (auto), and the report names the model it describes.

examples:
  matloop report steels.csv --target "yield strength" -o steels.html
  matloop report expt_gap.csv --input composition --target "gap expt" --model gbm --cv group -o gaps.html
  matloop report expt_gap.csv --target "gap expt" --model gap.model -o gaps.html
  matloop report expt_gap.csv --target "gap expt" --format png -o figures/

Exit status: 0 on success, 1 on failure, 2 on bad input (the problems are listed on stderr).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand."""
    parser = subparsers.add_parser(
        "report", help="audit data and model: one self-contained HTML report (or PNG figures)",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_table_arguments(parser)
    group = parser.add_argument_group("model and validation")
    group.add_argument(
        "--model", metavar="MODEL", default=None,
        help="a model name (rf, et, gbm, gbm-quantile, gp, nn, auto) or a model file saved by 'matloop fit' "
             "(its settings and featurizer are reused; it is refitted in every fold). Default: auto, the "
             "pipeline 'matloop fit' builds, with a time budget per fit that fits --time-budget",
    )
    group.add_argument(
        "--featurizer", metavar="NAME", default=None,
        help="featurizer name (see 'matloop featurize --help'); default: the input kind's default",
    )
    group.add_argument(
        "--cv", metavar="SCHEME", default="kfold",
        help="the reference (random) split compared with leave-one-cluster-out and extrapolation: kfold, "
             "group, element, column:NAME, ... (default: kfold)",
    )
    group.add_argument("--folds", metavar="K", type=int_at_least(2), default=5, help="folds and LOCO clusters (default: 5)")
    group.add_argument("--seed", metavar="S", type=seed, default=0, help="random seed (default: 0)")
    group.add_argument(
        "--time-budget", metavar="SECONDS", type=positive_float, default=60.0,
        help="run time: the cross-validations of larger tables use a random subsample to meet it, and optional "
             "parts (learning curve, interpretation, UMAP) are left out when time runs out (the report says what; "
             "default: 60)",
    )
    group.add_argument("--no-umap", action="store_true", help="skip the UMAP map (PCA only; faster)")
    group.add_argument("--no-interpret", action="store_true", help="skip permutation importance, SHAP and PD/ICE")
    out = parser.add_argument_group("output")
    out.add_argument("-o", "--output", metavar="PATH", required=True,
                     help="the HTML file to write, or with --format png the folder for the figures")
    out.add_argument("--format", choices=("html", "png"), default="html",
                     help="html: one self-contained page (default); png: the figures alone, plus takeaways.txt")
    out.add_argument("--title", metavar="TEXT", help="report title (default: table name and target)")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress messages on stderr")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the table, build the report, write it; print where it went."""
    import time

    started = time.perf_counter()  # --time-budget counts reading the table too
    from matloop.cli.common import load_table
    from matloop.errors import InputError
    from matloop.progress import say
    from matloop.report.build import build_report

    if args.folds < 2:
        raise InputError(f"--folds must be at least 2, got {args.folds}")
    if args.time_budget <= 0:
        raise InputError(f"--time-budget must be positive, got {args.time_budget}")
    output = Path(args.output)
    if args.format == "html" and output.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"cannot write {output.name}: an HTML report must end in .html (or use --format png "
                         "with a folder)")
    if args.format == "png" and output.exists() and not output.is_dir():
        raise InputError(f"{output} is a file; --format png writes figures into a folder")
    dataset = load_table(args)
    if len(dataset.targets) > 1:
        print(f"note: reporting on the first target '{dataset.target}' only", file=sys.stderr)

    report = build_report(
        dataset, model=args.model, cv=args.cv, featurizer=args.featurizer, n_splits=args.folds, seed=args.seed,
        time_budget=args.time_budget, umap=False if args.no_umap else "auto", interpret=not args.no_interpret,
        title=args.title, progress=say, started=started,  # matloop.cli.main shows these lines on stderr unless --quiet
    )
    if args.format == "png":
        paths = report.write_figures(output)
        print(f"wrote {len(paths)} figures and takeaways.txt to {output}")
    else:
        path = report.write(output)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {len(report.figures)} figures)")
    return 0
