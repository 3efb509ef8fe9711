"""``workstation batch INPUT... -o OUTDIR``: one plan over many studies, on Dask."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from workstation.cli.commands import command_help
from workstation.cli.keys_cmd import add_opening_options, opening_key_from
from workstation.cli.progress import TerminalProgress, finish_progress, progress_for
from workstation.core.errors import BatchError

EPILOG = (
    "INPUT: a folder (any number of studies), a DICOM file or .zip, a list file (.txt, "
    ".lst: one path per line, # comments), db:KEY=VALUE,... (the local database) or "
    "pacs:SERVER?KEY=VALUE&... (a configured PACS server); keys: patient_id, patient_name, "
    "study_uid, series_uid, modality, date_from, date_to, description, accession_number, "
    "limit. Each case is written to OUTDIR/cases/<case_id>/ only when complete; "
    "OUTDIR/summary.json and summary.csv list every case. Running again skips cases done "
    "with the same plan and inputs and retries failed ones. Ctrl+C stops cleanly (exit 130). "
    "Exit 0 when every case is done, 21 when some failed (the summary says why)."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``batch`` subcommand."""
    parser = subparsers.add_parser(
        "batch",
        help=command_help("batch"),
        description=(
            "Run one case plan over many studies on a Dask cluster: a local one sized to "
            "this machine, or an existing scheduler. Without --plan each study gets what "
            "'workstation mesh' does by default (a bone model as STL)."
        ),
        epilog=EPILOG,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="what to run the plan on")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    parser.add_argument(
        "--plan",
        metavar="PLAN",
        help="a plan (.json) or a project (.wsproj) whose models to remake",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on an existing Dask scheduler, e.g. tcp://HOST:8786 (its workers need the "
        "workstation installed, same version, and OUTDIR and the inputs at the same paths)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="local worker processes (default: one per core, as many as memory allows)",
    )
    parser.add_argument(
        "--memory-per-worker",
        metavar="SIZE",
        help="memory limit of each local worker, e.g. 8G (default: this machine's memory "
        "shared among the workers); a quarter of it is the largest volume a case may load",
    )
    add_opening_options(parser)  # the key of an encrypted --plan project
    parser.add_argument(
        "--json", action="store_true", help="print the summary as one JSON object, no progress"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Expand the inputs, run the cases, print the summary."""
    from workstation.core.case_plan import default_plan
    from workstation.services.batch import BatchProgress, progress_text, run_batch
    from workstation.services.batch_cluster import ClusterSpec
    from workstation.services.batch_inputs import expand_inputs
    from workstation.services.case_run import check_plan

    if args.scheduler and (args.workers is not None or args.memory_per_worker):
        raise BatchError(
            "--workers and --memory-per-worker size a local cluster; an existing scheduler's "
            "workers are sized where they are started (dask worker --memory-limit)."
        )
    if args.plan:
        from workstation.services.plan_sources import load_plan

        plan = load_plan(args.plan, key=opening_key_from(args))
    else:
        plan = default_plan()
    check_plan(plan)
    progress = progress_for(args.json)
    try:
        progress(0.0, "Finding the cases")
        cases = expand_inputs(args.inputs, plan, progress)
        finish_progress(progress)
        shown: dict[str, Any] = {"cluster": ""}

        def events(state: BatchProgress) -> None:
            if state.cluster and state.cluster != shown["cluster"]:
                shown["cluster"] = state.cluster
                if isinstance(progress, TerminalProgress):
                    finish_progress(progress)
                    print(f"Running on {state.cluster}", file=sys.stderr)
            progress(state.fraction, progress_text(state))

        summary = run_batch(
            plan,
            cases,
            args.output,
            cluster=ClusterSpec(args.scheduler or "", args.workers, args.memory_per_worker),
            events=events,
            inputs=args.inputs,
        )
    finally:
        finish_progress(progress)
    if args.json:
        json.dump(summary, sys.stdout)
        sys.stdout.write("\n")
    else:
        _print_summary(summary)
    failed = summary["totals"]["failed"]
    if failed:
        raise BatchError(
            f"{failed} of {summary['totals']['cases']} cases failed; see "
            f"{summary['output']}/summary.csv for why."
        )
    return 0


def _print_summary(summary: dict[str, Any]) -> None:
    totals = summary["totals"]
    lines = [
        f"Batch into {summary['output']}: {totals['done']} done, {totals['failed']} failed, "
        f"{totals['skipped']} skipped (already done) of {totals['cases']} cases in "
        f"{summary['seconds']:.1f} s"
    ]
    for row in summary["cases"]:
        if row["status"] == "failed":
            lines.append(f"  failed {row['case_id']} ({row['label']}): {row['reason']}")
    lines.append(f"  summary: {summary['output']}/summary.csv and summary.json")
    print("\n".join(lines))
