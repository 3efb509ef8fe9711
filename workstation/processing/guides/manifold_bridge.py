"""Our Mesh to and from manifold3d solids (float64 LPS mm), with reasons when a mesh is not one."""

from __future__ import annotations

from dataclasses import dataclass

import manifold3d
import numpy as np

from workstation.core.errors import MeshToolError
from workstation.core.mesh import Mesh
from workstation.processing.mesh_components import count_components
from workstation.processing.mesh_topology import EdgeInfo, edge_counts, edge_info

#: Why manifold3d refused a mesh, in the user's words (by its status name).
_STATUS_REASONS = {
    "NonFiniteVertex": "points with non-finite coordinates",
    "NotManifold": "not a closed, consistently wound surface",
    "VertexOutOfBounds": "triangles refer to missing points",
    "ResultTooLarge": "the result is too large",
    "InvalidConstruction": "the solid could not be constructed",
    "Cancelled": "cancelled",
}


@dataclass(frozen=True)
class SolidCheck:
    """Whether a mesh is a printable closed solid, with its volume and the reasons if not."""

    watertight: bool
    manifold: bool
    components: int
    volume_mm3: float
    reasons: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Closed and manifold with a positive volume."""
        return self.watertight and self.manifold and self.volume_mm3 > 0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready record of the check."""
        return {
            "watertight": self.watertight,
            "manifold": self.manifold,
            "components": self.components,
            "volume_mm3": self.volume_mm3,
            "reasons": list(self.reasons),
        }


def _topology_reasons(mesh: Mesh, info: EdgeInfo | None = None) -> list[str]:
    """Plain counts of what keeps ``mesh`` from being a closed manifold (empty if none)."""
    if mesh.n_faces == 0:
        return ["it has no triangles"]
    info = info or edge_info(mesh)
    reasons = []
    if info.boundary_edges:
        reasons.append(f"open edges: {info.boundary_edges:,}")
    if info.nonmanifold_edges:
        reasons.append(f"non-manifold edges: {info.nonmanifold_edges:,}")
    if info.inconsistent_edges:
        reasons.append(f"inconsistently wound edges: {info.inconsistent_edges:,}")
    if info.nonmanifold_vertices:
        reasons.append(f"pinched points: {info.nonmanifold_vertices:,}")
    if not np.isfinite(mesh.vertices).all():
        reasons.append("points with non-finite coordinates")
    return reasons


def check_solid(mesh: Mesh) -> SolidCheck:
    """Check ``mesh`` is watertight, manifold and encloses a positive volume; say why not."""
    if mesh.n_faces == 0:
        return SolidCheck(False, False, 0, 0.0, ("it has no triangles",))
    info = edge_info(mesh)
    reasons = _topology_reasons(mesh, info)
    volume = mesh.signed_volume()
    if info.watertight and volume <= 0:
        reasons.append(f"inside out or empty (signed volume {volume:.6g} mm^3)")
    return SolidCheck(
        watertight=info.watertight,
        manifold=info.manifold,
        components=_solid_count(mesh) if info.watertight else count_components(mesh),
        volume_mm3=float(volume),
        reasons=tuple(reasons),
    )


def _solid_count(mesh: Mesh) -> int:
    """Closed pieces enclosing a positive volume (a cavity's inner surface is no piece)."""
    from workstation.processing.mesh_components import pieces

    return int(np.count_nonzero(pieces(mesh).volumes > 0))


def to_manifold(mesh: Mesh) -> manifold3d.Manifold:
    """Build a manifold3d solid from ``mesh`` (MeshToolError naming why it is not a solid)."""
    if mesh.n_faces == 0:
        raise MeshToolError(f"'{mesh.name}' is not a closed solid: it has no triangles")
    if any(edge_counts(mesh.faces, mesh.n_vertices)):  # open, shared by 3+, or flipped edges
        raise MeshToolError(
            f"'{mesh.name}' is not a closed solid: " + ", ".join(_topology_reasons(mesh))
        )
    solid = manifold3d.Manifold(
        manifold3d.Mesh64(
            np.ascontiguousarray(mesh.vertices, dtype=np.float64),
            np.ascontiguousarray(mesh.faces, dtype=np.uint64),
        )
    )
    status = solid.status().name
    if status != "NoError":
        # the edge counts say what is wrong in the user's terms; the status otherwise
        reasons = _topology_reasons(mesh) or [_STATUS_REASONS.get(status, status)]
        raise MeshToolError(f"'{mesh.name}' is not a closed solid: " + ", ".join(reasons))
    if solid.is_empty() or solid.volume() <= 0:
        raise MeshToolError(
            f"'{mesh.name}' is not a closed solid: it encloses no volume (or is inside out)"
        )
    return solid


def from_manifold(solid: manifold3d.Manifold, name: str = "Model") -> Mesh:
    """Our Mesh (float64 LPS mm, outward winding) from a manifold3d solid."""
    status = solid.status().name
    if status != "NoError":
        raise MeshToolError(f"'{name}' could not be built: {_STATUS_REASONS.get(status, status)}")
    mesh64 = solid.to_mesh64()
    vertices = np.asarray(mesh64.vert_properties, dtype=np.float64)[:, :3]
    faces = np.asarray(mesh64.tri_verts, dtype=np.int64).reshape(-1, 3)
    return Mesh(vertices.copy(), faces.copy(), name=name)


def winding_number(mesh: Mesh, point: np.ndarray) -> float:
    """Generalised winding number of ``mesh`` around ``point`` (1 inside a closed solid, 0 out)."""
    total = 0.0
    shift = np.asarray(point, dtype=np.float64)
    for a, b, c in mesh._triangle_chunks():
        a, b, c = a - shift, b - shift, c - shift
        la, lb, lc = (np.linalg.norm(x, axis=1) for x in (a, b, c))
        numerator = np.einsum("ij,ij->i", a, np.cross(b, c))
        denominator = (
            la * lb * lc
            + np.einsum("ij,ij->i", a, b) * lc
            + np.einsum("ij,ij->i", b, c) * la
            + np.einsum("ij,ij->i", c, a) * lb
        )
        total += float(np.arctan2(numerator, denominator).sum())
    return total / (2.0 * np.pi)


def solid_pieces(mesh: Mesh) -> list[Mesh]:
    """Split a closed mesh into its solid pieces, each keeping the cavities inside it.

    Connected surfaces enclosing a positive volume are pieces; inward-facing surfaces
    (cavities) join the smallest piece that contains them.  Pieces come largest first.
    """
    from workstation.processing.mesh_components import pieces

    if mesh.n_faces == 0:
        return []
    parts = pieces(mesh)
    if parts.count == 1:
        return [mesh]
    shells = [np.flatnonzero(parts.of_face == label) for label in range(parts.count)]
    solids = [label for label in range(parts.count) if parts.volumes[label] > 0]
    owner = {label: label for label in solids}
    shell_meshes = {label: _faces_mesh(mesh, shells[label]) for label in solids}
    by_size = sorted(solids, key=lambda label: parts.volumes[label])
    for label in range(parts.count):
        if parts.volumes[label] > 0 or len(shells[label]) == 0:
            continue
        probe = mesh.vertices[mesh.faces[shells[label][0], 0]]
        for candidate in by_size:
            if winding_number(shell_meshes[candidate], probe) > 0.5:
                owner[label] = candidate
                break
    result = []
    for solid in sorted(solids, key=lambda label: -parts.volumes[label]):
        faces = np.concatenate([shells[label] for label, to in owner.items() if to == solid])
        result.append(_faces_mesh(mesh, np.sort(faces)))
    return result


def _faces_mesh(mesh: Mesh, face_indices: np.ndarray) -> Mesh:
    """The mesh of some of ``mesh``'s triangles, with only the points they use."""
    from workstation.processing.mesh_edit import keep_faces

    keep = np.zeros(mesh.n_faces, dtype=bool)
    keep[face_indices] = True
    return keep_faces(mesh, keep)
