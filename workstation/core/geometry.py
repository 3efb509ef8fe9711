"""Pure geometry on 4x4 affines that map array index ``(slice, row, col)`` to patient LPS mm.

Convention used everywhere in the workstation: ``affine @ [s, r, c, 1] = [x, y, z, 1]``
with x towards the patient's Left, y Posterior, z Superior (DICOM LPS).  Column 0 is
the step between slices, column 1 the step between rows (DICOM column direction times
the row spacing), column 2 the step between columns, column 3 the first voxel centre.
"""

from __future__ import annotations

import numpy as np

#: Multiply an LPS point (homogeneous) by this to get RAS, and vice versa.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])

#: Tolerance (radians-ish, on unit vectors) under which two directions count as equal.
DIRECTION_TOLERANCE = 1e-3


def validate_affine(affine: np.ndarray) -> np.ndarray:
    """Return ``affine`` as float64 4x4, raising ValueError when it is not a valid map."""
    matrix = np.asarray(affine, dtype=np.float64)
    if matrix.shape != (4, 4):
        raise ValueError(f"affine must be 4x4, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError("affine contains NaN or infinite values")
    if not np.allclose(matrix[3], [0.0, 0.0, 0.0, 1.0]):
        raise ValueError(f"affine last row must be [0 0 0 1], got {matrix[3].tolist()}")
    if abs(np.linalg.det(matrix[:3, :3])) < 1e-12:
        raise ValueError("affine is singular (zero spacing or parallel axes)")
    return matrix


def voxel_spacing(affine: np.ndarray) -> np.ndarray:
    """Step lengths in mm along (slice, row, col): the norms of the affine's columns."""
    return np.linalg.norm(np.asarray(affine)[:3, :3], axis=0)


def axis_directions(affine: np.ndarray) -> np.ndarray:
    """Unit vectors (as columns) of the slice, row and column steps in LPS."""
    matrix = np.asarray(affine)[:3, :3]
    return matrix / np.linalg.norm(matrix, axis=0)


def voxel_volume_mm3(affine: np.ndarray) -> float:
    """Volume of one voxel in mm^3: |det| of the affine's 3x3 part (exact for shear too)."""
    return float(abs(np.linalg.det(np.asarray(affine, dtype=np.float64)[:3, :3])))


def slice_normal(affine: np.ndarray) -> np.ndarray:
    """Unit normal of the image planes: cross(row direction, column direction) of DICOM.

    DICOM's row direction cosine (IOP[0:3]) is the step between *columns*; its column
    direction cosine (IOP[3:6]) is the step between *rows*.
    """
    directions = axis_directions(affine)
    normal = np.cross(directions[:, 2], directions[:, 1])
    return normal / np.linalg.norm(normal)


def shear_angle_degrees(affine: np.ndarray) -> float:
    """Angle between the slice step and the plane normal; non-zero for gantry tilt."""
    directions = axis_directions(affine)
    cosine = abs(float(np.dot(directions[:, 0], slice_normal(affine))))
    return float(np.degrees(np.arccos(min(cosine, 1.0))))


def is_sheared(affine: np.ndarray, tolerance_degrees: float = 0.01) -> bool:
    """True when the slice step is not perpendicular to the image planes."""
    return shear_angle_degrees(affine) > tolerance_degrees


def orientation_name(affine: np.ndarray, tolerance: float = 0.05) -> str:
    """Classify the image planes as axial, coronal, sagittal or oblique from their normal."""
    normal = np.abs(slice_normal(affine))
    main_axis = int(np.argmax(normal))
    if normal[main_axis] < 1.0 - tolerance:
        return "oblique"
    return ("sagittal", "coronal", "axial")[main_axis]


def index_to_lps(affine: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Map (N, 3) array indices (slice, row, col) to (N, 3) LPS points in mm."""
    points = np.asarray(indices, dtype=np.float64).reshape(-1, 3)
    matrix = np.asarray(affine, dtype=np.float64)
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def lps_to_index(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map (N, 3) LPS points in mm to fractional array indices (slice, row, col)."""
    inverse = np.linalg.inv(np.asarray(affine, dtype=np.float64))
    lps = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    return lps @ inverse[:3, :3].T + inverse[:3, 3]


def corner_points(shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
    """The 8 corner voxel centres of an array of ``shape`` (slice, row, col), in LPS mm."""
    last = [max(n - 1, 0) for n in shape[:3]]
    corners = np.array(
        [[s, r, c] for s in (0, last[0]) for r in (0, last[1]) for c in (0, last[2])],
        dtype=np.float64,
    )
    return index_to_lps(affine, corners)


def bounding_box(shape: tuple[int, ...], affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned LPS bounds (min, max) of the voxel centres of an array."""
    corners = corner_points(shape, affine)
    return corners.min(axis=0), corners.max(axis=0)


def lps_to_ras_points(points: np.ndarray) -> np.ndarray:
    """Flip the first two coordinates of (N, 3) points: LPS <-> RAS."""
    converted = np.array(points, dtype=np.float64, copy=True)
    converted[..., :2] *= -1.0
    return converted


def direction_letters(vector: np.ndarray, threshold: float = 0.3) -> str:
    """Patient-direction letters a vector points to, strongest first (e.g. 'LP' or 'S').

    Used for orientation labels: +x is L, +y is P, +z is S in LPS.
    """
    unit = np.asarray(vector, dtype=np.float64)
    unit = unit / np.linalg.norm(unit)
    letters = []
    for axis in np.argsort(-np.abs(unit)):
        if abs(unit[axis]) < threshold:
            continue
        positive, negative = (("L", "R"), ("P", "A"), ("S", "I"))[axis]
        letters.append(positive if unit[axis] > 0 else negative)
    return "".join(letters)


def opposite_letters(letters: str) -> str:
    """Mirror patient-direction letters: 'LP' -> 'RA'."""
    table = str.maketrans("LRAPSI", "RLPAIS")
    return letters.translate(table)
