"""Mesh statistics a user checks before printing: size, volume, extent, pieces, closedness."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from workstation.core.mesh import Mesh
from workstation.processing.mesh_components import count_components
from workstation.processing.mesh_topology import edge_info


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
    low, high = mesh.bounds()
    info = edge_info(mesh)
    return MeshStatistics(
        triangles=mesh.n_faces,
        vertices=mesh.n_vertices,
        volume_mm3=round(mesh.signed_volume(), 3),
        area_mm2=round(mesh.area(), 3),
        bounds_min=tuple(round(float(v), 4) for v in low),  # type: ignore[arg-type]
        bounds_max=tuple(round(float(v), 4) for v in high),  # type: ignore[arg-type]
        components=count_components(mesh),
        watertight=info.watertight and mesh.n_faces > 0,
        manifold=info.manifold and mesh.n_faces > 0,
    )
