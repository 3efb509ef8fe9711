"""Mesh statistics a user checks before printing: size, volume, extent, pieces, closedness."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from workstation.core.mesh import Mesh
from workstation.processing.mesh_components import count_components
from workstation.processing.mesh_repair import split_nonmanifold_vertices
from workstation.processing.mesh_topology import EdgeInfo, analyse_edges, edge_info


@dataclass
class MeshStatistics:
    """What a user checks before printing: size, volume, extent, pieces and closedness."""

    triangles: int
    vertices: int
    volume_mm3: float
    area_mm2: float
    bounds_min: tuple[float, float, float]
    bounds_max: tuple[float, float, float]
    components: int
    watertight: bool
    manifold: bool

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-ready dictionary."""
        data = asdict(self)
        data["bounds_min"] = list(self.bounds_min)
        data["bounds_max"] = list(self.bounds_max)
        return data


def mesh_statistics(mesh: Mesh) -> MeshStatistics:
    """Triangles, vertices, volume, area, LPS bounds, components, watertight, manifold."""
    return _statistics(mesh, edge_info(mesh))


def statistics_splitting_pinched_points(mesh: Mesh) -> tuple[Mesh, MeshStatistics, int]:
    """Statistics of ``mesh``, a closed one first split at its pinched points.

    A watertight mesh whose pinched points (several fans of triangles meeting at one
    point) are split, each fan getting its own copy of the point, keeps its triangles and
    edges and becomes manifold.  One edge analysis serves the check and the split.
    Returns (mesh, its statistics, points added).
    """
    if mesh.n_faces == 0:
        return mesh, mesh_statistics(mesh), 0
    analysis = analyse_edges(mesh.faces, mesh.n_vertices)
    info = edge_info(mesh, analysis)
    added = 0
    if info.watertight and not info.manifold:
        mesh, added = split_nonmanifold_vertices(mesh, analysis)
        info = EdgeInfo(info.boundary_edges, info.nonmanifold_edges, info.inconsistent_edges, 0)
    return mesh, _statistics(mesh, info), added


def _statistics(mesh: Mesh, info: EdgeInfo) -> MeshStatistics:
    low, high = mesh.bounds()
    volume, area = mesh.volume_and_area()
    return MeshStatistics(
        triangles=mesh.n_faces,
        vertices=mesh.n_vertices,
        volume_mm3=round(volume, 3),
        area_mm2=round(area, 3),
        bounds_min=tuple(round(float(v), 4) for v in low),  # type: ignore[arg-type]
        bounds_max=tuple(round(float(v), 4) for v in high),  # type: ignore[arg-type]
        components=count_components(mesh),
        watertight=info.watertight and mesh.n_faces > 0,
        manifold=info.manifold and mesh.n_faces > 0,
    )
