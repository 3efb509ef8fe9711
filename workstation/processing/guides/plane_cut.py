"""Cut a closed model by planes into closed, capped pieces, each connected piece on its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import manifold3d
import numpy as np

from workstation.core.errors import MeshToolError
from workstation.core.mesh import Mesh
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.processing.guides.manifold_bridge import from_manifold, solid_pieces, to_manifold
from workstation.processing.guides.mirror import point3, unit_normal


@dataclass(frozen=True)
class Plane:
    """A cutting plane: a point on it and its unit normal, LPS mm."""

    point_lps: tuple[float, float, float]
    normal_lps: tuple[float, float, float]

    @classmethod
    def of(cls, point_lps: Sequence[float], normal_lps: Sequence[float]) -> Plane:
        """A plane with its normal scaled to length 1 (MeshToolError for bad numbers)."""
        point = point3(point_lps)
        normal = unit_normal(normal_lps)
        return cls(
            (float(point[0]), float(point[1]), float(point[2])),
            (float(normal[0]), float(normal[1]), float(normal[2])),
        )

    @property
    def offset(self) -> float:
        """Distance of the plane from the origin along its normal."""
        return float(np.dot(self.point_lps, self.normal_lps))


@dataclass
class CutPiece:
    """One closed piece of a cut: its mesh and on which side of each plane it lies."""

    mesh: Mesh
    sides: tuple[str, ...]  # per plane: "+" along the normal, "-" against it

    def to_dict(self) -> dict[str, object]:
        """JSON-ready description of the piece."""
        return {"name": self.mesh.name, "sides": list(self.sides)}


def cut_by_planes(
    mesh: Mesh,
    planes: Sequence[Plane],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> tuple[list[CutPiece], list[str]]:
    """Cut ``mesh`` by every plane; returns (pieces, warnings).

    Pieces are closed (each cut face is capped), one per connected piece, named
    "NAME 1", "NAME 2", ... largest first.  A warning names each plane that misses the model.
    """
    if not planes:
        raise MeshToolError("A cut needs at least one plane.")
    token = cancel or CancelToken()
    solid = to_manifold(mesh)
    parts: list[tuple[manifold3d.Manifold, tuple[str, ...]]] = [(solid, ())]
    warnings: list[str] = []
    for number, plane in enumerate(planes, start=1):
        token.raise_if_cancelled()
        progress(0.8 * (number - 1) / len(planes), f"Cutting by plane {number}")
        split: list[tuple[manifold3d.Manifold, tuple[str, ...]]] = []
        cut_anything = False
        for part, sides in parts:
            above, below = part.split_by_plane(plane.normal_lps, plane.offset)
            cut_anything |= not above.is_empty() and not below.is_empty()
            split += [(p, (*sides, s)) for p, s in ((above, "+"), (below, "-")) if not p.is_empty()]
        if not cut_anything:
            warnings.append(f"plane {number} does not cut the model")
        parts = split
    progress(0.8, "Separating the pieces")
    pieces: list[CutPiece] = []
    for part, sides in parts:
        token.raise_if_cancelled()
        pieces += [CutPiece(solid, sides) for solid in solid_pieces(from_manifold(part, mesh.name))]
    pieces.sort(key=lambda piece: -piece.mesh.signed_volume())
    for number, piece in enumerate(pieces, start=1):
        piece.mesh.name = f"{mesh.name} {number}"
        piece.mesh.color = mesh.color
        piece.mesh.report.append(
            f"Piece {number} of {len(pieces)} of {mesh.name} cut by {len(planes)} plane(s)"
        )
    progress(1.0, "Done")
    return pieces, warnings
