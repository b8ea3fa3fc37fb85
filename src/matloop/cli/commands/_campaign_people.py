"""``matloop campaign veto | add | abandon | retract | history``: what people decide beside the model, kept in the ledger.

- ``veto NAME --candidate C --reason TEXT``: rule candidates out (never suggested again);
- ``add NAME TABLE``: an expert's own candidate ideas join the campaign;
- ``abandon NAME --candidate C --reason TEXT``: a suggested experiment that will not be run (it may be
  suggested again);
- ``retract NAME ENTRY... --reason TEXT``: withdraw a measurement, failure or veto recorded in error;
- ``history NAME``: every measurement, failure, veto, addition and retraction in time order, with who and why.
"""

from __future__ import annotations

import argparse
import os


def register(sub, db_argument) -> None:
    """Add the three actions to the ``campaign`` subparsers ``sub``."""
    from matloop.cli.options import output_file

    def people_options(parser, func, who: str, reason: str = "why (kept in the ledger)", required: bool = True):
        """--reason, --db and --by of an action people take, and the function that runs it."""
        parser.add_argument("--reason", required=required, metavar="TEXT", help=reason)
        db_argument(parser)
        parser.add_argument("--by", metavar="WHO", help=f"who {who} (default: user@host)")
        parser.set_defaults(func=func)

    veto = sub.add_parser(
        "veto", help="rule candidates out, with the reason (never suggested again)",
        description="Rule out candidates a person knows are not worth making (a toxic precursor, a furnace that "
                    "cannot reach the temperature). The veto is kept in the ledger with who gave it and why; "
                    "vetoed candidates are never suggested. --candidate takes the candidate's key as 'campaign "
                    "export' shows it, the material (written any way), COL=VALUE,... for every parameter of a "
                    "process campaign, or N / #N for the N-th candidate (the pool table's rows in order, each "
                    "material once).\n\nexample:\n  matloop campaign veto gaps --candidate 45 --reason "
                    "\"precursor not available\"", formatter_class=argparse.RawDescriptionHelpFormatter)
    veto.add_argument("name", metavar="NAME")
    veto.add_argument("--candidate", action="append", required=True, metavar="KEY_OR_ROW",
                      help="the candidate to rule out (repeatable)")
    people_options(veto, run_veto, "vetoes")

    add = sub.add_parser(
        "add", help="add an expert's own candidates (kept with who and why)",
        description="Add candidates of your own: TABLE has the material column (or every parameter column of a "
                    "process campaign) and no measured target. New candidates join the pool (source 'expert') "
                    "and are ranked with the rest; each addition is kept in the ledger with who and why.\n\n"
                    "example:\n  matloop campaign add gaps candidates.csv --reason \"known metals, as a check\"",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add.add_argument("name", metavar="NAME")
    add.add_argument("table", metavar="TABLE", help="the candidates (.csv, .xlsx, ...)")
    people_options(add, run_add, "adds them", "why these candidates (kept in the ledger)", required=False)

    aband = sub.add_parser(
        "abandon", help="suggested experiments that will not be run (they may be suggested again)",
        description="Say that suggested experiments will not be run (the reagent ran out, the plate was full): "
                    "they stop 'awaiting results', so the next batch may suggest them again (a veto rules a "
                    "candidate out for good instead). Kept in the ledger with who and why. --candidate as for "
                    "'campaign veto'; --all-pending abandons every suggestion still awaiting results.\n\n"
                    "example:\n  matloop campaign abandon gaps --all-pending --reason \"batch dropped: furnace down\"",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    aband.add_argument("name", metavar="NAME")
    which = aband.add_mutually_exclusive_group(required=True)
    which.add_argument("--candidate", action="append", metavar="KEY_OR_ROW",
                       help="a suggested candidate that will not be made (repeatable)")
    which.add_argument("--all-pending", action="store_true", help="every suggestion still awaiting results")
    people_options(aband, run_abandon, "abandons them")

    retract = sub.add_parser(
        "retract", help="withdraw a measurement, failure or veto recorded in error (kept, with who and why)",
        description="Withdraw entries recorded in error: a mistyped value, a result written on the wrong row, a "
                    "failure, veto or abandonment recorded by mistake. ENTRY is the entry column of 'campaign "
                    "history' (m<N> a measurement, e<N> a failure, veto or abandonment). Nothing is deleted: the "
                    "entry and its retraction stay in the ledger and the history, with who retracted it and why; "
                    "models, status, export and reports no longer use it, and a retracted failure or veto lets the "
                    "candidate be suggested again. Record the right value as usual (a value equal to a retracted one needs a "
                    "measurement_id column to count as new).\n\nexample:\n  matloop campaign history gaps\n"
                    "  matloop campaign retract gaps m12 --reason \"typo: 1.25 eV, not 12.5\"",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    retract.add_argument("name", metavar="NAME")
    retract.add_argument("entries", nargs="+", metavar="ENTRY",
                         help="m<N> or e<N>, as 'campaign history' shows, or a range such as m12-m20")
    people_options(retract, run_retract, "retracts")

    hist = sub.add_parser(
        "history", help="every measurement, failure, veto and addition, with who and why",
        description="The campaign's history in time order: measurements, failed experiments (with their "
                    "reasons), vetoes, added candidates and retractions, each with who recorded it, when and from "
                    "which file; the entry column names each for 'campaign retract'.\n\nexample:\n  matloop campaign history gaps -o history.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    hist.add_argument("name", metavar="NAME")
    hist.add_argument("-o", "--output", metavar="history.csv", type=output_file,
                      help="write the whole history to a table (default: print the last --tail events)")
    hist.add_argument("--tail", type=_count, default=40, metavar="N", help="events to print (default 40)")
    db_argument(hist)
    hist.set_defaults(func=run_history)


def _count(text: str) -> int:
    from matloop.cli.options import positive_int

    return positive_int(text)


def run_veto(args: argparse.Namespace) -> int:
    from matloop.design.campaign import Campaign
    from matloop.design.campaign_failures import veto_candidates

    camp = Campaign(args.name, args.db)
    done = veto_candidates(camp, args.candidate, args.reason, args.by)
    print(f"vetoed {done.inserted} candidate{'s' if done.inserted != 1 else ''}"
          + (f"; {done.already_recorded} already vetoed for this reason (ignored)" if done.already_recorded else ""))
    print(camp.status())
    return 0


def run_add(args: argparse.Namespace) -> int:
    from matloop.design.campaign import Campaign
    from matloop.design.campaign_failures import add_expert_candidates
    from matloop.io.files import read_raw

    camp = Campaign(args.name, args.db)
    frame, rows = read_raw(args.table)
    done = add_expert_candidates(camp, frame, [int(r) for r in rows], args.reason or "", os.path.basename(args.table),
                                 args.by)
    print(f"added {done.new_candidates} new candidate{'s' if done.new_candidates != 1 else ''}"
          + (f"; {n_old} {'was a candidate' if n_old == 1 else 'were candidates'} already (the proposal is recorded)"
             if (n_old := done.inserted - done.new_candidates) > 0 else "")
          + (f"; {done.already_recorded} already added (ignored)" if done.already_recorded else ""))
    print(camp.status())
    return 0


def run_abandon(args: argparse.Namespace) -> int:
    from matloop.design.campaign import Campaign
    from matloop.design.campaign_failures import abandon_candidates

    camp = Campaign(args.name, args.db)
    done = abandon_candidates(camp, args.candidate or [], args.reason, args.by, all_pending=args.all_pending)
    said = (f"abandoned {done.inserted} suggestion{'s' if done.inserted != 1 else ''} (no longer awaiting results; "
            "they may be suggested again)" if done.inserted or done.already_recorded else
            "nothing was abandoned: no suggestion is awaiting results")
    print(said + (f"; {done.already_recorded} abandoned before (ignored)" if done.already_recorded else ""))
    print(camp.status())
    return 0


def run_retract(args: argparse.Namespace) -> int:
    from matloop.design.campaign import Campaign
    from matloop.design.ledger_events import retract

    camp = Campaign(args.name, args.db)
    done = retract(camp.ledger, args.entries, args.reason, args.by)
    print(f"retracted {done.inserted} entr{'ies' if done.inserted != 1 else 'y'} (kept in the history, left out of "
          "the model)" + (f"; {done.already_recorded} retracted before (ignored)" if done.already_recorded else ""))
    print(camp.status())
    return 0


def run_history(args: argparse.Namespace) -> int:
    from matloop.design.campaign import Campaign
    from matloop.design.ledger_events import campaign_log

    log = campaign_log(Campaign(args.name, args.db))
    if args.output:
        from matloop.design.campaign import check_output
        from matloop.io.write import write_table

        check_output(args.output)
        write_table(log, args.output)
        print(f"wrote {len(log)} events to {args.output}")
        return 0
    if log.empty:
        print("nothing recorded yet")
        return 0
    shown = log.tail(args.tail).copy()
    shown["recorded_at"] = pd_time(shown["recorded_at"])
    shown["value"] = [("" if v != v else f"{v:.6g}") for v in shown["value"]]
    shown["candidate"] = [_short(c, 40) for c in shown["candidate"]]
    shown["reason"] = [_short(c, 60) for c in shown["reason"]]
    if len(log) > args.tail:
        print(f"(the last {args.tail} of {len(log)} events; -o FILE writes them all)")
    print(shown.to_string(index=False))
    return 0


def pd_time(values):
    return [v.strftime("%Y-%m-%d %H:%M:%S") for v in values]


def _short(text, width: int) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= width else text[: width - 1] + "…"
