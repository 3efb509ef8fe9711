"""Mesh: a triangle surface with vertices in patient LPS millimetres."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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
        if not self.n_faces:
            return 0.0
        a, b, c = (self.vertices[self.faces[:, i]] for i in range(3))
        return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)

    def area(self) -> float:
        """Surface area in mm^2."""
        if not self.n_faces:
            return 0.0
        a, b, c = (self.vertices[self.faces[:, i]] for i in range(3))
        return float(np.linalg.norm(np.cross(b - a, c - a), axis=1).sum() / 2.0)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """LPS (min, max) of the vertices."""
        if not self.n_vertices:
            zero = np.zeros(3)
            return zero, zero
        return self.vertices.min(axis=0), self.vertices.max(axis=0)
