"""``matloop fit`` / ``predict`` / ``validate``: models with calibrated uncertainty, honestly validated."""

from __future__ import annotations

import argparse

from matloop.cli.common import STRUCTURES_ROOT_HELP, add_quiet_argument, add_table_arguments
from matloop.cli.options import PROCESS_TABLE_INPUTS, featurizer_name, int_at_least, output_file, seed

#: the regression names of matloop.models.registry (kept literal: importing the models costs seconds)
MODELS = ("auto", "rf", "et", "rf-median", "et-median", "gp", "gbm", "gbm-quantile", "nn", "gnn", "chgnet-head", "cnn")
CV_HELP = ("kfold (stratified for classification), loco (leave-one-cluster-out, Meredig et al. 2018), "
           "group (by chemical system), element (leave-one-element-out), extrapolation (train on the "
           "lower 90%% of the target, test on the top 10%%), or column:NAME (folds from a column, e.g. "
           "column:fold for Matbench's official folds)")


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model")
    g.add_argument("--model", default="auto", choices=MODELS,
                   help="auto (default: cross-validated choice and ensemble of forests, boosting and a GP, "
                        "each also on a log scale for a skewed positive target, and extra trees on the 30 or 60 "
                        "most important features), rf, et, rf-median, et-median "
                        "(forests predicting the trees' median), gp, gbm, gbm-quantile, nn, gnn (crystal graph "
                        "network on a structure column, needs PyTorch), chgnet-head (an MLP-head ensemble on "
                        "the pre-trained CHGNet's features of a structure column, early stopping, needs CHGNet); "
                        "classification "
                        "supports auto, rf, gbm, and on diffraction patterns cnn (1-D CNN ensemble, needs PyTorch; "
                        "auto there chooses among it, a peak-feature forest, a shift-tolerant search-match model and their "
                        "blend by nested CV)")
    g.add_argument("--featurizer", metavar="NAME", type=featurizer_name,
                   help="featurizer registry name (default: the default for the input kind)")
    g.add_argument("--transfer", default="none", metavar="auto|none|SOURCE,...",
                   help="borrow strength from the pre-trained library (compositions): auto adds every "
                        "source's value (computed where the composition is in the source's database, "
                        "predicted elsewhere) to the default features and lets the model weigh them "
                        "(classification: the 3 best sources by inner CV); or name sources (see "
                        "'matloop models list'); finetune[:SOURCE] fine-tunes a source network; "
                        "default none")
    g.add_argument("--extra-inputs", metavar="COL[,COL...]", action="append",
                   help="columns the model uses beside the material's features (processing conditions, "
                        "a measured descriptor, a space-group number, a solvent); numbers are used as given, text "
                        "labels one-hot, SMILES choices a chemical encoding (reported on stderr); repeat or separate "
                        "with commas. 'predict' then needs them too (a label not seen in fit is an error)."
                        + PROCESS_TABLE_INPUTS)
    g.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    g.add_argument("--gnn-candidate", choices=("auto", "yes", "no"), default="auto",
                   help="structure tables with --model auto: the crystal graph network as one more candidate "
                        "beside composition-only, descriptor and CHGNet features (auto: with PyTorch and 50 to 5,000 "
                        "rows; it gets half the time budget; yes/no force it in or out)")
    g.add_argument("--time-budget", type=_seconds, metavar="SECONDS",
                   help="seconds the auto model may spend choosing and fitting its models (fit: default "
                        f"{FIT_BUDGET:g} for the whole fit; validate: default {VALIDATE_BUDGET:g} shared by the "
                        "folds). Candidates that would not fit are skipped, cheapest first, and a wide table "
                        "keeps its most important features; featurization comes on top")
    g.add_argument("--bounds", type=_bounds, default="auto", metavar="LO:HI",
                   help="known bounds of a regression target, either side optional (0: for a band gap or a "
                        "modulus, 0:1 for a fraction): predictions and intervals stay inside them. Default auto: "
                        "0: when every training value is non-negative; none: no bounds")


FIT_BUDGET, VALIDATE_BUDGET = 600.0, 480.0  # seconds: validate (5 folds) then ends in ~10 min on 2 cores


def _seconds(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _bounds(text: str):
    from matloop.models.predictive import parse_bounds

    try:
        return parse_bounds(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fit``, ``predict`` and ``validate``."""
    fit = subparsers.add_parser(
        "fit", help="fit a model with calibrated uncertainty and save it",
        description="Featurize the table, fit a model with uncertainty (recalibrated on cross-validated "
                    "residuals) and an applicability domain, and save it in a format that is safe to load.",
        epilog="example: matloop fit expt_gap.csv --target 'gap expt' -o gap.model")
    add_table_arguments(fit, target_required=True)
    from matloop.cli.pattern_input import add_patterns_argument

    add_patterns_argument(fit)
    from matloop.cli.pattern_input import add_simulate_argument

    add_simulate_argument(fit)
    _model_arguments(fit)
    fit.add_argument("-o", "--output", required=True, metavar="MODEL", help="model file to write")
    add_quiet_argument(fit)
    fit.set_defaults(func=run_fit)

    pred = subparsers.add_parser(
        "predict", help="predict a table with a saved model",
        description="Add prediction, std, lower_95, upper_95 and in_domain (classification: probability, "
                    "prediction, in_domain) to every row of TABLE.",
        epilog="example: matloop predict gap.model candidates.csv -o predicted.csv")
    pred.add_argument("model", metavar="MODEL", help="a model file written by 'matloop fit'")
    pred.add_argument("table", metavar="TABLE", help="table with the model's input column")
    pred.add_argument("--input", metavar="COL", help="input column (default: the one the model was fitted on)")
    pred.add_argument("--skip-invalid", action="store_true",
                      help="leave out rows with problems instead of stopping; they are written with their reasons "
                           "to TABLE_STEM.skipped.csv beside the output")
    pred.add_argument("--structures-root", metavar="DIR", help=STRUCTURES_ROOT_HELP)
    pred.add_argument("-o", "--output", required=True, metavar="OUT.csv")
    add_quiet_argument(pred)
    pred.set_defaults(func=run_predict)

    val = subparsers.add_parser(
        "validate", help="cross-validate a model the way a sceptical reviewer would",
        description="Cross-validate the same pipeline 'matloop fit' builds, with the split you choose, and "
                    "report accuracy and uncertainty metrics per fold and on average.",
        epilog="example: matloop validate steels.csv --target 'yield strength' --cv loco --json v.json")
    add_table_arguments(val, target_required=True)
    add_patterns_argument(val)
    _model_arguments(val)
    val.add_argument("--cv", default="kfold", metavar="SPLIT", help=CV_HELP)
    val.add_argument("--folds", type=int_at_least(2), default=5, help="number of folds or clusters (default 5)")
    val.add_argument("--json", metavar="OUT.json", type=output_file, help="per-fold and mean metrics, uncertainty metrics, timings")
    val.add_argument("--predictions", metavar="OUT.csv", type=output_file, help="out-of-fold predictions for every row")
    add_quiet_argument(val)
    val.set_defaults(func=run_validate)


def build_model(dataset, args):
    """The :class:`~matloop.models.pipeline.MaterialModel` the options describe."""
    from matloop.models.pipeline import MaterialModel
    from matloop.models.registry import make_model

    params, fparams = {}, None
    if args.model == "gnn":
        from matloop.models.gnn.cli import build_gnn

        return build_gnn(dataset, args)
    if args.model == "chgnet-head":  # a new head on frozen CHGNet features (models.potentials.head)
        from matloop.models.potentials.head import check_head_input

        featurizer = check_head_input(dataset, args.featurizer)
        return MaterialModel(make_model("chgnet-head", dataset.task, random_state=args.seed), kind=dataset.kind,
                             featurizer=featurizer, task=dataset.task, extra_inputs=dataset.extra_inputs or None,
                             bounds=getattr(args, "bounds", "auto"))
    if args.model == "auto" and dataset.task == "regression":
        budget = getattr(args, "time_budget", None) or FIT_BUDGET
        params = {"time_budget": budget, "n_jobs": -1}  # threads: the tree ensembles release the GIL
    if dataset.kind == "pattern":  # diffraction patterns: CNN, forest, search-match or blend (models.pattern_auto)
        from matloop.models.pattern_auto import build_pattern_model

        return build_pattern_model(dataset, args)
    estimator = make_model(args.model, dataset.task, random_state=args.seed, **params)
    featurizer = args.featurizer
    if params and dataset.kind == "structure" and featurizer is None:
        # a structure table: composition-only, structure descriptors and CHGNet features, chosen by CV
        from matloop.models.structure_auto import FeatureSetAutoModel

        estimator, featurizer = FeatureSetAutoModel(random_state=args.seed, **params), "structure_auto"
        fparams = _gnn_candidate(args)  # the crystal graph network as one more candidate (models.structure_gnn)
    if args.transfer and args.transfer != "none":
        from matloop.errors import InputError

        if dataset.kind != "composition":
            raise InputError("--transfer uses the pre-trained composition library: it needs a formula column")
        if dataset.extra_inputs:
            raise InputError("--transfer does not take --extra-inputs yet; fit without one of them")
        from matloop.models.transfer import make_transfer_model

        return make_transfer_model(args.transfer, args.model, dataset.task, random_state=args.seed)
    return MaterialModel(estimator, kind=dataset.kind, featurizer=featurizer, task=dataset.task,
                         extra_inputs=dataset.extra_inputs or None, bounds=getattr(args, "bounds", "auto"),
                         featurizer_params=fparams)


def _gnn_candidate(args) -> dict:
    """Featurizer settings of the network candidate: ``--gnn-candidate`` and half the fit's (validate: one
    fold's) time budget."""
    folds = max(1, int(getattr(args, "folds", 1) or 1)) if hasattr(args, "cv") else 1
    budget = getattr(args, "time_budget", None) or (VALIDATE_BUDGET if folds > 1 else FIT_BUDGET)
    return {"gnn": getattr(args, "gnn_candidate", "auto"), "gnn_budget": budget / 2 / folds, "random_state": args.seed}


def run_fit(args: argparse.Namespace) -> int:
    import time

    from matloop.cli.common import load_table
    from matloop.models.persistence import save_model

    dataset = load_table(args).training()
    if len(dataset.targets) > 1:
        print(f"note: fitting the first target {dataset.target!r} (one model per target)")
    from matloop.models.registry import check_trainable

    check_trainable(dataset.y.to_numpy(), dataset.task, args.model, "fit")  # clear exit 2 on hopeless data
    t0 = time.perf_counter()
    from matloop.progress import say

    say(f"featurizing {len(dataset):,} rows and fitting {args.model}")
    if getattr(args, "simulate_from", None):  # simulated patterns from the user's structures join the training data
        import shutil

        from matloop.cli.pattern_input import simulated_training

        X, y, folder = simulated_training(dataset, args)
        try:
            model = build_model(dataset, args).fit(X, y)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    else:
        model = build_model(dataset, args).fit(dataset.inputs, dataset.y.to_numpy())
    meta = {"input": dataset.input, "kind": dataset.kind, "target": dataset.target, "task": dataset.task,
            "parameter_columns": dataset.parameter_columns if dataset.kind == "parameters" else None,
            "extra_inputs": dataset.extra_inputs,
            "n_train": len(dataset), "model": args.model, "transfer": args.transfer,
            "bounds": list(getattr(model, "bounds_", (None, None)))}
    save_model(model, args.output, metadata=meta)
    from matloop.models.compact import supports_screening_model, write_for_screening

    if supports_screening_model(model):
        say(f"saved {args.output}; distilling the compact screening model {args.output}.screen")
    note = write_for_screening(model, dataset.inputs, args.output, random_state=args.seed)  # MODEL.screen
    print(f"fitted {_described(args)} on {len(dataset)} rows of {dataset.kind} input {dataset.input or ''} "
          f"-> {dataset.target} ({dataset.task}) in {time.perf_counter() - t0:.1f} s; saved {args.output}")
    if note:
        print(note)
    from matloop.models.summary import describe_fitted

    summary = describe_fitted(model, dataset.y.to_numpy() if dataset.task == "regression" else None,
                              (dataset.units or {}).get(dataset.target, "") or "")
    if summary is None and callable(getattr(model, "describe", None)):  # --model gnn: its ensemble and error
        summary = model.describe(dataset.y.to_numpy(), (dataset.units or {}).get(dataset.target, "") or "")
    if summary:
        print(summary)
    return 0


def _target_features(model, n_rows: int) -> bool:
    """True when the model's features depend on the target (the network candidate will be trained): then
    every fold of ``validate`` featurizes its own training rows."""
    option = (model.featurizer_params or {}).get("gnn", "no")
    if option == "no":
        return False
    from matloop.models.structure_gnn import gnn_decision

    return gnn_decision(option, n_rows)[0]


def run_predict(args: argparse.Namespace) -> int:
    from matloop.cli.common import load_table
    from matloop.errors import InputError
    from matloop.io.write import write_table
    from matloop.models.persistence import load_model, read_model_metadata

    meta = read_model_metadata(args.model).get("metadata", {}) or {}
    model = load_model(args.model)
    if not callable(getattr(model, "predict_table", None)):
        raise InputError(f"{args.model} holds a bare {type(model).__name__}, not a model written by 'matloop fit' "
                         "(which knows its input column and featurizer); use it from Python instead")
    kind = meta.get("kind")
    extra = list(meta.get("extra_inputs") or [])
    if kind == "parameters":  # the model's parameters are the inputs; the table's other columns are not read
        from matloop.io.files import read_columns

        header = set(read_columns(args.table))
        extra = [c for c in meta["parameter_columns"] if c in header]
    table_args = argparse.Namespace(table=args.table, input=args.input or meta.get("input"), target=None, kind=kind,
                                    skip_invalid=args.skip_invalid, duplicates="keep", output=args.output,
                                    extra_inputs=extra, structures_root=args.structures_root)
    dataset = load_table(table_args)
    if kind == "parameters":
        missing = [c for c in meta["parameter_columns"] if c not in dataset.frame.columns]
        if missing:
            raise InputError(f"{args.table} lacks the model's parameter column(s) {', '.join(map(repr, missing))}")
    X = dataset.frame[meta["parameter_columns"]] if kind == "parameters" else dataset.inputs
    out = model.predict_table(X)
    result = dataset.frame.reset_index(drop=True).copy()
    for col in out.columns:
        result[col] = out[col].to_numpy()
    write_table(result, args.output, round_columns=list(out.columns))  # the model's columns to 6 digits
    n_out = int((~out["in_domain"]).sum())
    print(f"predicted {len(result)} rows ({n_out} outside the model's applicability domain); wrote {args.output}")
    return 0


def run_validate(args: argparse.Namespace) -> int:
    import json
    import time

    import numpy as np
    import pandas as pd
    from sklearn.base import clone

    from matloop.cli.common import load_table
    from matloop.evaluate.cross_validation import cross_validate
    from matloop.evaluate.splitters import make_splitter
    from matloop.io.write import write_table
    from matloop.models.pipeline import MaterialModel

    dataset = load_table(args).training()
    _check_validatable(dataset, args)
    t0 = time.perf_counter()
    model = build_model(dataset, args)
    if isinstance(model, MaterialModel) and not _target_features(model, len(dataset)):
        # featurize once (our featurizers are stateless); each fold fits the same estimator pipeline
        from matloop.progress import say

        say(f"featurizing {len(dataset):,} rows")
        X = model.features(dataset.inputs, fit=True)
        factory = lambda: MaterialModel(clone(model.estimator), kind="parameters", task=dataset.task,  # noqa: E731
                                        domain=False, bounds=model.bounds)
    else:
        X, factory = dataset.inputs, (lambda: clone(model))  # noqa: E731
    splitter = make_splitter(args.cv, n_splits=args.folds, seed=args.seed, dataset=dataset)
    if isinstance(model, MaterialModel) and "time_budget" in model.estimator.get_params():
        # the budget is the whole validation's: each fold's fit gets its share
        n_folds = splitter.get_n_splits(X, None, None) if hasattr(splitter, "get_n_splits") else args.folds
        budget = args.time_budget or VALIDATE_BUDGET
        model.estimator.set_params(time_budget=budget / max(1, int(n_folds or args.folds)))
    y = dataset.y.to_numpy()
    from matloop.represent.parameter_encoder import unknown_labels

    with unknown_labels("zero"):  # a label only a test fold holds is encoded as zeros (warned), not refused
        result = cross_validate(factory, X, y, splitter, task=dataset.task)
    seconds = time.perf_counter() - t0
    report = result.to_dict()
    report.update({"table": args.table, "target": dataset.target, "model": args.model, "cv": args.cv,
                   "transfer": args.transfer, "n_rows": len(dataset), "seconds": seconds,
                   "encoding": input_encoding(model, dataset)})  # how every input column became numbers
    keys = ["mae", "rmse", "r2", "spearman", "miscalibration_area", "coverage_95"] if dataset.task == "regression" \
        else ["roc_auc", "balanced_accuracy", "f1", "pr_auc"]
    budget = ""
    if isinstance(model, MaterialModel) and "time_budget" in model.estimator.get_params():
        budget = f", time budget {args.time_budget or VALIDATE_BUDGET:g} s"
    print(f"{args.cv} cross-validation of {_described(args)} on {len(dataset)} rows ({len(result.folds)} folds, "
          f"{seconds:.1f} s{budget}):")
    for k in keys:
        if k in result.mean:
            print(f"  {k:<22} {result.mean[k]:.4g} ± {result.std.get(k, float('nan')):.2g}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)
        print(f"wrote {args.json}")
    if args.predictions:
        preds = result.predictions.copy()
        preds.insert(0, "row", np.asarray(dataset.rows)[preds["index"].to_numpy()])
        if dataset.input:
            preds.insert(1, dataset.input, dataset.frame[dataset.input].to_numpy()[preds["index"].to_numpy()])
        if dataset.task == "regression" and "lower" in preds and preds["lower"].notna().all():
            preds["lower_95"], preds["upper_95"] = preds.pop("lower"), preds.pop("upper")  # the model's own
        elif dataset.task == "regression" and preds["std"].notna().all():
            preds["lower_95"] = preds["prediction"] - 1.959964 * preds["std"]
            preds["upper_95"] = preds["prediction"] + 1.959964 * preds["std"]
        computed = [c for c in preds.columns if c not in ("index", "row", "fold", "y_true", dataset.input)]
        write_table(pd.DataFrame(preds.drop(columns=["index"])), args.predictions, round_columns=computed)
        print(f"wrote {args.predictions}")
    return 0


def input_encoding(model, dataset) -> dict:
    """How the inputs became features (``validate --json``): the material column's featurizer, and per
    parameter or ``--extra-inputs`` column its detected kind (numeric, integer, label, smiles,
    composition ...), encoding (as given, one-hot, chemical, element loadings) and feature count."""
    from matloop.represent.parameter_encoder import ParameterEncoder

    def records(encoding: dict | None, columns: list[str]) -> list[dict]:
        if encoding is None:  # every column a plain number, used as given
            return [{"column": c, "kind": "numeric", "encoding": "as given", "n_features": 1} for c in columns]
        return ParameterEncoder.from_dict(encoding).records()

    out: dict = {"kind": dataset.kind}
    if dataset.kind == "parameters":
        out["columns"] = records(getattr(model, "parameter_encoding_", None), list(dataset.parameter_columns))
    else:
        from matloop.represent.registry import DEFAULT_FOR_KIND

        out["input"] = dataset.input
        out["featurizer"] = getattr(model, "featurizer", None) or DEFAULT_FOR_KIND.get(dataset.kind)
        if dataset.extra_inputs:
            out["extra_inputs"] = records(getattr(model, "extra_encoding_", None), list(dataset.extra_inputs))
    return out


def _check_validatable(dataset, args: argparse.Namespace) -> None:
    """Every training fold must be a table ``fit`` accepts (k-fold: ``n - ceil(n / k)`` rows)."""
    import math

    from matloop.errors import InputError
    from matloop.models.registry import MIN_TRAINING_ROWS, check_trainable

    y = dataset.y.to_numpy()
    check_trainable(y, dataset.task, args.model, "validate")
    if args.cv.strip().lower() in ("kfold", "stratified", "repeated"):
        n, k = len(y), int(args.folds)
        if n - math.ceil(n / k) < MIN_TRAINING_ROWS:
            need = next(m for m in range(n, 10 * MIN_TRAINING_ROWS + 10 * k) if m - math.ceil(m / k) >= MIN_TRAINING_ROWS)
            raise InputError(f"validate with {k} folds trains on {n - math.ceil(n / k)} of the {n} rows, fewer than "
                             f"the {MIN_TRAINING_ROWS} a model needs: give at least {need} labelled rows, or fewer "
                             "--folds")


def _described(args: argparse.Namespace) -> str:
    """The model as the user chose it, with the transfer option when one is used."""
    transfer = str(getattr(args, "transfer", "none") or "none")
    return args.model if transfer.lower() == "none" else f"{args.model} with --transfer {transfer}"
