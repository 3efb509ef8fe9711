"""Mesh: a triangle surface with vertices in patient LPS millimetres."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

#: Triangles processed at once by whole-mesh sums, so 10 M-triangle meshes need no
#: gigabyte temporaries.
TRIANGLES_PER_CHUNK = 500_000


@dataclass
class Mesh:
    """Triangles ``faces`` (M, 3) indexing ``vertices`` (N, 3) in LPS mm.

    Faces are wound counter-clockwise seen from outside, so normals point outwards and
    the signed volume of a closed surface is positive.
    """

    vertices: np.ndarray
    faces: np.ndarray
    name: str = "Model"
    color: tuple[float, float, float] = (0.9, 0.85, 0.7)
    report: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.vertices = np.ascontiguousarray(self.vertices, dtype=np.float64).reshape(-1, 3)
        self.faces = np.ascontiguousarray(self.faces, dtype=np.int64).reshape(-1, 3)
        if self.faces.size and (self.faces.min() < 0 or self.faces.max() >= len(self.vertices)):
            raise ValueError("mesh faces index vertices that do not exist")

    @property
    def n_vertices(self) -> int:
        """Number of vertices."""
        return len(self.vertices)

    @property
    def n_faces(self) -> int:
        """Number of triangles."""
        return len(self.faces)

    def signed_volume(self) -> float:
        """Signed enclosed volume in mm^3 (positive for outward-wound closed surfaces)."""
        total = 0.0
        for a, b, c in self._triangle_chunks():
            total += float(np.einsum("ij,ij->", a, np.cross(b, c)))
        return total / 6.0

    def area(self) -> float:
        """Surface area in mm^2."""
        total = 0.0
        for a, b, c in self._triangle_chunks():
            total += float(np.linalg.norm(np.cross(b - a, c - a), axis=1).sum())
        return total / 2.0

    def volume_and_area(self) -> tuple[float, float]:
        """(signed volume in mm^3, area in mm^2) in one pass over the triangles."""
        volume = area = 0.0
        for a, b, c in self._triangle_chunks():
            volume += float(np.einsum("ij,ij->", a, np.cross(b, c)))
            area += float(np.linalg.norm(np.cross(b - a, c - a), axis=1).sum())
        return volume / 6.0, area / 2.0

    def _triangle_chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Corner coordinates of the triangles, a bounded number at a time (caps memory)."""
        for start in range(0, self.n_faces, TRIANGLES_PER_CHUNK):
            faces = self.faces[start : start + TRIANGLES_PER_CHUNK]
            yield self.vertices[faces[:, 0]], self.vertices[faces[:, 1]], self.vertices[faces[:, 2]]

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """LPS (min, max) of the vertices."""
        if not self.n_vertices:
            zero = np.zeros(3)
            return zero, zero
        return self.vertices.min(axis=0), self.vertices.max(axis=0)
