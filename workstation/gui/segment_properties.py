"""The selected segment's properties: coded meaning, opacity and lock.

The meaning (SNOMED CT category and type, as DICOM SEG needs) and the lock are recorded
as ``set_segment`` edits (undoable, replayed); the opacity is a display property only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QSpinBox, QWidget

from workstation.core.coded_concepts import COMMON_TERMS

if TYPE_CHECKING:
    from workstation.gui.context import AppContext
    from workstation.services.segment_editor import SegmentEditor

NOT_CODED = "(not coded)"


class SegmentProperties(QWidget):
    """Meaning, opacity and lock of the selected segment, kept in step with the editor."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.meaning_combo = QComboBox()
        self.meaning_combo.setToolTip("What the segment is (SNOMED CT category / type)")
        self.meaning_combo.addItem(NOT_CODED, None)
        for label, (category, _kind) in COMMON_TERMS.items():
            self.meaning_combo.addItem(f"{category.meaning} / {label}", label)
        self.opacity_spin = QSpinBox()
        self.opacity_spin.setRange(0, 100)
        self.opacity_spin.setSuffix(" %")
        self.opacity_spin.setToolTip("How opaque the segment's colour is in the slice views")
        self.locked_check = QCheckBox("Locked")
        self.locked_check.setToolTip("A locked segment refuses edits until it is unlocked")
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Meaning", self.meaning_combo)
        form.addRow("Opacity", self.opacity_spin)
        form.addRow(self.locked_check)
        self._showing = False
        self._editor: SegmentEditor | None = None
        self.meaning_combo.activated.connect(self._meaning_chosen)
        self.opacity_spin.valueChanged.connect(self._opacity_changed)
        self.locked_check.clicked.connect(self._locked_clicked)
        context.viewer.subscribe("segment", lambda _id: self.refresh())
        context.session.subscribe("editor", self._follow_editor)
        self._follow_editor(context.session.editor)

    def _follow_editor(self, editor: SegmentEditor | None) -> None:
        if self._editor is not None:
            self._editor.unsubscribe("segments", self._segments_changed)
        self._editor = editor
        if editor is not None:
            editor.subscribe("segments", self._segments_changed)
        self.refresh()

    def _segments_changed(self, _payload: object) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Show the selected segment's properties (disabled without a selection)."""
        segment = self.context.selected_segment()
        self._showing = True
        index = 0
        if segment is not None and segment.type is not None:
            index = max(self.meaning_combo.findData(segment.type.meaning), 0)
        self.meaning_combo.setCurrentIndex(index)
        self.opacity_spin.setValue(round(100 * (segment.opacity if segment else 1.0)))
        self.locked_check.setChecked(bool(segment and segment.locked))
        self.setEnabled(segment is not None)
        self._showing = False

    def _meaning_chosen(self, index: int) -> None:
        segment = self.context.selected_segment()
        label = self.meaning_combo.itemData(index)
        if self._showing or segment is None or label is None:
            return
        category, kind = COMMON_TERMS[label]
        self.context.edits.submit(
            {
                "op": "set_segment",
                "segment": segment.name,
                "category": category.as_dict(),
                "type": kind.as_dict(),
            }
        )

    def _opacity_changed(self, value: int) -> None:
        segment = self.context.selected_segment()
        editor = self.context.session.editor
        if not self._showing and segment is not None and editor is not None:
            editor.set_display(segment.segment_id, opacity=value / 100.0)

    def _locked_clicked(self, checked: bool) -> None:
        segment = self.context.selected_segment()
        if segment is not None:
            self.context.edits.submit(
                {"op": "set_segment", "segment": segment.name, "locked": bool(checked)}
            )
