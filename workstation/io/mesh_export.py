"""Write meshes to STL (binary/ASCII), OBJ, PLY and 3MF in millimetres, atomically.

Coordinates are patient LPS by default or RAS on request; the file names the system
where the format allows it: the STL header/solid name carries ``SPACE=LPS`` as 3D
Slicer writes it, OBJ and PLY carry comments, 3MF declares ``unit="millimeter"`` and
metadata (3MF core names such as Title and Designer, and the workstation's own names in
its namespace, ``sp:…``, such as the provenance record).  Every writer goes through
``atomic_write`` (a temporary file in the destination folder, moved into place), so a
failure never leaves a partial file behind.
Each format is registered under kind "mesh" in ``workstation.io.writers``.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import BinaryIO
from xml.etree import ElementTree

import numpy as np

from workstation import __version__
from workstation.core.errors import ExportError
from workstation.core.geometry import lps_to_ras_points
from workstation.core.mesh import Mesh
from workstation.io.atomic_write import atomic_write, check_writable_path
from workstation.io.writers import register_writer

#: File extensions export_mesh understands (format chosen by extension).
SUPPORTED_EXTENSIONS = (".stl", ".obj", ".ply", ".3mf")

COORDINATE_SYSTEMS = ("lps", "ras")

_SPACE_PATTERN = re.compile(rb"SPACE\s*=\s*(LPS|RAS)", re.IGNORECASE)

#: The part of a 3MF package that holds the model (and its metadata).
MODEL_PART = "3D/3dmodel.model"
_CORE_NAMESPACE = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"

#: The workstation's XML namespace for its own 3MF metadata, declared on <model> under
#: the prefix ``sp`` (the 3MF core specification requires vendor names to be prefixed
#: with a namespace declared there).
METADATA_NAMESPACE = "urn:surgical-planning-workstation:3mf:1"
METADATA_PREFIX = "sp"

#: Metadata names the 3MF core specification defines (its Table 3-1); any other name is
#: ``sp:NAME``.
WELL_KNOWN_METADATA = (
    "Title",
    "Designer",
    "Description",
    "Copyright",
    "LicenseTerms",
    "Rating",
    "CreationDate",
    "ModificationDate",
    "Application",
)
_OWN_NAME = re.compile(rf"{METADATA_PREFIX}:[A-Za-z_][A-Za-z0-9._-]*")

#: A 3MF metadata value: text, or a function of the model part's content digest that
#: returns the text (see ``model_content_sha256``).
MetadataValue = str | Callable[[str], str]


def _face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    normals = np.cross(b - a, c - a)
    lengths = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.divide(normals, lengths, out=np.zeros_like(normals), where=lengths > 0)


def _header_text(mesh: Mesh, space: str) -> str:
    return f"SPACE={space} UNITS=mm {mesh.name}"


def _write_stl_binary(handle: BinaryIO, mesh: Mesh, vertices: np.ndarray, space: str) -> None:
    header = _header_text(mesh, space).encode("ascii", "replace")[:80].ljust(80, b" ")
    record = np.dtype([("normal", "<f4", (3,)), ("corners", "<f4", (3, 3)), ("attribute", "<u2")])
    data = np.zeros(len(mesh.faces), dtype=record)
    data["normal"] = _face_normals(vertices, mesh.faces)
    data["corners"] = vertices[mesh.faces]
    handle.write(header)
    handle.write(np.uint32(len(mesh.faces)).tobytes())
    handle.write(data.tobytes())


def _write_stl_ascii(handle: BinaryIO, mesh: Mesh, vertices: np.ndarray, space: str) -> None:
    name = re.sub(r"\s+", "_", mesh.name or "model")
    normals = _face_normals(vertices, mesh.faces)
    corners = vertices[mesh.faces]
    table = np.concatenate([normals, corners.reshape(-1, 9)], axis=1)
    facet = (
        "facet normal {:.7e} {:.7e} {:.7e}\n outer loop\n"
        "  vertex {:.9e} {:.9e} {:.9e}\n  vertex {:.9e} {:.9e} {:.9e}\n"
        "  vertex {:.9e} {:.9e} {:.9e}\n endloop\nendfacet\n"
    )
    text = io.StringIO()
    text.write(f"solid {name} SPACE={space} UNITS=mm\n")
    for row in table.tolist():
        text.write(facet.format(*row))
    text.write(f"endsolid {name}\n")
    handle.write(text.getvalue().encode("ascii", "replace"))


def _write_obj(handle: BinaryIO, mesh: Mesh, vertices: np.ndarray, space: str) -> None:
    buffer = io.BytesIO()
    buffer.write(
        f"# {mesh.name}\n# written by surgical planning workstation {__version__}\n"
        f"# SPACE={space} UNITS=mm (coordinates are patient {space} millimetres)\n".encode()
    )
    np.savetxt(buffer, vertices, fmt="v %.9g %.9g %.9g")
    np.savetxt(buffer, mesh.faces + 1, fmt="f %d %d %d")
    handle.write(buffer.getvalue())


def _write_ply(handle: BinaryIO, mesh: Mesh, vertices: np.ndarray, space: str) -> None:
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"comment SPACE={space} UNITS=mm (patient {space} millimetres)\n"
        f"comment written by surgical planning workstation {__version__}\n"
        f"element vertex {len(vertices)}\n"
        "property double x\nproperty double y\nproperty double z\n"
        f"element face {len(mesh.faces)}\n"
        "property list uchar int vertex_indices\nend_header\n"
    )
    face_record = np.dtype([("count", "u1"), ("indices", "<i4", (3,))])
    faces = np.empty(len(mesh.faces), dtype=face_record)
    faces["count"] = 3
    faces["indices"] = mesh.faces
    handle.write(header.encode("ascii"))
    handle.write(np.ascontiguousarray(vertices, dtype="<f8").tobytes())
    handle.write(faces.tobytes())


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="model" '
    'ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Target="/3D/3dmodel.model" Id="rel0" '
    'Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/></Relationships>'
)


def _xml_escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _metadata_element(name: str, value: str) -> bytes:
    """One ``<metadata>`` element on one line (line breaks in the value as references)."""
    text = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("\r", "&#13;").replace("\n", "&#10;")
    return f'<metadata name="{name}">{text}</metadata>\n'.encode()


def _metadata_entries(
    title: str, space: str, metadata: Mapping[str, MetadataValue] | None
) -> dict[str, MetadataValue]:
    """The model's metadata by name: Title, Application, Description, then ``metadata``.

    Given values replace the writer's own (each name once, as the specification asks);
    the Description always starts with the coordinate system.  ValueError for a name
    that is neither a 3MF core name nor ``sp:NAME``.
    """
    space_text = f"SPACE={space}: coordinates are patient {space} millimetres"
    entries: dict[str, MetadataValue] = {
        "Title": title,
        "Application": f"surgical planning workstation {__version__}",
        "Description": space_text,
    }
    for name, value in (metadata or {}).items():
        if name not in WELL_KNOWN_METADATA and not _OWN_NAME.fullmatch(name):
            raise ValueError(
                f"3MF metadata {name!r} is neither a 3MF core name nor {METADATA_PREFIX}:NAME"
            )
        if name == "Description" and isinstance(value, str):
            value = f"{space_text}. {value}"
        entries[name] = value
    return entries


def _write_3mf(
    handle: BinaryIO,
    mesh: Mesh,
    vertices: np.ndarray,
    space: str,
    metadata: Mapping[str, MetadataValue] | None = None,
) -> None:
    """Write a 3MF package; metadata given as a function gets the content digest.

    The digest is the SHA-256 of the model part as written without the lines of those
    elements (``model_content_sha256`` computes it again from the file), so a record
    stored inside the file can name the exact content it describes.
    """
    name = _xml_escape(mesh.name or "model")
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<model unit="millimeter" xml:lang="en-US" '
        f'xmlns="{_CORE_NAMESPACE}" xmlns:{METADATA_PREFIX}="{METADATA_NAMESPACE}">\n'
    )
    pieces: list[bytes | tuple[str, Callable[[str], str]]] = [head.encode()]
    for key, value in _metadata_entries(mesh.name or "model", space, metadata).items():
        pieces.append(_metadata_element(key, value) if isinstance(value, str) else (key, value))
    parts = [f'<resources>\n<object id="1" type="model" name="{name}">\n<mesh>\n<vertices>\n']
    vertex_lines = io.StringIO()
    np.savetxt(vertex_lines, vertices, fmt='<vertex x="%.9g" y="%.9g" z="%.9g"/>')
    triangle_lines = io.StringIO()
    np.savetxt(triangle_lines, mesh.faces, fmt='<triangle v1="%d" v2="%d" v3="%d"/>')
    parts.append(vertex_lines.getvalue())
    parts.append("</vertices>\n<triangles>\n")
    parts.append(triangle_lines.getvalue())
    parts.append(
        '</triangles>\n</mesh>\n</object>\n</resources>\n<build><item objectid="1"/></build>\n'
        "</model>\n"
    )
    pieces.append("".join(parts).encode())
    digest = hashlib.sha256()
    for piece in pieces:
        if isinstance(piece, bytes):
            digest.update(piece)
    content = digest.hexdigest()
    model = b"".join(
        piece if isinstance(piece, bytes) else _metadata_element(piece[0], piece[1](content))
        for piece in pieces
    )
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("_rels/.rels", _RELS)
        zf.writestr(MODEL_PART, model)


Writer = Callable[[BinaryIO, Mesh, np.ndarray, str], None]


def _writer_for(path: Path, binary: bool) -> Writer:
    suffix = path.suffix.lower()
    if suffix == ".stl":
        return _write_stl_binary if binary else _write_stl_ascii
    writers: dict[str, Writer] = {".obj": _write_obj, ".ply": _write_ply, ".3mf": _write_3mf}
    if suffix not in writers:
        supported = ", ".join(SUPPORTED_EXTENSIONS)
        raise ExportError(
            f"Cannot write '{path.name}': unknown mesh format '{suffix or '(none)'}'; "
            f"use one of {supported}."
        )
    return writers[suffix]


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """Validate an output path (known extension, writable folder, name length) before any work."""
    _writer_for(Path(path), True)  # the format first: it needs no disk access
    return check_writable_path(path)


def export_mesh(
    mesh: Mesh,
    path: str | os.PathLike[str],
    coords: str = "lps",
    binary: bool = True,
    metadata: Mapping[str, MetadataValue] | None = None,
) -> Path:
    """Write ``mesh`` to ``path`` (format by extension) in mm, LPS or RAS; returns the path.

    ``metadata`` goes into a 3MF file's model (3MF core names or ``sp:NAME``); the other
    formats have no place for it and ignore it.
    """
    target = check_output_path(path)
    writer = _writer_for(target, binary)
    if writer is _write_3mf and metadata:
        writer = functools.partial(_write_3mf, metadata=metadata)
    space = coords.lower()
    if space not in COORDINATE_SYSTEMS:
        raise ExportError(f"Unknown coordinate system '{coords}'; use lps or ras.")
    if mesh.n_faces == 0:
        raise ExportError(f"Cannot write {target}: the model has no triangles.")
    vertices = lps_to_ras_points(mesh.vertices) if space == "ras" else mesh.vertices
    with atomic_write(target) as handle:
        writer(handle, mesh, vertices, space.upper())
    return target


def binary_stl_bytes(mesh: Mesh, coords: str = "lps") -> bytes:
    """The bytes ``export_mesh`` writes for ``mesh`` to a binary .stl file (for embedding)."""
    space = coords.lower()
    if space not in COORDINATE_SYSTEMS:
        raise ExportError(f"Unknown coordinate system '{coords}'; use lps or ras.")
    if mesh.n_faces == 0:
        raise ExportError("Cannot write the model: it has no triangles.")
    vertices = lps_to_ras_points(mesh.vertices) if space == "ras" else mesh.vertices
    buffer = io.BytesIO()
    _write_stl_binary(buffer, mesh, vertices, space.upper())
    return buffer.getvalue()


def read_3mf_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The model metadata of a 3MF file by name (names in our namespace as ``sp:NAME``).

    Only the head of the model part is parsed (up to <resources>).  ExportError when
    the file is no readable 3MF package.
    """
    source = Path(path)
    found: dict[str, str] = {}
    prefixes: dict[str, str] = {}
    try:
        with zipfile.ZipFile(source) as zf, zf.open(MODEL_PART) as stream:
            for event, item in ElementTree.iterparse(stream, events=("start-ns", "start", "end")):
                if event == "start-ns":
                    prefix, uri = item  # type: ignore[misc]
                    prefixes[prefix] = uri
                elif event == "start" and item.tag == f"{{{_CORE_NAMESPACE}}}resources":
                    break
                elif event == "end" and item.tag == f"{{{_CORE_NAMESPACE}}}metadata":
                    found[_own_name(item.get("name", ""), prefixes)] = item.text or ""
    except (OSError, KeyError, zipfile.BadZipFile, ElementTree.ParseError) as error:
        raise ExportError(f"Cannot read the 3MF file {source.name}: {error}") from None
    return found


def _own_name(name: str, prefixes: dict[str, str]) -> str:
    """``name`` with the prefix of our namespace written as ``sp`` (whatever the file used)."""
    prefix, colon, local = name.partition(":")
    if colon and prefixes.get(prefix) == METADATA_NAMESPACE:
        return f"{METADATA_PREFIX}:{local}"
    return name


def model_content_sha256(path: str | os.PathLike[str], leaving_out: Iterable[str]) -> str:
    """SHA-256 of a 3MF file's model part without the metadata lines named in ``leaving_out``.

    The digest ``_write_3mf`` hands to metadata given as functions: the bytes of
    3D/3dmodel.model, each element on its line as written, minus those elements' lines.
    ExportError when the file is no readable 3MF package.
    """
    source = Path(path)
    skipped = tuple(f'<metadata name="{name}"'.encode() for name in leaving_out)
    digest = hashlib.sha256()
    try:
        with zipfile.ZipFile(source) as zf, zf.open(MODEL_PART) as stream:
            for line in stream:
                if not (line.startswith(skipped) and line.endswith(b"</metadata>\n")):
                    digest.update(line)
    except (OSError, KeyError, zipfile.BadZipFile) as error:
        raise ExportError(f"Cannot read the 3MF file {source.name}: {error}") from None
    return digest.hexdigest()


def file_coordinate_system(path: str | os.PathLike[str]) -> str:
    """The coordinate system a mesh file declares ("lps" or "ras"); "lps" when it says none."""
    source = Path(path)
    try:
        if source.suffix.lower() == ".3mf":
            with zipfile.ZipFile(source) as zf:
                head = zf.read(MODEL_PART)[:4096]
        else:
            with open(source, "rb") as handle:
                head = handle.read(4096)
    except (OSError, KeyError, zipfile.BadZipFile):
        return "lps"
    match = _SPACE_PATTERN.search(head)
    return match.group(1).decode().lower() if match else "lps"


def read_mesh(path: str | os.PathLike[str]) -> Mesh:
    """Read an STL/OBJ/PLY/3MF file as a Mesh in LPS mm (converting files that declare RAS)."""
    import trimesh

    source = Path(path)
    if not source.is_file():
        raise ExportError(f"No such mesh file: {source}")
    if source.suffix.lower() not in SUPPORTED_EXTENSIONS:
        raise ExportError(
            f"Cannot read '{source.name}': use one of {', '.join(SUPPORTED_EXTENSIONS)}."
        )
    try:
        loaded = trimesh.load(source, force="mesh", process=True)
    except Exception as error:
        raise ExportError(f"Could not read the mesh file {source}: {error}") from error
    if not isinstance(loaded, trimesh.Trimesh):
        raise ExportError(f"{source} holds no triangle mesh.")
    vertices = np.asarray(loaded.vertices, dtype=np.float64)
    if file_coordinate_system(source) == "ras":
        vertices = lps_to_ras_points(vertices)
    return Mesh(vertices, np.asarray(loaded.faces, dtype=np.int64), name=source.stem)


register_writer("mesh", ".stl", export_mesh, "STL")
register_writer("mesh", ".obj", export_mesh, "Wavefront OBJ")
register_writer("mesh", ".ply", export_mesh, "PLY")
register_writer("mesh", ".3mf", export_mesh, "3D Manufacturing Format")
