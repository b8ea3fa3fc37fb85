"""``matloop suggest``: the next experiments from one table, without a ledger."""

from __future__ import annotations

import argparse

from matloop.cli.common import add_quiet_argument, add_table_arguments, wrote_batch
from matloop.cli.goal import add_goal_arguments, add_surrogate_argument
from matloop.cli.options import (
    PROCESS_TABLE_INPUTS,
    acquisition_name,
    constraint,
    featurizer_name,
    positive_int,
    seed,
)

DESCRIPTION = """\
Fit a model with uncertainty on the rows whose target is measured, score the rows whose target is
empty (the candidates) and write the best batch: every column of the chosen rows as given, plus
prediction, std, acquisition, rank and a short reason. Candidates are the rows of TABLE with a blank
target cell, and/or the rows of a second table given with --candidates (same kind of input; those
already measured in TABLE are left out).

A table without a formula/SMILES/structure column is a process table: its numeric columns other
than the target are the design parameters.

Phase-aware campaigns: a column of diffraction pattern files (one measured pattern per sample) is
an input like a formula; its peak features, plus the columns named by --extra-inputs (composition,
process conditions), are the surrogate's inputs:
  matloop suggest library_pool.csv --input file --x-unit q --extra-inputs Al,Li,Fe --target true_fraction_2 --maximize -o next.csv
(library_pool.csv: the index of 'matloop datasets export xrd_alli_fe_o', the target left empty on the samples
not yet measured)

examples:
  matloop suggest pool.csv --target "gap expt" --maximize --batch 5 -o next.csv
  matloop suggest pool.csv --target "gap expt" --target-range 1.1 1.5 --batch 10 -o next.csv
  matloop suggest pool.csv --target "gap expt" --maximize --failed-if "gap expt == 0" -o next.csv

Cold start: with fewer than 2 measured rows no model can be fitted; the batch is then a space-filling
design (the candidates nearest the centres of k-means clusters of the pool, in standardised
features), and the reason column and stderr say so. Replicated inputs count once, with the mean of
their values ("best measured" is the best mean); a blank row whose input is already measured is not
suggested unless --allow-replicates.
--history TABLE (repeatable) adds what a related campaign measured as prior knowledge:
  matloop datasets export oer_plate_3851 -o plate_3851.csv
  matloop suggest plate_3496_pool.csv --target overpotential --minimize --history plate_3851.csv -o next.csv
(plate_3496_pool.csv: your plate's table, blank overpotential for the compositions not yet measured)

Failed experiments: a row whose status column is "failed" (optional reason column), or whose outcome
matches --failed-if (e.g. "crystal_score == 'clear_solution'", "yield < 5", "phase in ('amorphous',
'mixed')"), is neither a measurement nor a candidate; a classifier calibrated out-of-fold estimates
P(success) of every candidate, which multiplies the acquisition (output column p_success). A failed
row is not proposed again unless --retry-failed. An ordinal goal of text labels takes their order,
worst to best, with --target-order (scored 0, 1, 2, ... and maximised; the rule reads the labels), e.g.
on a vapdiff_crystal table whose crystal_score is blank for the vials not yet run: --target
crystal_score --target-order clear_solution,fine_powder,small_crystallites,large_crystallites
--failed-if "crystal_score == 'clear_solution'".

several objectives (one --goal each; rows with every goal blank are the candidates, a goal measured
on some rows only is used where it is measured): expected hypervolume improvement by default, with a
batch that covers the Pareto front; output columns GOAL_pred, GOAL_std, p_nondominated, ehvi (the
expected gain as a fraction of the current front's hypervolume), rank, reason:
  matloop suggest redox_pool.csv --goal abs_lam_diff:min --goal ered:min --goal gsol:min --batch 4 -o next.csv
  matloop suggest redox_pool.csv --goal ered:min --goal gsol:min --scalarize parego --constraint "abs_lam_diff < 40" -o next.csv
The single goal's options work with several goals too: --candidates (rows of a second table join with
every goal blank), --history (each goal gets a prior from the history tables that measure it; a goal
none of them measures gets none, and the output says so), --allow-replicates, --failed-if, --transfer.
EHVI is its own acquisition: --acquisition (ei, logei, pi, mli, ucb, lcb, mei, mu, thompson) applies to
the scalarised goals of ParEGO (selected when --scalarize is not given) or Chimera, and is an error with
--scalarize ehvi; so is --batch-method (the batch always conditions on fantasies).
  matloop suggest redox_pool.csv --goal abs_lam_diff:min --goal ered:min --goal gsol:min --candidates redox_candidates.csv -o next.csv
  matloop suggest redox_pool.csv --goal abs_lam_diff:min --goal ered:min --goal gsol:min --history redox_history.csv -o next.csv
  matloop suggest redox_pool.csv --goal abs_lam_diff:min --goal ered:min --goal gsol:min --acquisition ucb --batch 3 -o next.csv
(redox_candidates.csv: label combinations not in your table yet; redox_history.csv: an earlier campaign's
measurements of ered and gsol, without abs_lam_diff)

A batch made in one go (one oven's temperature, one plate's time, one fragment's stock solution) shares
that setting with --same COL (repeatable; candidate tables, not design spaces): the first pick as usual,
the rest among the candidates with its value; the reason says so, and the batch is smaller when fewer
candidates share it. campaign suggest takes it too.
  matloop suggest redox_pool.csv --goal abs_lam_diff:min --goal ered:min --goal gsol:min --same r1_label --batch 4 -o next.csv
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``suggest`` subcommand."""
    parser = subparsers.add_parser("suggest", help="rank candidate rows and suggest the next experiments",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_table_arguments(parser, target_required=False)  # --goal may name the targets instead
    add_design_arguments(parser)
    parser.add_argument("--candidates", metavar="TABLE",
                        help="a table of candidates (the same kind of input as TABLE: formulas, SMILES, ... or the "
                             "parameter columns); its rows join TABLE's rows with a blank target")
    parser.add_argument("--candidates-input", metavar="COL",
                        help="the material column of --candidates (detected when not given)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.csv", help="where to write the batch")
    add_failure_arguments(parser)
    from matloop.cli.commands._target_order import add_target_order_argument

    add_target_order_argument(parser)  # an ordinal goal of text labels
    add_history_arguments(parser)
    add_transfer_argument(parser)
    parser.add_argument("--featurizer", metavar="NAME", type=featurizer_name,
                        help="featurizer registry name (default: the default for the input kind; e.g. chgnet)")
    parser.add_argument("--extra-inputs", metavar="COL[,COL...]", action="append",
                        help="columns the surrogate uses beside the material's features (process conditions, "
                             "composition fractions beside a pattern file: a phase-aware campaign); numbers as given, "
                             "labels one-hot; repeat or separate with commas; --candidates tables need them too."
                             + PROCESS_TABLE_INPUTS)
    parser.add_argument("--allow-replicates", action="store_true",
                        help="blank rows whose input is already measured (or listed earlier) may be suggested "
                             "(default: never; replicated measurements count once, with their mean)")
    add_quiet_argument(parser)
    parser.set_defaults(func=run)


def add_transfer_argument(parser) -> None:
    """``--transfer auto|SOURCE,...``: the pre-trained library's values as extra features (compositions)."""
    parser.add_argument("--transfer", default="none", metavar="auto|none|SOURCE,...",
                        help="composition tables: add every pre-trained library source's value (computed where the "
                             "composition is in the source's database, predicted elsewhere; the first use in a run "
                             "loads the databases, about a minute) to the features, as 'fit --transfer auto'; or "
                             "name sources (see 'matloop models list'); default none")


def add_history_arguments(parser) -> None:
    """``--history TABLE`` (repeatable): measurements of related campaigns, used as prior knowledge."""
    parser.add_argument("--history", action="append", metavar="TABLE",
                        help="measurements of a related campaign or an earlier batch (repeatable), with the same "
                             "target column: from 2 measured rows on, a GP fitted on them is the prior of this "
                             "campaign's GP, which learns from your results how far the history holds (element "
                             "loadings such as ni_load are matched by element, so plates with other elements "
                             "still inform each other); with formulas, SMILES or --model, the history's prediction "
                             "is an input of the surrogate, set aside when cross-validation on this table's own "
                             "results says it predicts worse")


def load_history(paths, target: str) -> list:
    """``(frame, file name)`` of each --history table (checked: the target column is there)."""
    from matloop.design.history import read_history

    return [read_history(p, target) for p in paths or []]


def failure_rule(text: str) -> str:
    """``--failed-if``: a non-empty rule (its columns are checked against the table when it is read)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("give a rule such as \"crystal_score == 'clear_solution'\"")
    return text.strip()


def add_failure_arguments(parser, retry: bool = True) -> None:
    """``--failed-if RULE`` (and ``--retry-failed``)."""
    parser.add_argument("--failed-if", metavar="RULE", type=failure_rule,
                        help="rows whose outcome matches are failed experiments, e.g. \"crystal_score == "
                             "'clear_solution'\" (==, !=, <, <=, >, >=, in (...), and, or, not)")
    if retry:
        parser.add_argument("--retry-failed", action="store_true",
                            help="failed experiments may be suggested again (default: never)")


def load_with_outcomes(args: argparse.Namespace):
    """The table of ``args.table``, with the columns ``--failed-if`` reads kept as outcomes (read like
    targets, so that a text outcome such as crystal_score is never an input and may be empty)."""
    from matloop.cli.common import load_table, target_list

    rule = getattr(args, "failed_if", None)
    if rule is None:
        return load_table(args)
    from matloop.design.outcomes import FailureRule
    from matloop.io.files import read_columns

    targets = target_list(args)
    extra = [c for c in FailureRule(rule, read_columns(args.table)).columns() if c not in targets]
    if extra:  # an outcome is empty where nothing was done; a column filled everywhere is an input the rule reads
        from matloop.io.files import read_raw

        raw, _ = read_raw(args.table)
        extra = [c for c in extra if (raw[c].isna() | (raw[c].astype(str).str.strip() == "")).any()]
    if not extra:
        return load_table(args)
    dataset = load_table(argparse.Namespace(**{**vars(args), "target": [*targets, *extra]}))
    dataset.targets = [t for t in dataset.targets if t not in extra]
    return dataset


def add_design_arguments(parser: argparse.ArgumentParser) -> None:
    """Goal, batch size, acquisition, batch method, model, constraints and seed."""
    add_goal_arguments(parser, multi=True)
    g = parser.add_argument_group("strategy")
    g.add_argument("--batch", type=positive_int, default=5, metavar="K", help="how many experiments to suggest (default 5)")
    g.add_argument("--acquisition", metavar="NAME", type=acquisition_name,
                   help="ei, logei, pi, mli, ucb, lcb, mei (exploit), mu (max uncertainty), thompson, novelty; "
                        "default: logei, or the window probability with --target-range. Several goals: applied to "
                        "ParEGO's (the default then) or Chimera's scalarised goals; not with --scalarize ehvi")
    g.add_argument("--batch-method", choices=("fantasy", "penalized", "believer", "thompson"), default="fantasy",
                   help="how a batch stays diverse (default: fantasy, each pick taken as measured at its "
                        "prediction, so the model's uncertainty shrinks around it before the next pick)")
    add_surrogate_argument(g)
    g.add_argument("--constraint", action="append", metavar="EXPR", type=constraint,
                   help="another measured column must satisfy this, e.g. 'density < 8' (repeatable): an outcome "
                        "measured on some rows (blank where not measured), modelled and never an input")
    g.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    add_same_argument(g)


def add_same_argument(group) -> None:
    """``--same COL`` (repeatable): every row of the batch shares that column's value (design/batch_groups.py)."""
    group.add_argument("--same", action="append", metavar="COL",
                       help="every experiment of the batch shares this column's value (one oven temperature, one "
                            "plate's time; repeatable): the first pick as usual, the rest among the candidates "
                            "with its value (candidate tables, not design spaces)")


def run(args: argparse.Namespace) -> int:
    from matloop.cli.common import load_table
    from matloop.design.suggest import suggest
    from matloop.io.write import output_format, write_table

    output_format(args.output)  # a bad output name fails now, not after the fit
    from matloop.cli.commands._target_order import apply_target_order, default_direction
    from matloop.cli.goal import goals_from_args

    default_direction(args)  # --target-order: maximise the labels' score unless told otherwise
    goals = goals_from_args(args)  # one objective or several (--goal); inconsistent options exit 2
    args.target = [g.column for g in goals]
    if len(goals) > 1 and args.model == "gnn":
        from matloop.errors import InputError

        raise InputError("--model gnn ranks one goal; with several goals use another --model (the default etgp)")
    if len(goals) > 1:
        from matloop.cli.commands._suggest_multi import run_multi

        return run_multi(args, goals)
    from matloop.cli.goal import outcome_columns
    from matloop.design.ordinal import top_score

    # a constraint's column is an outcome measured on some rows (as with several goals), never an input
    args.target = outcome_columns(args.table, goals, args.constraint)
    dataset = load_with_outcomes(args)
    dataset.targets = [goals[0].column]
    dataset, _, order = apply_target_order(args, dataset, [goals[0].column])  # labels -> 0, 1, 2, ... (worst first)
    from matloop.cli.commands._benchmark_failures import check_numeric_goals

    check_numeric_goals(dataset, [goals[0].column], args.failed_if)  # text is not "not measured"
    candidates = None
    if args.candidates:
        candidates = load_table(argparse.Namespace(
            table=args.candidates, input=args.candidates_input, target=None, kind=dataset.kind,
            skip_invalid=args.skip_invalid, duplicates="keep", output=args.output, x_unit=args.x_unit,
            wavelength=args.wavelength, extra_inputs=args.extra_inputs))
    from matloop.progress import say

    n_measured = int(dataset.labelled.sum())
    n_open = len(dataset) - n_measured
    say((f"fitting the {args.model} surrogate on {n_measured} measured rows and ranking " if n_measured >= 2 else
         f"{n_measured} measured rows: choosing a space-filling first batch among ")
        + f"{n_open} unmeasured row{'' if n_open == 1 else 's'}"
        + (f" and the rows of {args.candidates}" if candidates is not None else ""))
    out = suggest(dataset, goals[0].objective, batch=args.batch, acquisition=args.acquisition,
                  batch_method=args.batch_method, model=args.model, seed=args.seed, constraints=args.constraint,
                  candidates=candidates, failed_if=args.failed_if, retry_failed=args.retry_failed,
                  allow_replicates=args.allow_replicates, history=load_history(args.history, goals[0].column),
                  transfer=args.transfer, featurizer=args.featurizer,
                  top_score=top_score(order, goals[0].objective), same=args.same)
    if out.attrs.get("history"):
        print(f"history: {out.attrs['history']}")
    if out.attrs.get("best_measured") is not None:
        n = out.attrs.get("best_replicates", 1)
        best = out.attrs["best_measured"]
        label = f" ({order[int(best)]})" if order and float(best).is_integer() and 0 <= best < len(order) else ""
        print(f"best measured: {best:.6g}{label} (rule: each input's mean of its replicates; here "
              f"{n} measurement{'s' if n != 1 else ''}" + ("; among the rows that meet the constraints)"
                                                            if args.constraint else ")"))
    if out.attrs.get("n_replicates_left_out"):
        from matloop.cli.common import replicates_left_out

        print(replicates_left_out(out.attrs["n_replicates_left_out"]))
    n_measured -= out.attrs.get("n_failed_with_value", 0)  # a failed row's outcome is not a measurement
    user_columns = set(dataset.frame.columns) | (set(candidates.frame.columns) if candidates is not None else set())
    write_table(out, args.output, round_columns=[c for c in out.columns if c not in user_columns])  # 6 digits
    known = out.attrs.get("n_known_left_out", 0)
    if out.attrs.get("cold_start"):
        import sys

        print(f"note: cold start ({n_measured} measured row{'s' if n_measured != 1 else ''}): no model was fitted; "
              "the batch is a space-filling design (how each row was chosen: its reason)", file=sys.stderr)
    print((f"trained on {n_measured} measured rows" if not out.attrs.get("cold_start") else
           f"no model (cold start, {n_measured} measured)") + f", ranked {out.attrs.get('n_candidates', n_open)} candidates"
          + (f" ({known} rows of {args.candidates} already measured were left out)" if known else "")
          + wrote_batch(len(out), args.batch, args.output))
    if out.attrs.get("feasibility_model"):
        from matloop.cli.common import failed_rows_line

        print(failed_rows_line(out.attrs["n_failed"], out.attrs["feasibility_model"]))
    from matloop.io.detect import material_label

    for _, row in out.iterrows():
        label = material_label(row[dataset.input]) if dataset.input else ", ".join(
            f"{c}={row[c]:.4g}" if isinstance(row[c], int | float) else f"{c}={row[c]}" for c in dataset.parameter_columns)
        if dataset.kind == "pattern":  # the file's name (its folder is the table's), then the extra inputs
            label = ", ".join([str(row[dataset.input]).replace("\\", "/").rsplit("/", 1)[-1],
                               *(f"{c}={row[c]:.4g}" if isinstance(row[c], float) else f"{c}={row[c]}"
                                 for c in dataset.extra_inputs)])
        print(f"  {int(row['rank'])}. {label}: {row['reason']}")
    return 0
