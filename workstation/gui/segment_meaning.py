"""A combo box for the coded meaning (SNOMED CT category and type) of the selected segment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QComboBox, QWidget

from workstation.core.coded_concepts import COMMON_TERMS

if TYPE_CHECKING:
    from workstation.gui.context import AppContext

NOT_CODED = "(not coded)"


class MeaningCombo(QComboBox):
    """Shows the selected segment's meaning; choosing one records a ``set_segment`` edit."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setToolTip("What the segment is (SNOMED CT category / type, as DICOM SEG needs)")
        self.addItem(NOT_CODED, None)
        for label, (category, _kind) in COMMON_TERMS.items():
            self.addItem(f"{category.meaning} / {label}", label)
        self._showing = False
        self.activated.connect(self._chosen)
        context.viewer.subscribe("segment", lambda _id: self.refresh())
        context.session.subscribe("editor", self._follow_editor)
        self._follow_editor(context.session.editor)

    def _follow_editor(self, editor: object) -> None:
        if editor is not None:
            editor.subscribe("segments", lambda _payload: self.refresh())  # type: ignore[attr-defined]
        self.refresh()

    def refresh(self) -> None:
        """Show the selected segment's meaning (disabled without a selection)."""
        segment = self.context.selected_segment()
        self._showing = True
        index = 0
        if segment is not None and segment.type is not None:
            found = self.findData(segment.type.meaning)
            index = found if found >= 0 else 0
        self.setCurrentIndex(index)
        self.setEnabled(segment is not None)
        self._showing = False

    def _chosen(self, index: int) -> None:
        segment = self.context.selected_segment()
        label = self.itemData(index)
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
