"""Read multi-label NIfTI-1/2 label maps (.nii, .nii.gz): ITK-SNAP, TotalSegmentator, nnU-Net.

One segment per distinct non-zero value.  The voxel-to-patient map is the sform when its
code is above 0, else the qform; with neither the file has no known place and is
refused.  NIfTI's voxel axes are (i, j, k) = (column, row, slice) and its space is RAS,
so our (slice, row, col) affine is ``diag(-1, -1, 1, 1) @ A @ P`` (P swaps i and k): the
full matrix, so sheared and oblique grids are exact.  Names come from the label table
given, else from a label table stored in the header (TotalSegmentator's Caret XML
extension), else "Label N".  Voxels must be whole numbers (integer types, or scaled or
float data whose values are all whole); a 4D image is refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core import geometry
from workstation.core.errors import SegmentationError
from workstation.core.memory_budget import check_memory
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.io.label_tables import (
    LabelTable,
    entry_for,
    is_caret_label_table,
    parse_caret_xml,
)
from workstation.io.readers import (
    ImportedSegmentation,
    ImportedStructure,
    distinct_labels,
    register_reader,
)

#: Takes our indices (slice, row, col) to NIfTI's (i, j, k) = (col, row, slice), and back.
SWAP_I_K = np.array(
    [[0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)


def _fail(path: Path, message: str) -> SegmentationError:
    return SegmentationError(f"{path.name}: {message}")


def lps_affine(nifti_affine: np.ndarray) -> np.ndarray:
    """Our voxel-to-LPS affine of a NIfTI voxel (i, j, k)-to-RAS matrix."""
    return geometry.LPS_TO_RAS @ np.asarray(nifti_affine, dtype=np.float64) @ SWAP_I_K


def _load(path: Path) -> Any:
    import nibabel

    try:
        image = nibabel.load(str(path))
    except FileNotFoundError:
        raise _fail(path, "does not exist") from None
    except OSError as problem:
        raise _fail(path, f"cannot read it ({problem.strerror or problem})") from None
    except Exception as problem:  # nibabel's ImageFileError, broken headers, gzip errors
        raise _fail(path, f"not a readable NIfTI file ({problem})") from None
    if not isinstance(image, nibabel.Nifti1Image | nibabel.Nifti2Image):
        raise _fail(path, f"is a {type(image).__name__}, not NIfTI")
    return image


def _affine(image: Any, path: Path) -> np.ndarray:
    header = image.header
    sform, sform_code = header.get_sform(coded=True)
    if sform is not None and int(sform_code) > 0:
        return lps_affine(sform)
    qform, qform_code = header.get_qform(coded=True)
    if qform is not None and int(qform_code) > 0:
        return lps_affine(qform)
    raise _fail(path, "has no orientation (sform and qform codes are 0), so its place is unknown")


def _shape(image: Any, path: Path) -> tuple[int, int, int]:
    shape = tuple(int(n) for n in image.shape)
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) > 3:
        volumes = int(np.prod(shape[3:]))
        raise _fail(
            path,
            f"is a 4D image ({volumes} volumes); import one 3D label map "
            "(overlapping segments: use a .seg.nrrd)",
        )
    if len(shape) < 3:
        shape = (*shape, *(1,) * (3 - len(shape)))
    return shape  # type: ignore[return-value]


def _labels(image: Any, shape: tuple[int, int, int], path: Path) -> np.ndarray:
    """The voxels as an integer array on our (slice, row, col) axes."""
    try:
        data = np.asanyarray(image.dataobj)
    except Exception as problem:  # truncated or corrupt voxel data
        raise _fail(path, f"its voxels cannot be read ({problem})") from None
    data = data.reshape(shape, order="F")
    if data.dtype.kind == "b":
        data = data.astype(np.uint8)
    elif data.dtype.kind == "f":
        if not np.all(np.isfinite(data)) or not np.array_equal(np.rint(data), data):
            raise _fail(path, "holds values that are not whole numbers, so it is not a label map")
        low, high = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
        target = np.int32 if low >= -(2**31) and high < 2**31 else np.int64
        data = data.astype(target)
    elif data.dtype.kind not in "iu":
        raise _fail(path, f"holds {data.dtype} voxels, not integer labels")
    return np.ascontiguousarray(data.transpose(2, 1, 0))


def embedded_label_table(image: Any) -> LabelTable | None:
    """The label table a header extension holds (TotalSegmentator's), or None."""
    for extension in getattr(image.header, "extensions", []):
        try:
            content = extension.get_content()
        except Exception:  # an extension nibabel cannot decode says nothing about labels
            continue
        if isinstance(content, str):
            content = content.encode("utf-8")
        if isinstance(content, bytes) and is_caret_label_table(content):
            try:
                return parse_caret_xml(content) or None
            except ValueError:
                return None
    return None


def read_segmentation_nifti(
    path: str | os.PathLike[str],
    label_table: LabelTable | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> ImportedSegmentation:
    """One segment per label value of a NIfTI label map, on the file's own grid."""
    source = Path(path)
    token = cancel or CancelToken()
    progress(0.0, f"Reading {source.name}")
    image = _load(source)
    shape = _shape(image, source)
    affine = _affine(image, source)
    voxels = int(np.prod(shape, dtype=np.int64))
    itemsize = int(image.header.get_data_dtype().itemsize)
    check_memory(voxels * (itemsize + 2), f"reading {source.name} ({voxels:,} voxels)")
    labels = _labels(image, shape, source)
    token.raise_if_cancelled()
    progress(0.6, f"Reading {source.name}")
    embedded = embedded_label_table(image)
    table = {**(embedded or {}), **(label_table or {})}
    values = distinct_labels(labels, token)
    warnings: list[str] = []
    if table:
        unnamed = [value for value in values if value not in table]
        if unnamed:
            listed = ", ".join(str(v) for v in unnamed[:10]) + ("…" if len(unnamed) > 10 else "")
            warnings.append(f"label(s) {listed} of {source.name} are not in the label table")
    structures = [
        ImportedStructure(entry.name, 0, value, entry.color)
        for value in values
        for entry in (entry_for(value, table),)
    ]
    kind = "TotalSegmentator label map" if embedded else "NIfTI label map"
    progress(1.0, f"Reading {source.name}")
    return ImportedSegmentation(
        labels.shape,  # type: ignore[arg-type]
        affine,
        [labels],
        structures,
        kind,
        warnings,
    )


register_reader("segmentation", ".nii.gz", read_segmentation_nifti, "Compressed NIfTI label map")
register_reader("segmentation", ".nii", read_segmentation_nifti, "NIfTI label map")
