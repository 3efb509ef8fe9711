"""The ``workstation`` subcommands: each one's module and the line ``workstation --help`` shows.

This table is all the top-level parser needs, so ``workstation --help`` imports no command
module and a command imports only its own.  Each module's ``register(subparsers)`` takes
its help line from here, so the two cannot drift apart.
"""

from __future__ import annotations

#: name -> (module with ``register(subparsers)``, one-line help), in ``--help`` order.
COMMANDS: dict[str, tuple[str, str]] = {
    "scan": (
        "workstation.cli.scan_cmd",
        "list the DICOM image stacks under a folder, file or zip",
    ),
    "info": (
        "workstation.cli.info_cmd",
        "load a DICOM volume and print its geometry, intensities and warnings",
    ),
    "mesh": (
        "workstation.cli.mesh_cmd",
        "make a printable 3D model (STL/OBJ/PLY/3MF) from a DICOM series",
    ),
    "segment": (
        "workstation.cli.segment_cmd",
        "make a segmentation (.nrrd, .nii.gz, .dcm) by replaying operations or a threshold",
    ),
    "project": (
        "workstation.cli.project_cmd",
        "show what a project (.wsproj) holds, or open it in the window",
    ),
    "provenance": (
        "workstation.cli.provenance_cmd",
        "check an exported model against its provenance record",
    ),
    "guide": (
        "workstation.cli.guide_cmd",
        "generate a printable surgical guide (drill sleeves, saw slots) from a plan",
    ),
    "mesh-tool": (
        "workstation.cli.mesh_tool_cmd",
        "cut, boolean, offset, hollow, mirror or move models (STL/OBJ/PLY/3MF)",
    ),
    "pacs": (
        "workstation.cli.pacs_cmd",
        "query, retrieve from and send to a PACS (DIMSE or DICOMweb)",
    ),
    "fhir": (
        "workstation.cli.fhir_cmd",
        "write an HL7 FHIR ImagingStudy (R4 or R5) for a DICOM study",
    ),
    "db": (
        "workstation.cli.db_cmd",
        "the local DICOM database: import, list, delete, verify",
    ),
    "deidentify": (
        "workstation.cli.deidentify_cmd",
        "write a de-identified copy of DICOM images (PS3.15 basic profile)",
    ),
    "policy": (
        "workstation.cli.policy_cmd",
        "roles and permissions: show who you are, change roles",
    ),
    "audit": (
        "workstation.cli.audit_cmd",
        "the audit trail: verify, show, export, init-key, sign",
    ),
    "keys": (
        "workstation.cli.keys_cmd",
        "make an encryption key in the OS keyring, or show how a file is encrypted",
    ),
    "batch": (
        "workstation.cli.batch_cmd",
        "run a plan over many studies (folders, zips, lists, db: and pacs: queries)",
    ),
    "dose": (
        "workstation.cli.dose_cmd",
        "radiation dose of each study (dose reports, CTDIvol, SAR, MI/TI) against DRLs",
    ),
    "qc": (
        "workstation.cli.qc_cmd",
        "check each series against protocol QC rules (kVp, slices, kernel, dose...)",
    ),
    "report": (
        "workstation.cli.report_cmd",
        "write a case report (PDF or HTML): slice and 3D pictures, statistics, dose, QC",
    ),
    "view": (
        "workstation.cli.view_cmd",
        "open the workstation window (default: the bundled sample study)",
    ),
}


def command_help(name: str) -> str:
    """The one-line help of subcommand ``name``, as the top-level ``--help`` lists it."""
    return COMMANDS[name][1]
