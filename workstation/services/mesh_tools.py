"""The model tools (cut, boolean, offset, hollow, mirror, transform) for the GUI and the CLI.

``run_mesh_tool`` checks a tool's parameters, runs it and checks every result is a closed,
manifold solid (or says why not); its ``operation`` record (the tool, its parameters and
the SHA-256 of each input's points and triangles) becomes the new models' parameters, so
projects and provenance records say how each model was made.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workstation.core.errors import MeshToolError
from workstation.core.mesh import Mesh
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.processing.guides.manifold_bridge import SolidCheck, check_solid
from workstation.processing.mesh_statistics import mesh_statistics
from workstation.services.session import ModelEntry, Session

TOOLS = ("cut", "boolean", "offset", "hollow", "mirror", "transform")

#: Parameters each tool takes (required, optional).
PARAMETERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "cut": (("planes",), ()),
    "boolean": (("operation",), ()),
    "offset": (("distance_mm",), ("spacing_mm",)),
    "hollow": (("wall_mm",), ("drain_holes", "spacing_mm")),
    "mirror": (("point_lps", "normal_lps"), ()),
    "transform": (("matrix",), ()),
}


@dataclass
class ToolResult:
    """New models of one tool run, its operation record, their solid checks and warnings."""

    meshes: list[Mesh]
    operation: dict[str, Any]
    checks: list[SolidCheck]
    warnings: list[str]
    #: per tool: cut "pieces" [{name, sides}], hollow "drain_holes" [{number, opens, ...}]
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: the operation, each result's name and check, the warnings."""
        return {
            "operation": self.operation,
            "results": [
                {"name": mesh.name, "triangles": mesh.n_faces, **check.to_dict()}
                for mesh, check in zip(self.meshes, self.checks, strict=True)
            ],
            "warnings": list(self.warnings),
            **self.details,
        }


def mesh_sha256(mesh: Mesh) -> str:
    """SHA-256 of a mesh's points (float64) then triangles (int64), little-endian bytes."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(mesh.vertices, dtype="<f8").tobytes())
    digest.update(np.ascontiguousarray(mesh.faces, dtype="<i8").tobytes())
    return digest.hexdigest()


# -- parameters -----------------------------------------------------------------------------
def _number(parameters: dict[str, Any], key: str, tool: str, positive: bool = True) -> float:
    value = parameters[key]
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise MeshToolError(f"{tool}: '{key}' must be a number, not {value!r}.") from None
    if not np.isfinite(number) or (positive and number <= 0) or (not positive and number == 0):
        need = "positive" if positive else "a non-zero number"
        raise MeshToolError(f"{tool}: '{key}' must be {need}, not {value!r}.")
    return number


def _vector(value: Any, key: str, tool: str) -> list[float]:
    try:
        array = np.asarray(value, dtype=np.float64).reshape(3)
    except (TypeError, ValueError):
        raise MeshToolError(f"{tool}: '{key}' needs three numbers, not {value!r}.") from None
    if not np.isfinite(array).all():
        raise MeshToolError(f"{tool}: '{key}' must be finite numbers.")
    return [float(v) for v in array]


def _checked_keys(tool: str, parameters: Any) -> dict[str, Any]:
    if not isinstance(parameters, dict):
        raise MeshToolError(f"{tool}: the parameters must be a mapping of names to values.")
    required, optional = PARAMETERS[tool]
    missing = [key for key in required if key not in parameters]
    if missing:
        raise MeshToolError(f"{tool}: missing parameter(s) {', '.join(missing)}.")
    unknown = sorted(set(parameters) - set(required) - set(optional))
    if unknown:
        raise MeshToolError(f"{tool}: unknown parameter(s) {', '.join(unknown)}.")
    return {key: value for key, value in parameters.items() if value is not None}


def _spacing(parameters: dict[str, Any], tool: str) -> dict[str, float]:
    return (
        {"spacing_mm": _number(parameters, "spacing_mm", tool)}
        if "spacing_mm" in parameters
        else {}
    )


def _plane(record: Any, tool: str, where: str = "") -> dict[str, list[float]]:
    if not isinstance(record, dict) or set(record) != {"point_lps", "normal_lps"}:
        raise MeshToolError(
            f"{tool}: {where}a plane is {{'point_lps': [x, y, z], 'normal_lps': [nx, ny, nz]}}."
        )
    normal = _vector(record["normal_lps"], f"{where}normal_lps", tool)
    length = float(np.linalg.norm(normal))
    if length == 0:
        raise MeshToolError(f"{tool}: {where}normal_lps must not be zero.")
    return {
        "point_lps": _vector(record["point_lps"], f"{where}point_lps", tool),
        "normal_lps": [v / length for v in normal],
    }


def normalised_parameters(tool: str, parameters: Any) -> dict[str, Any]:
    """A tool's parameters checked and in canonical form (unit normals, floats, lists)."""
    if tool not in TOOLS:
        raise MeshToolError(f"Unknown mesh tool '{tool}'; use one of {', '.join(TOOLS)}.")
    given = _checked_keys(tool, parameters)
    if tool == "cut":
        planes = given["planes"]
        if not isinstance(planes, list | tuple) or not planes:
            raise MeshToolError("cut: 'planes' must be a list of one or more planes.")
        return {"planes": [_plane(p, tool, f"plane {n} ") for n, p in enumerate(planes, 1)]}
    if tool == "boolean":
        from workstation.processing.guides.booleans import OPERATIONS

        if given["operation"] not in OPERATIONS:
            raise MeshToolError(f"boolean: 'operation' must be one of {', '.join(OPERATIONS)}.")
        return {"operation": given["operation"]}
    if tool == "offset":
        return {"distance_mm": _number(given, "distance_mm", tool, False), **_spacing(given, tool)}
    if tool == "hollow":
        holes = given.get("drain_holes") or []
        if not isinstance(holes, list | tuple):
            raise MeshToolError("hollow: 'drain_holes' must be a list.")
        return {
            "wall_mm": _number(given, "wall_mm", tool),
            "drain_holes": [_drain_hole(hole, n) for n, hole in enumerate(holes, 1)],
            **_spacing(given, tool),
        }
    if tool == "mirror":
        return _plane(given, tool)
    from workstation.processing.guides.rigid_transform import rigid_matrix

    return {"matrix": rigid_matrix(given["matrix"]).tolist()}


def _drain_hole(record: Any, number: int) -> dict[str, Any]:
    keys = {"point_lps", "direction_lps", "diameter_mm"}
    if not isinstance(record, dict) or set(record) != keys:
        raise MeshToolError(
            f"hollow: drain hole {number} needs exactly point_lps, direction_lps, diameter_mm."
        )
    direction = _vector(record["direction_lps"], f"drain hole {number} direction_lps", "hollow")
    length = float(np.linalg.norm(direction))
    if length == 0:
        raise MeshToolError(f"hollow: drain hole {number} direction_lps must not be zero.")
    return {
        "point_lps": _vector(record["point_lps"], f"drain hole {number} point_lps", "hollow"),
        "direction_lps": [v / length for v in direction],
        "diameter_mm": _number(record, "diameter_mm", f"hollow: drain hole {number}"),
    }


# -- running --------------------------------------------------------------------------------
Runner = Callable[
    [list[Mesh], dict[str, Any], ProgressCallback, CancelToken],
    tuple[list[Mesh], list[str], dict[str, Any]],
]


def _one_input(tool: str, inputs: list[Mesh]) -> Mesh:
    if len(inputs) != 1:
        raise MeshToolError(f"{tool} works on one model at a time, got {len(inputs)}.")
    return inputs[0]


def _cut(
    inputs: list[Mesh], parameters: dict[str, Any], progress: ProgressCallback, cancel: CancelToken
) -> tuple[list[Mesh], list[str], dict[str, Any]]:
    from workstation.processing.guides.plane_cut import Plane, cut_by_planes

    planes = [Plane.of(p["point_lps"], p["normal_lps"]) for p in parameters["planes"]]
    pieces, warnings = cut_by_planes(_one_input("cut", inputs), planes, progress, cancel)
    return [p.mesh for p in pieces], warnings, {"pieces": [p.to_dict() for p in pieces]}


def _boolean(
    inputs: list[Mesh], parameters: dict[str, Any], progress: ProgressCallback, cancel: CancelToken
) -> tuple[list[Mesh], list[str], dict[str, Any]]:
    from workstation.processing.guides.booleans import boolean

    return [boolean(inputs, parameters["operation"], None, progress, cancel)], [], {}


def _offset(
    inputs: list[Mesh], parameters: dict[str, Any], progress: ProgressCallback, cancel: CancelToken
) -> tuple[list[Mesh], list[str], dict[str, Any]]:
    from workstation.processing.guides.distance_field import offset_surface
    from workstation.processing.guides.manifold_bridge import to_manifold

    mesh = _one_input("offset", inputs)
    to_manifold(mesh)  # a closed solid, or the reason why not
    distance = parameters["distance_mm"]
    try:
        result = offset_surface(mesh, distance, parameters.get("spacing_mm"), progress, cancel)
    except MeshToolError as error:
        raise MeshToolError(f"Offsetting '{mesh.name}' by {distance:g} mm: {error}") from None
    if result.n_faces == 0:
        raise MeshToolError(f"Offsetting '{mesh.name}' by {distance:g} mm leaves nothing.")
    result.name = f"{mesh.name} offset"
    result.color = mesh.color
    result.report.append(
        f"Offset {'outwards' if distance > 0 else 'inwards'} by {abs(distance):g} mm"
    )
    return [result], [], {}


def _hollow(
    inputs: list[Mesh], parameters: dict[str, Any], progress: ProgressCallback, cancel: CancelToken
) -> tuple[list[Mesh], list[str], dict[str, Any]]:
    from workstation.processing.guides.hollow import DrainHole, hollow

    holes = [
        DrainHole.of(h["point_lps"], h["direction_lps"], h["diameter_mm"])
        for h in parameters["drain_holes"]
    ]
    result = hollow(
        _one_input("hollow", inputs),
        parameters["wall_mm"],
        holes,
        parameters.get("spacing_mm"),
        progress,
        cancel,
    )
    return [result.mesh], result.warnings, {"drain_holes": result.holes}


def _mirror(
    inputs: list[Mesh], parameters: dict[str, Any], progress: ProgressCallback, cancel: CancelToken
) -> tuple[list[Mesh], list[str], dict[str, Any]]:
    from workstation.processing.guides.mirror import mirror_mesh

    mesh = mirror_mesh(
        _one_input("mirror", inputs), parameters["point_lps"], parameters["normal_lps"]
    )
    mesh.report.append(
        "Mirrored across the plane through " + ", ".join(f"{v:g}" for v in parameters["point_lps"])
    )
    return [mesh], [], {}


def _transform(
    inputs: list[Mesh], parameters: dict[str, Any], progress: ProgressCallback, cancel: CancelToken
) -> tuple[list[Mesh], list[str], dict[str, Any]]:
    from workstation.processing.guides.rigid_transform import transform_mesh

    if not inputs:
        raise MeshToolError("transform needs at least one model.")
    results = []
    for mesh in inputs:
        cancel.raise_if_cancelled()
        moved = transform_mesh(mesh, parameters["matrix"])
        moved.name = f"{mesh.name} moved"
        moved.report.append("Moved by a rigid transform")
        results.append(moved)
    return results, [], {}


_RUNNERS: dict[str, Runner] = {
    "cut": _cut,
    "boolean": _boolean,
    "offset": _offset,
    "hollow": _hollow,
    "mirror": _mirror,
    "transform": _transform,
}


def operation_record(tool: str, inputs: list[Mesh], parameters: dict[str, Any]) -> dict[str, Any]:
    """The JSON-ready record of one tool run: tool, canonical parameters, inputs' SHA-256."""
    return {
        "tool": tool,
        "parameters": normalised_parameters(tool, parameters),
        "inputs": [{"name": mesh.name, "sha256": mesh_sha256(mesh)} for mesh in inputs],
    }


def run_mesh_tool(
    tool: str,
    inputs: list[Mesh],
    parameters: dict[str, Any],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> ToolResult:
    """Run one mesh tool; MeshToolError on bad input, each result's solid check reported."""
    operation = operation_record(tool, inputs, parameters)
    if not inputs:
        raise MeshToolError(f"{tool} needs at least one model.")
    token = cancel or CancelToken()
    meshes, warnings, details = _RUNNERS[tool](inputs, operation["parameters"], progress, token)
    checks = [check_solid(mesh) for mesh in meshes]
    for mesh, check in zip(meshes, checks, strict=True):
        if check.reasons:
            warnings.append(f"'{mesh.name}' is not a closed solid: " + ", ".join(check.reasons))
    return ToolResult(meshes, operation, checks, warnings, details)


# -- the session ----------------------------------------------------------------------------
def add_results_to_session(
    session: Session, result: ToolResult, source_ids: list[str], names: list[str] | None = None
) -> list[ModelEntry]:
    """Add a tool's results as new models whose parameters are the operation record.

    Each new model keeps the first source model's segment and operations, so that its
    provenance still names the segmentation it came from; ``parameters["source_models"]``
    names the models it was made of (id, name and their own parameters).
    """
    sources = [session.models[model_id] for model_id in source_ids if model_id in session.models]
    first = sources[0] if sources else None
    source_models = [
        {"model_id": entry.model_id, "name": entry.name, "parameters": dict(entry.parameters)}
        for entry in sources
    ]
    added = []
    for number, mesh in enumerate(result.meshes):
        name = names[number] if names and number < len(names) else mesh.name
        mesh.name = name
        parameters = {**result.operation, "source_models": source_models}
        if result.operation["tool"] == "cut" and "pieces" in result.details:
            parameters["piece"] = {**result.details["pieces"][number], "name": name}
        added.append(
            session.add_model(
                mesh,
                statistics=mesh_statistics(mesh).as_dict(),
                name=name,
                color=first.color if first else None,
                segment_id=first.segment_id if first else None,
                parameters=parameters,
                operations=first.operations if first else None,
            )
        )
    return added


def move_model(session: Session, model_id: str, matrix: np.ndarray) -> ModelEntry:
    """Move a model rigidly in place, appending the transform to ``parameters["transforms"]``.

    MeshToolError for a matrix that is not rotation + translation; KeyError for an
    unknown model.  The model's statistics are measured again and ``model_changed`` sent.
    """
    from workstation.processing.guides.rigid_transform import rigid_matrix, transform_mesh

    entry = session.models[model_id]
    rigid = rigid_matrix(matrix)
    before = mesh_sha256(entry.mesh)
    moved = transform_mesh(entry.mesh, rigid)
    moved.name = entry.name
    entry.mesh = moved
    entry.statistics = mesh_statistics(moved).as_dict()
    transforms = list(entry.parameters.get("transforms", []))
    transforms.append({"matrix": rigid.tolist(), "input_sha256": before})
    entry.parameters = {**entry.parameters, "transforms": transforms}
    return session.update_model(model_id)
