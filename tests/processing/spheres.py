"""Ground truth for surface tests: ball phantoms on arbitrary grids and per-body mesh measures."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from tests.support.dicom_factory import expected_affine, normal_of, sphere_array
from workstation.core.mesh import Mesh
from workstation.core.volume import Volume


def rotation(axis: str, degrees: float) -> np.ndarray:
    """3x3 rotation about x, y or z."""
    t = np.radians(degrees)
    c, s = np.cos(t), np.sin(t)
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    matrix = np.eye(3)
    matrix[i, i] = matrix[j, j] = c
    matrix[i, j], matrix[j, i] = -s, s
    return matrix


#: name -> (row cosine, column cosine) of the image planes.
ORIENTATIONS = {
    "axial": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "sagittal": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    "double-oblique": tuple(
        tuple(rotation("z", 30.0) @ rotation("x", 20.0) @ np.array(v))
        for v in ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0))
    ),
}

#: Ball centres (LPS mm, relative to the grid centre) and radii (mm).
OFFSETS = ((-9.0, -4.0, 3.0), (10.0, 7.0, -5.0))
RADII = (8.0, 6.0)


def grid_affine(
    orientation: str,
    shape: tuple[int, int, int],
    pixel_spacing=(0.9, 0.8),
    slice_spacing: float = 1.2,
    tilt_degrees: float = 0.0,
    reverse: bool = False,
    centre=(12.0, -30.0, 45.0),
) -> np.ndarray:
    """Affine of a grid of ``shape`` centred on ``centre``; tilt shears the slice step."""
    row, col = ORIENTATIONS[orientation]
    normal = normal_of(row, col)
    step = normal * slice_spacing * (-1.0 if reverse else 1.0)
    if tilt_degrees:
        step = step + np.asarray(col) * slice_spacing * np.tan(np.radians(tilt_degrees))
    affine = expected_affine(row, col, pixel_spacing, (0.0, 0.0, 0.0), step)
    middle = (np.asarray(shape, float) - 1) / 2
    affine[:3, 3] = np.asarray(centre) - affine[:3, :3] @ middle
    return affine


def ball_volume(
    affine: np.ndarray, shape, centre=(12.0, -30.0, 45.0), inside: int = 1000, outside: int = -1000
) -> tuple[Volume, list]:
    """A CT-like volume (``inside`` HU balls in ``outside`` HU) and its (centre, radius) truths.

    A surface at the threshold half-way between ``inside`` and ``outside`` is exact.
    """
    centres = [tuple(np.asarray(centre) + np.asarray(o)) for o in OFFSETS]

    def to_lps(s, r, c):
        return tuple(
            affine[i, 0] * s + affine[i, 1] * r + affine[i, 2] * c + affine[i, 3] for i in range(3)
        )

    array = sphere_array(shape, to_lps, centres, RADII, inside=inside, outside=outside)
    return Volume(array, affine, units="HU"), list(zip(centres, RADII, strict=True))


def bodies(mesh: Mesh) -> list[tuple[np.ndarray, float]]:
    """(volume-weighted centroid, enclosed volume) of every connected piece of a closed mesh."""
    faces = mesh.faces
    n = mesh.n_vertices
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]]])
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    face_label = labels[faces[:, 0]]
    result = []
    for label in np.unique(face_label):
        part = faces[face_label == label]
        a, b, c = (mesh.vertices[part[:, i]] for i in range(3))
        signed = np.einsum("ij,ij->i", a, np.cross(b, c)) / 6.0
        volume = signed.sum()
        centroid = ((a + b + c) / 4.0 * signed[:, None]).sum(axis=0) / volume
        result.append((centroid, float(volume)))
    return result


def assert_bodies_match(mesh: Mesh, truths, centroid_mm: float = 0.5, volume_rel: float = 0.03):
    """Every true ball has exactly one mesh body with centroid and volume within tolerance."""
    found = bodies(mesh)
    assert len(found) == len(truths), f"{len(found)} bodies for {len(truths)} balls"
    for centre, radius in truths:
        centroid, volume = min(found, key=lambda item: np.linalg.norm(item[0] - centre))
        expected = 4.0 / 3.0 * np.pi * radius**3
        assert np.linalg.norm(centroid - np.asarray(centre)) < centroid_mm, (centroid, centre)
        assert abs(volume - expected) / expected < volume_rel, (volume, expected)
