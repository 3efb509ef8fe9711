"""Exact mesh booleans (union, subtract, intersect) of closed models through manifold3d."""

from __future__ import annotations

from collections.abc import Sequence

import manifold3d

from workstation.core.errors import MeshToolError
from workstation.core.mesh import Mesh
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.processing.guides.manifold_bridge import from_manifold, to_manifold

OPERATIONS = ("union", "subtract", "intersect")

_OP_TYPES = {
    "union": manifold3d.OpType.Add,
    "subtract": manifold3d.OpType.Subtract,
    "intersect": manifold3d.OpType.Intersect,
}


def boolean_solid(solids: Sequence[manifold3d.Manifold], operation: str) -> manifold3d.Manifold:
    """``solids[0]`` op the rest, as manifold3d solids."""
    if operation not in _OP_TYPES:
        raise MeshToolError(f"Unknown boolean '{operation}'; use {', '.join(OPERATIONS)}.")
    return manifold3d.Manifold.batch_boolean(list(solids), _OP_TYPES[operation])


def boolean(
    meshes: Sequence[Mesh],
    operation: str,
    name: str | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> Mesh:
    """``meshes[0]`` union / subtract / intersect the others; MeshToolError when empty or bad."""
    if operation not in _OP_TYPES:
        raise MeshToolError(f"Unknown boolean '{operation}'; use {', '.join(OPERATIONS)}.")
    if len(meshes) < 2:
        raise MeshToolError(f"A {operation} needs at least two models, got {len(meshes)}.")
    solids = []
    for number, mesh in enumerate(meshes):
        (cancel or CancelToken()).raise_if_cancelled()
        progress(0.5 * number / len(meshes), f"Reading {mesh.name}")
        solids.append(to_manifold(mesh))
    progress(0.5, f"Computing the {operation}")
    result = boolean_solid(solids, operation)
    (cancel or CancelToken()).raise_if_cancelled()
    if result.is_empty():
        names = ", ".join(f"'{mesh.name}'" for mesh in meshes)
        why = {
            "union": "the models are empty",
            "subtract": f"'{meshes[0].name}' lies wholly inside the others",
            "intersect": "the models do not overlap",
        }[operation]
        raise MeshToolError(f"The {operation} of {names} is empty: {why}.")
    verb = {"union": "united with", "subtract": "minus", "intersect": "intersected with"}
    label = name or f"{meshes[0].name} {operation}"
    mesh = from_manifold(result, label)
    mesh.color = meshes[0].color
    others = ", ".join(m.name for m in meshes[1:])
    mesh.report.append(f"{meshes[0].name} {verb[operation]} {others}")
    progress(1.0, "Done")
    return mesh
