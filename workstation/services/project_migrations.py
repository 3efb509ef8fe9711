"""Project format versions: the chain that brings an older project up to the current format.

A project's ``manifest.json`` states its ``schema_version``.  Reading a project of an
older version applies ``MIGRATIONS[N]`` for N = its version … CURRENT_VERSION − 1, each
taking the project *document* of version N and returning the one of version N + 1:

``{"manifest": {...}, "members": {name in this version's layout: name in the zip}}``

so a migration may rewrite manifest fields and move members to new names without
touching the zip (the member hashes stay keyed by their names in the zip).  Version 1 is
the first format, so the chain is empty today; a later format adds one entry here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from workstation.core.errors import ProjectError

#: The project format this workstation writes (and the newest it reads).
CURRENT_VERSION = 1

Document = dict[str, Any]

#: version N → the function turning a version-N document into a version-(N + 1) one.
MIGRATIONS: dict[int, Callable[[Document], Document]] = {}


def newer_version_message(name: str, version: int, current: int = CURRENT_VERSION) -> str:
    """The one line for a project written by a newer workstation."""
    return (
        f"{name} was saved by a newer workstation (project format {version}; this one "
        f"reads up to {current}): update the workstation to open it."
    )


def migrate(
    document: Document, version: int, name: str, current: int = CURRENT_VERSION
) -> Document:
    """``document`` (of format ``version``) brought up to format ``current``.

    ProjectError when the version is newer than ``current`` or a step of the chain is
    missing; the input document is not changed.
    """
    if version > current:
        raise ProjectError(newer_version_message(name, version, current))
    result = copy.deepcopy(document)
    for step in range(version, current):
        migration = MIGRATIONS.get(step)
        if migration is None:
            raise ProjectError(
                f"{name} uses project format {step}, which this workstation cannot convert "
                f"(it reads formats from {min(MIGRATIONS, default=current)} to {current})."
            )
        result = migration(result)
        result.setdefault("manifest", {})["schema_version"] = step + 1
    return result
