"""``workstation fhir PATH|--study UID -o STUDY.json``: an HL7 FHIR ImagingStudy of a study."""

from __future__ import annotations

import argparse
import json
import sys

from workstation.cli.commands import command_help
from workstation.cli.progress import finish_progress, progress_for
from workstation.core.errors import InputPathError
from workstation.core.progress import CancelToken
from workstation.io.atomic_write import check_writable_path
from workstation.services.fhir import (
    FHIR_VERSIONS,
    facts_from_database,
    facts_from_path,
    imaging_study,
    write_imaging_study,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``fhir`` subcommand."""
    parser = subparsers.add_parser(
        "fhir",
        help=command_help("fhir"),
        description=(
            "Read the headers of every file of a study (under PATH, or in the local DICOM "
            "database with --study UID alone) and write its FHIR ImagingStudy as JSON: "
            "identifier, patient, start, modalities, counts, every series with its "
            "instances and SOP classes, and a WADO-RS Endpoint with --wado-base. The "
            "resource is validated with fhir.resources before it is written."
        ),
    )
    parser.add_argument(
        "path", nargs="?", help="DICOM folder, file or .zip (omit to use the local database)"
    )
    parser.add_argument(
        "--study", metavar="UID", help="Study Instance UID (needed when PATH holds several)"
    )
    parser.add_argument("--database", metavar="DIR", help="the local DICOM database folder")
    parser.add_argument("--wado-base", metavar="URL", help="DICOMweb base URL for an Endpoint")
    parser.add_argument(
        "--fhir-version",
        choices=FHIR_VERSIONS,
        type=str.upper,
        default="R4",
        help="FHIR release (default R4)",
    )
    parser.add_argument("-o", "--output", required=True, help="output file (STUDY.json)")
    parser.add_argument("--json", action="store_true", help="print the resource as well")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Gather the study's facts, build and validate the resource, write it."""
    if not args.path and not args.study:
        raise InputPathError("Give a DICOM PATH, or --study UID of the local database.")
    output = check_writable_path(args.output)
    progress = progress_for(args.json)
    cancel = CancelToken()
    try:
        if args.path:
            facts = facts_from_path(args.path, args.study, progress, cancel)
        else:
            facts = facts_from_database(args.study, args.database, progress, cancel)
    finally:
        finish_progress(progress)
    resource = imaging_study(facts, args.fhir_version, args.wado_base)
    write_imaging_study(resource, output)
    if args.json:
        json.dump(resource, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(
            f"Wrote {output} (FHIR {args.fhir_version} ImagingStudy of study {facts.uid}: "
            f"{len(facts.series)} series, {facts.number_of_instances} instances)"
        )
    return 0
