"""An Encapsulated STL found beside its series opens as a model on that series' volume."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.dicom_factory import sphere_array, write_series
from workstation.core.errors import SegmentationError
from workstation.io.dicom.scan import scan_path
from workstation.io.dicom.source_context import source_context
from workstation.io.encapsulated_stl import write_encapsulated_stl
from workstation.services.derived_objects import open_stl_on_session
from workstation.services.loading import load_volume
from workstation.services.modeling import ModelOptions, make_model_from_volume
from workstation.services.session import Session

FRAME = "1.2.826.0.1.3680043.8.498.202"
OTHER_FRAME = "1.2.826.0.1.3680043.8.498.203"


def _ball(folder, frame_uid, series_uid):
    array = sphere_array((14, 18, 18), lambda s, r, c: (c, r, s), [(9, 9, 7)], [4.5])
    write_series(folder, array, frame_uid=frame_uid, series_uid=series_uid)
    return load_volume(str(folder), None, purpose="model")


@pytest.fixture()
def study(tmp_path):
    """A series with its model stored as Encapsulated STL in the same folder."""
    loaded = _ball(tmp_path / "study" / "ct", FRAME, "1.2.826.0.1.3680043.8.498.210")
    options = ModelOptions(preset=None, lower=0, smooth_iterations=0, decimate_fraction=0)
    mesh = make_model_from_volume(loaded.volume, options).mesh
    mesh.name = "Ball model"
    context = source_context(loaded.stack, loaded.volume)
    write_encapsulated_stl(mesh, tmp_path / "study" / "model.dcm", source=context)
    return tmp_path / "study", mesh


def test_scanned_stl_opens_as_model_on_its_series(study):
    folder, mesh = study
    scan = scan_path(folder)
    [derived] = [item for item in scan.derived if item.kind == "stl"]
    assert derived.label == "Ball model"
    loaded = load_volume(str(folder), None, purpose="model")
    session = Session()
    session.set_volume(loaded.volume, loaded.stack)
    names = open_stl_on_session(session, derived)
    assert names == ["Ball model"]
    [entry] = session.models.values()
    assert entry.name == "Ball model" and entry.mesh.n_faces == mesh.n_faces
    assert entry.parameters["sop_instance_uid"] == derived.sop_instance_uid
    np.testing.assert_allclose(
        np.sort(entry.mesh.vertices, axis=0), np.sort(mesh.vertices, axis=0), atol=1e-4
    )
    assert entry.statistics["volume_mm3"] == pytest.approx(mesh.signed_volume(), rel=1e-4)


def test_stl_of_another_frame_of_reference_is_refused(study, tmp_path):
    folder, _ = study
    [derived] = [item for item in scan_path(folder).derived if item.kind == "stl"]
    other = _ball(tmp_path / "other", OTHER_FRAME, "1.2.826.0.1.3680043.8.498.211")
    session = Session()
    session.set_volume(other.volume, other.stack)
    with pytest.raises(SegmentationError, match="another Frame of Reference"):
        open_stl_on_session(session, derived)
    assert session.models == {}
    with pytest.raises(SegmentationError, match="Load the series"):
        open_stl_on_session(Session(), derived)
