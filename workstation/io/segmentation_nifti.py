"""Write a Segmentation to NIfTI-1 (.nii.gz or .nii): uint8 label volumes in RAS.

NIfTI's voxel axes are (i, j, k) = (column, row, slice) and its space is RAS, so the
data is our (slice, row, col) array transposed and the affine is
``diag(-1, -1, 1, 1) @ affine_lps @ P``, P taking (i, j, k) to (slice, row, col).
The sform holds it (code 1, scanner), and the qform too when it can: a qform holds only
rotations and zooms, so a sheared (gantry tilt) grid gets qform code 0 and readers use
the sform.  NIfTI-1 keeps both in float32 (about 1e-5 mm at 300 mm from the origin).
Several layers make a 4D image (i, j, k, layer); labels are those of the NRRD writer.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from workstation.core import geometry
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.core.segmentation import Segmentation
from workstation.io.atomic_write import atomic_write
from workstation.io.progress_stream import ProgressStream
from workstation.io.segment_labels import LabelLayers, start_label_write
from workstation.io.writers import register_writer

if TYPE_CHECKING:
    import nibabel

#: Takes NIfTI voxel indices (i, j, k) = (col, row, slice) to ours (slice, row, col).
NIFTI_TO_ARRAY_AXES = np.array(
    [[0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)

#: The qform is used (code 1) when it places every corner voxel this close to the sform.
QFORM_TOLERANCE_MM = 1e-3

#: gzip level of .nii.gz files.
COMPRESSION_LEVEL = 6

#: Bytes before the voxel data of a single-file NIfTI-1 without extensions.
HEADER_BYTES = 352


def nifti_affine(affine_lps: np.ndarray) -> np.ndarray:
    """The NIfTI map from voxel (i, j, k) = (col, row, slice) to RAS mm of our LPS affine."""
    return geometry.LPS_TO_RAS @ np.asarray(affine_lps, dtype=np.float64) @ NIFTI_TO_ARRAY_AXES


def nifti_data(layers: LabelLayers) -> np.ndarray:
    """Label data on NIfTI axes: (i, j, k) for one layer, (i, j, k, layer) for several (views)."""
    data = layers.arrays.transpose(3, 2, 1, 0)  # (col, row, slice, layer)
    return data[..., 0] if layers.count == 1 else data


def _qform_fits(qform: np.ndarray, affine: np.ndarray, shape: tuple[int, ...]) -> bool:
    last = [n - 1 for n in shape[:3]]
    corners = np.array(
        [[i, j, k, 1.0] for i in (0, last[0]) for j in (0, last[1]) for k in (0, last[2])]
    ).T
    return bool(np.abs(qform @ corners - affine @ corners).max() <= QFORM_TOLERANCE_MM)


def nifti_image(segmentation: Segmentation, layers: LabelLayers) -> nibabel.Nifti1Image:
    """A nibabel Nifti1Image of ``layers`` with sform (and, unless sheared, qform) set."""
    import nibabel

    data = nifti_data(layers)
    affine = nifti_affine(segmentation.affine)
    image = nibabel.Nifti1Image(data, affine)
    header = image.header
    header.set_data_dtype(np.uint8)
    header.set_xyzt_units("mm")
    header.set_intent("label")
    image.set_qform(affine, code="scanner")
    if not _qform_fits(header.get_qform(), affine, data.shape):
        image.set_qform(affine, code="unknown")
    image.set_sform(affine, code="scanner")
    return image


def write_segmentation_nifti(
    segmentation: Segmentation,
    path: str | os.PathLike[str],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> Path:
    """Write ``segmentation`` to NIfTI-1 at ``path`` (gzip for .gz), atomically; returns it."""
    from nibabel.fileholders import FileHolder

    job = start_label_write(segmentation, path, progress, cancel)
    image = nifti_image(segmentation, job.layers)
    total = HEADER_BYTES + job.layers.arrays.nbytes
    with atomic_write(job.target) as handle, contextlib.ExitStack() as stack:
        output: BinaryIO | io.BufferedIOBase = handle
        if job.target.name.lower().endswith(".gz"):
            packed = gzip.GzipFile("", "wb", COMPRESSION_LEVEL, fileobj=handle, mtime=0)
            output = stack.enter_context(packed)
        stream = ProgressStream(output, total, job.progress, job.cancel, job.text)
        image.to_file_map({"image": FileHolder(fileobj=stream)})
    return job.target


register_writer(
    "segmentation", ".nii.gz", write_segmentation_nifti, "Compressed NIfTI label volume"
)
register_writer("segmentation", ".nii", write_segmentation_nifti, "NIfTI label volume")
