"""``matloop campaign``: a closed loop with a ledger (suggest, record, repeat)."""

from __future__ import annotations

import argparse
import os

from matloop.cli.common import add_quiet_argument, fewer_than_asked
from matloop.cli.goal import add_goal_arguments, add_surrogate_argument
from matloop.cli.options import (
    PROCESS_TABLE_INPUTS,
    acquisition_name,
    constraint,
    db_url,
    output_file,
    positive_int,
    seed,
)

DESCRIPTION = """\
Run a closed-loop campaign whose every candidate, suggestion (with the model and acquisition values
behind it) and measurement is kept in a ledger: a SQLite file by default, or any SQLAlchemy URL
(e.g. postgresql://user@host/db) for a team. Recording is idempotent and all-or-nothing; two people
recording at once both land; nothing recorded is ever lost or overwritten.

typical loop:
  matloop campaign new gaps --pool pool.csv --target "gap expt" --maximize
  matloop campaign suggest gaps --batch 5 -o next.csv      # make these
  matloop campaign record gaps results.csv                 # then record what you measured
  matloop campaign status gaps
  matloop campaign list                                    # every campaign of the ledger
  matloop campaign report gaps -o report.html
  matloop campaign export gaps -o everything.csv

failed experiments and people's decisions:
  matloop campaign new metals --pool pool.csv --target "gap expt" --maximize --failed-if "gap expt == 0"
  matloop campaign veto gaps --candidate 45 --reason "precursor not available"
  matloop campaign add gaps candidates.csv --reason "known metals, as a check"
  matloop campaign history gaps
  matloop campaign retract gaps m12 --reason "typo: 1.25 eV, not 12.5"   # an entry of the history
  matloop campaign abandon gaps --all-pending --reason "batch dropped: furnace down"   # may be suggested again
A results row with status "failed" (optional reason column), or matching the campaign's --failed-if
rule, is recorded as a failure (who, when, why): never suggested again (unless campaign suggest
--retry-failed), and a calibrated P(success) multiplies the acquisition (column p_success).

several goals (one --goal each; results may leave any goal blank; status shows the Pareto front and
its hypervolume, report draws it):
  matloop campaign new redox --pool redox_pool.csv --goal abs_lam_diff:min --goal ered:min --goal gsol:min --db redox.db
  matloop campaign suggest redox --batch 4 -o redox_next.csv --db redox.db
  matloop campaign status redox --db redox.db
  matloop campaign new redox2 --pool redox_pool.csv --goal abs_lam_diff:min --goal ered:min --goal gsol:min --history redox_history.csv --db redox.db
  matloop campaign suggest redox2 --batch 3 --acquisition ei --scalarize chimera -o redox2_next.csv --db redox.db
--history with several goals gives each goal a prior from the history tables that measure it;
--acquisition applies to ParEGO's (the default then) or Chimera's scalarised goals, not to EHVI.

The ledger is MATLOOP_DB if set, else ./matloop.db; --db overrides both.
"""


NEW_DESCRIPTION = """\
Start a campaign. With --pool, rows whose target is empty are the candidates and measured rows are
recorded as the first results. With --space, candidates are generated from a YAML/JSON design space:

  parameters:
    - {name: temperature, type: continuous, low: 300, high: 900, step: 5}
    - {name: time, type: continuous, low: 0.5, high: 12, decimals: 1}
    - {name: layers, type: integer, low: 1, high: 6}
    - {name: solvent, type: categorical, values: [water, ethanol, toluene]}
    - {name: film, type: composition, step: 0.05, elements: {Ni: [0.2, 0.8], Fe: [0.1, 0.6], Co: [0, 0.4]}}
  constraints: ["temperature * time <= 6000", "Fe + Co <= 0.7"]
  min_separation: 0.05   # points of one batch differ by >= 5% of some parameter's range

Short form: "temperature: {low: 300, high: 900, step: 5}" and "solvent: [water, ethanol]" at the top
level. Several goals, --constraint and --failed-if work on a space too (candidates: 2,048 Sobol points).
step/decimals set the resolution suggested values are rounded to (defaults: integers 1, fractions
0.001, continuous about 1/100 of the range). The first `campaign suggest` (fewer than 2 results) is a
space-filling design (scrambled Sobol, k-means medoids); `campaign record` accepts results anywhere inside the
space and refuses points outside it (unless --allow-new). Full reference: docs/design_spaces.md
(docs/examples/anneal_space.yaml in the repository).

--history TABLE (repeatable) stores measurements of a related campaign in the ledger, apart from the
campaign's own; from 2 results on, a GP fitted on them is the prior of the campaign's GP, which learns
from the campaign's results how far the history holds (element loadings matched by element; columns
only the campaign has stay in its model; a history its results contradict is set aside). With
formulas or SMILES, several goals, a design space or --model, the history's prediction is an input of
the surrogate instead, unless cross-validation on the campaign's own results says the model predicts
the better half of them clearly worse with it (an error more than 10 % above the model's without it).

examples:
  matloop campaign new gaps --pool pool.csv --target "gap expt" --maximize
  matloop campaign new film --space anneal_space.yaml --target conductivity --maximize --db film.db
  matloop campaign suggest film --batch 6 -o film_next.csv --db film.db
  matloop datasets export oer_plate_3851 -o plate_3851.csv
  matloop campaign new plate --pool plate_3496_pool.csv --target overpotential --minimize --history plate_3851.csv --db plate.db
"""


def _db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URL", type=db_url, default=os.environ.get("MATLOOP_DB", "matloop.db"),
                        help="ledger: a SQLite file path or an SQLAlchemy URL (default: $MATLOOP_DB or ./matloop.db)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``campaign`` and its subcommands."""
    parser = subparsers.add_parser("campaign", help="closed-loop campaigns with a durable ledger",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="campaign_command", metavar="ACTION", title="actions")
    parser.set_defaults(func=lambda args: parser.print_help() or 0)

    new = sub.add_parser("new", help="start a campaign from a candidate table or a design space",
                         description=NEW_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    new.add_argument("name", metavar="NAME", help="campaign name (unique within the ledger)")
    src = new.add_mutually_exclusive_group(required=True)
    src.add_argument("--pool", metavar="TABLE", help="candidate table (.csv, .xlsx, ...)")
    src.add_argument("--space", metavar="SPACE", help="design space file (.yaml or .json)")
    new.add_argument("--target", metavar="COL", help="the property to optimise (or give --goal, one per objective)")
    new.add_argument("--input", metavar="COL", help="material column of the pool table (detected if omitted)")
    new.add_argument("--extra-inputs", metavar="COL[,COL...]", action="append",
                     help="columns the surrogate uses beside the material's features (process conditions, the "
                          "composition beside a diffraction pattern file); numbers as given, labels one-hot."
                          + PROCESS_TABLE_INPUTS)
    from matloop.cli.common import add_pattern_arguments

    add_pattern_arguments(new)
    new.add_argument("--duplicates", choices=("keep", "error"), default="keep",
                     help="measured rows that repeat a material or setting: record every replicate and warn "
                          "(default), or report them as errors (error)")
    new.add_argument("--skip-invalid", action="store_true",
                     help="leave out pool rows with problems instead of stopping; they are written with their "
                          "reasons to TABLE_STEM.skipped.csv beside the table")
    add_goal_arguments(new, multi=True)
    new.add_argument("--constraint", action="append", metavar="EXPR", type=constraint,
                     help="an outcome column that must satisfy this, e.g. 'density < 8' (repeatable): recorded "
                          "with the results, and the acquisition is multiplied by P(it holds)")
    from matloop.cli.commands.suggest import add_failure_arguments

    add_failure_arguments(new, retry=False)
    from matloop.cli.commands._target_order import add_target_order_argument

    add_target_order_argument(new)  # an ordinal goal of text labels (scored at every record too)
    _db_argument(new)
    new.add_argument("--history", action="append", metavar="TABLE",
                     help="measurements of a related campaign or earlier batch with the same target column "
                          "(repeatable): kept in the ledger as prior data, apart from the campaign's measurements, "
                          "and used as prior knowledge by every suggestion")
    new.add_argument("--same", action="append", metavar="COL",
                     help="every batch of this campaign shares this column's value (one oven temperature per run, "
                          "one plate's time; repeatable; candidate tables only): campaign suggest applies it "
                          "unless given --same COL or --no-same for one batch")
    new.add_argument("--by", metavar="WHO", help="who creates it (default: user@host)")
    add_quiet_argument(new)
    new.set_defaults(func=run_new)

    sug = sub.add_parser("suggest", help="choose the next batch and store it in the ledger")
    sug.add_argument("name", metavar="NAME")
    sug.add_argument("--batch", type=positive_int, default=5, metavar="K", help="how many experiments (default 5)")
    sug.add_argument("-o", "--output", required=True, metavar="next.csv", help="where to write the batch")
    sug.add_argument("--acquisition", metavar="NAME", type=acquisition_name,
                     help="acquisition (default: logei, or window for ranges); several goals: applied to ParEGO's "
                          "(the default then) or Chimera's scalarised goals, not with --scalarize ehvi")
    sug.add_argument("--batch-method", choices=("fantasy", "penalized", "believer", "thompson"), default="fantasy",
                     help="how a batch stays diverse (default: fantasy; see matloop suggest --help)")
    add_surrogate_argument(sug)
    sug.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    sug.add_argument("--scalarize", choices=("ehvi", "parego", "chimera"),
                     help="several goals: how they are traded off (default: as set by campaign new, else ehvi)")
    sug.add_argument("--retry-failed", action="store_true",
                     help="candidates whose experiment failed may be suggested again (default: never)")
    sug.add_argument("--allow-replicates", action="store_true",
                     help="measured candidates may be suggested again, as replicates (default: never)")
    from matloop.cli.commands.suggest import add_same_argument, add_transfer_argument

    add_transfer_argument(sug)
    add_same_argument(sug)
    sug.add_argument("--no-same", action="store_true",
                     help="this batch shares nothing, whatever the campaign's --same (campaign new --same)")
    _db_argument(sug)
    sug.add_argument("--by", metavar="WHO", help="who asks (default: user@host)")
    add_quiet_argument(sug)
    sug.set_defaults(func=run_suggest)

    rec = sub.add_parser("record", help="record measured results (idempotent, all or nothing)",
                         description="Record results. The file needs the material column (or every parameter "
                                     "column) and the target column; an optional measurement_id column makes "
                                     "replicates with equal values distinct (an empty cell means no id). A "
                                     "measurement is identified by its material, target and value (or its "
                                     "measurement_id), not by the text of the row: recording the same results "
                                     "again, re-exported as 555.0 instead of 555 or with other columns, records "
                                     "nothing twice. Empty target cells are skipped. A 'status' column (ok or "
                                     "failed, with an optional 'reason') records failed experiments, which need "
                                     "no target value; so do rows matching the campaign's --failed-if rule.")
    rec.add_argument("name", metavar="NAME")
    rec.add_argument("results", metavar="RESULTS", help="results table (.csv, .xlsx, ...)")
    rec.add_argument("--allow-new", action="store_true",
                     help="accept materials that are not candidates of the campaign (otherwise an error)")
    _db_argument(rec)
    rec.add_argument("--by", metavar="WHO", help="who measured (default: user@host)")
    rec.set_defaults(func=run_record)

    from matloop.cli.commands._campaign_people import register as register_people

    register_people(sub, _db_argument)  # veto, add, abandon, retract, history
    lst = sub.add_parser("list", help="every campaign of the ledger, with its goals and counts",
                         description="Every campaign of the ledger: name, goal(s), kind, who created it and when, "
                                     "candidates and measured values.\n\nexample:\n  matloop campaign list",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    _db_argument(lst)
    lst.set_defaults(func=run_list)
    st = sub.add_parser("status", help="what has been measured and suggested, and the best so far")
    st.add_argument("name", metavar="NAME")
    _db_argument(st)
    st.set_defaults(func=run_status)

    ex = sub.add_parser("export", help="write everything: candidates, measurements, suggestions")
    ex.add_argument("name", metavar="NAME")
    ex.add_argument("-o", "--output", required=True, metavar="all.csv")
    _db_argument(ex)
    ex.set_defaults(func=run_export)

    rep = sub.add_parser("report", help="an HTML report of the campaign's progress")
    rep.add_argument("name", metavar="NAME")
    rep.add_argument("-o", "--output", required=True, metavar="report.html", type=output_file)
    rep.add_argument("--pareto-with", metavar="COL[:min|max]",
                     help="second objective for the Pareto front: a numeric pool column (e.g. cost:min) or "
                          "another measured target (default: drawn when a second target was measured)")
    _db_argument(rep)
    add_quiet_argument(rep)
    rep.set_defaults(func=run_report)


def _history(args: argparse.Namespace, goals: list | None = None) -> list:
    """The --history tables; with several goals each must measure at least one of them (design/multi_options.py)."""
    from matloop.design.multi_options import read_goal_history

    return read_goal_history(args.history, [g.column for g in goals] if goals and len(goals) > 1 else [args.target])


def run_new(args: argparse.Namespace) -> int:
    from matloop.cli.commands._target_order import apply_target_order, default_direction
    from matloop.cli.goal import goals_from_args, outcome_columns
    from matloop.design.campaign import Campaign, read_space

    default_direction(args)  # --target-order: maximise the labels' score unless told otherwise
    goals = goals_from_args(args)  # one objective or several (--goal); inconsistent options exit 2
    objective, args.target = goals[0].objective, goals[0].column
    several = {"goals": goals, "constraints": args.constraint, "scalarize": args.scalarize}
    if args.pool:
        from matloop.cli.commands.suggest import load_with_outcomes

        # as every command reads a table: duplicate warnings printed readably, not as Python warnings
        pool = load_with_outcomes(argparse.Namespace(
            table=args.pool, input=args.input, target=outcome_columns(args.pool, goals, args.constraint), output=None,
            duplicates=args.duplicates, extra_inputs=args.extra_inputs, x_unit=args.x_unit, wavelength=args.wavelength,
            skip_invalid=args.skip_invalid, failed_if=args.failed_if))
        pool, column, order = apply_target_order(args, pool, [g.column for g in goals])  # labels -> 0, 1, 2, ...
        several["target_order"] = {"column": column, "labels": order} if order else None
        camp = Campaign.create(args.name, args.db, objective, args.target, pool=pool, actor=args.by,
                               failed_if=args.failed_if, history=_history(args, goals), same=args.same, **several)
    else:
        from matloop.cli.common import PATTERN_DEFAULTS

        pool_only = [flag for flag, given in (("--input", args.input), ("--extra-inputs", args.extra_inputs),
                                              ("--x-unit", args.x_unit != PATTERN_DEFAULTS["x_unit"]),
                                              ("--wavelength", args.wavelength != PATTERN_DEFAULTS["wavelength"]),
                                              ("--duplicates", args.duplicates != "keep"),
                                              ("--skip-invalid", args.skip_invalid)) if given]
        if pool_only:  # never silently ignored
            from matloop.errors import InputError

            raise InputError(f"{', '.join(pool_only)} read{'s' if len(pool_only) == 1 else ''} a --pool table; a "
                             "--space campaign's inputs are the parameters of its space file")
        space, spec = read_space(args.space)
        from matloop.design.ordinal import parse_order

        order = {"column": args.target, "labels": parse_order(args.target_order)} if args.target_order else None
        camp = Campaign.create(args.name, args.db, objective, args.target, space=space, space_spec=spec,
                               actor=args.by, failed_if=args.failed_if, history=_history(args, goals),
                               target_order=order, same=args.same, **several)
    print(f"created campaign {args.name!r} in {args.db}")
    keys = camp.config.get("smiles_keys")  # SMILES parameters: canonical ledger keys, or the raw text (design/ledger_keys.py)
    if keys:
        print(f"SMILES column(s) {', '.join(keys['columns'])}: " + (
            "ledger keys are canonical SMILES (two spellings of one molecule are one candidate)" if keys["canonical"]
            else "ledger keys are the raw text (RDKit not installed: two spellings of one molecule are two candidates)"))
    print(camp.status())
    return 0


def _same(args: argparse.Namespace) -> list[str] | None:
    """``campaign suggest``'s columns: ``--same`` given, none (``--no-same``), or None (the campaign's own)."""
    from matloop.errors import InputError, error_table

    if args.no_same and args.same:
        raise InputError("--same and --no-same contradict each other", error_table(
            [{"row": 0, "column": "--same", "value": c, "reason": "--no-same asks for a batch that shares nothing"}
             for c in args.same]))
    return [] if args.no_same else args.same


def run_suggest(args: argparse.Namespace) -> int:
    from matloop.design.campaign import Campaign, check_output

    check_output(args.output)  # before opening the ledger or fitting anything
    same = _same(args)
    camp = Campaign(args.name, args.db)
    from matloop.progress import say

    say(f"fitting the {args.model} surrogate on the measured rows and ranking the candidates")
    out = camp.suggest(batch=args.batch, acquisition=args.acquisition, batch_method=args.batch_method,
                       model=args.model, seed=args.seed, actor=args.by, output=args.output,
                       retry_failed=args.retry_failed, allow_replicates=args.allow_replicates,
                       scalarize=args.scalarize, transfer=args.transfer, same=same)
    if out.attrs.get("history"):
        print(f"history: {out.attrs['history']}")
    if out.attrs.get("cold_start"):
        import sys

        print("note: cold start (fewer than 2 results measured): no model was fitted; the batch is a space-filling "
              "design (k-means medoids" + (" of scrambled Sobol points over the numeric parameters of the design space, "
                                            "categories in turn)" if camp.space is not None
                                            else " of the candidates; each row's reason says over what)"),
              file=sys.stderr)
    print(f"suggested {len(out)} experiment{'s' if len(out) != 1 else ''}{fewer_than_asked(len(out), args.batch)} "
          f"(stored in the ledger); wrote {args.output}")
    for _, row in out.iterrows():
        print(f"  {int(row['rank'])}. {row['reason']}")
    return 0


def run_record(args: argparse.Namespace) -> int:
    from matloop.design.campaign import Campaign
    from matloop.io.files import read_raw
    from matloop.io.table import refuse_units_row

    camp = Campaign(args.name, args.db)
    frame, rows = read_raw(args.results)
    refuse_units_row(frame, rows, os.path.basename(args.results), min_rows=3, rename=False)  # units over 2 rows
    result = camp.record(frame, source=os.path.basename(args.results), rows=[int(r) for r in rows],
                         allow_new=args.allow_new, actor=args.by)
    print(f"recorded {result.inserted} new measurement{'s' if result.inserted != 1 else ''}"
          + (f" ({result.experiments} experiment{'s' if result.experiments != 1 else ''}, one measurement per goal)"
             if result.experiments and result.experiments != result.inserted else "")
          + (f"; {result.already_recorded} already recorded (ignored)" if result.already_recorded else "")
          + (f"; {result.new_candidates} new candidate{'s' if result.new_candidates != 1 else ''} added (not in the "
             "pool before)" if result.new_candidates else "")
          + (f"; {result.failed} failed experiment{'s' if result.failed != 1 else ''}" if result.failed else "")
          + (f" ({result.failed_already} failures already recorded)" if result.failed_already else ""))
    from matloop.design.ledger_events import still_retracted

    if again := still_retracted(camp.ledger, result.duplicate_ids):
        print(f"note: {len(again)} of the values already recorded {'were' if len(again) > 1 else 'was'} "
              f"retracted ({', '.join(again[:5])}{', ...' if len(again) > 5 else ''}) and stay{'' if len(again) > 1 else 's'} "
              "so; to record the same value as a new measurement, give its row a measurement_id")
    print(camp.status())
    return 0


def run_list(args: argparse.Namespace) -> int:
    import pandas as pd

    from matloop.design.campaign_status import campaign_overview
    from matloop.design.ledger import ledger_url, open_engine

    engine = open_engine(ledger_url(args.db), create=False)
    try:
        rows = campaign_overview(engine)
    finally:
        engine.dispose()
    if not rows:
        print(f"no campaigns in {args.db} (create one with 'matloop campaign new')")
        return 0
    table = pd.DataFrame(rows).assign(goals=lambda f: ["; ".join(g) for g in f["goals"]],
                                      created_at=lambda f: [f"{t:%Y-%m-%d %H:%M}" for t in f["created_at"]])
    print(table.rename(columns={"measurement_values": "measured values"}).to_string(index=False))
    return 0


def run_status(args: argparse.Namespace) -> int:
    from matloop.design.campaign import Campaign

    print(Campaign(args.name, args.db).status())
    return 0


def run_export(args: argparse.Namespace) -> int:
    from matloop.design.campaign import Campaign, check_output
    from matloop.io.write import write_table

    check_output(args.output)
    out = Campaign(args.name, args.db).export()
    write_table(out, args.output)
    print(f"wrote {len(out)} rows to {args.output}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    from matloop.design.campaign import Campaign
    from matloop.report.campaign import campaign_report

    campaign_report(Campaign(args.name, args.db), pareto_with=args.pareto_with).write(args.output)
    print(f"wrote {args.output}")
    return 0
