"""Study browser: Patient → Study → Series (stack) tree with thumbnails, warnings and results."""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFont, QIcon, QImage, QPixmap
from PySide6.QtWidgets import QStyle, QTreeWidget, QTreeWidgetItem, QWidget

from workstation.gui.derived_items import DERIVED_ROLE, add_derived_items, show_derived_menu
from workstation.gui.dose_rows import DoseRows, dose_summary, dose_tooltip
from workstation.io.dicom.model import ScanResult, Stack, format_dicom_date

if TYPE_CHECKING:
    from workstation.services.dose import StudyDose

#: The warning column comes right after the series name, so its mark is always in sight
#: (the last columns of a narrow dock scroll out of view).
COLUMNS = ("Series", "⚠", "Modality", "Description", "Images", "Dims")
COL_NAME, COL_WARNINGS, COL_MODALITY, COL_DESCRIPTION, COL_IMAGES, COL_DIMS = range(6)
STACK_ROLE = Qt.ItemDataRole.UserRole + 1
KIND_ROLE = Qt.ItemDataRole.UserRole + 2

#: Room for two indentation levels, the thumbnail and a series number.
NAME_COLUMN_WIDTH = 128
#: Skipped-file reasons listed in full in the tooltip; the rest are summarised.
MAX_LISTED_SKIPS = 20


def stack_dimensions(stack: Stack) -> str:
    """'columns x rows x frames' of a stack."""
    frame = stack.frames[0]
    return f"{frame.columns}x{frame.rows}x{len(stack.frames)}"


def stack_description(stack: Stack) -> str:
    """The series description, plus what tells apart stacks split from one series."""
    description = stack.identity.series_description.strip() or "(no description)"
    suffix = re.search(r"\[[^\]]*\]\s*$", stack.label or "")
    return f"{description} {suffix.group(0).strip()}" if suffix else description


def skipped_tooltip(scan: ScanResult) -> str:
    """Why files were skipped: counts per reason, then the first few files."""
    counts = Counter(item.reason for item in scan.skipped)
    lines = [f"{count} x {reason}" for reason, count in counts.most_common()]
    lines.append("")
    lines += [f"{item.path}: {item.reason}" for item in scan.skipped[:MAX_LISTED_SKIPS]]
    if len(scan.skipped) > MAX_LISTED_SKIPS:
        lines.append(f"… and {len(scan.skipped) - MAX_LISTED_SKIPS} more")
    return "\n".join(lines)


class StudyBrowser(QTreeWidget):
    """Shows a ScanResult; double-clicking a series emits ``stack_activated(stack)``.

    Its DICOM SEG and Encapsulated STL rows emit ``derived_activated(derived)`` on a
    double-click or "Open" in their context menu.
    """

    stack_activated = Signal(object)
    derived_activated = Signal(object)
    #: emitted with the list of StudyDose once a scan's dose rows are shown
    doses_shown = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("studyBrowser")
        self.setColumnCount(len(COLUMNS))
        self.setHeaderLabels(list(COLUMNS))
        header = self.headerItem()
        header.setToolTip(COL_DIMS, "Dimensions: columns x rows x images")
        header.setToolTip(COL_WARNINGS, "Warnings (hover a row for the explanation)")
        self.setIconSize(QSize(40, 40))
        self.setIndentation(12)
        self.setAlternatingRowColors(True)
        self.setUniformRowHeights(False)
        self.setRootIsDecorated(True)
        self.scan: ScanResult | None = None
        self._stack_items: dict[str, QTreeWidgetItem] = {}
        self.skipped_item: QTreeWidgetItem | None = None
        self._warning_icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        self.itemDoubleClicked.connect(self._double_clicked)
        #: the derived objects shown, by SOP Instance UID
        self.derived: dict[str, object] = {}
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._context_menu)
        self._study_items: dict[str, QTreeWidgetItem] = {}
        #: the Dose row of each study shown, by Study Instance UID
        self.dose_items: dict[str, QTreeWidgetItem] = {}
        self.doses: list[StudyDose] = []
        self.dose_rows = DoseRows(self._show_doses, self)

    def set_scan(self, scan: ScanResult | None) -> None:
        """Show the patients, studies and stacks of ``scan`` (or nothing)."""
        self.clear()
        self._stack_items.clear()
        self.derived = {}
        self.skipped_item = None
        self.scan = scan
        self._study_items = {}
        self.dose_items = {}
        self.doses = []
        self.dose_rows.start(scan)
        if scan is None:
            return
        patients: dict[str, QTreeWidgetItem] = {}
        studies: dict[tuple[str, str], QTreeWidgetItem] = {}
        for stack in scan.stacks:
            patient_key = (
                stack.identity.patient_id or stack.identity.patient_name or "(no patient id)"
            )
            patient = patients.get(patient_key)
            if patient is None:
                name = stack.identity.patient_name  # already "Family Given" (headers.py)
                title = f"{name} ({stack.identity.patient_id})" if name else patient_key
                patient = QTreeWidgetItem([title])
                patient.setData(0, KIND_ROLE, "patient")
                self.addTopLevelItem(patient)
                patient.setFirstColumnSpanned(True)
                patients[patient_key] = patient
            study_key = (patient_key, stack.identity.study_uid)
            study = studies.get(study_key)
            if study is None:
                date = format_dicom_date(stack.identity.study_date)
                study = QTreeWidgetItem(
                    [" ".join(p for p in (date, stack.identity.study_description) if p) or "Study"]
                )
                study.setData(0, KIND_ROLE, "study")
                study.setToolTip(0, f"Study UID {stack.identity.study_uid}")
                patient.addChild(study)
                study.setFirstColumnSpanned(True)
                studies[study_key] = study
            study.addChild(self._stack_item(stack))
        study_items = {uid: item for (_, uid), item in studies.items()}
        self._study_items = study_items
        self.derived = add_derived_items(self, scan, self._stack_items, study_items)
        if scan.skipped:
            count = len(scan.skipped)
            reason = Counter(s.reason for s in scan.skipped).most_common(1)[0][0]
            item = QTreeWidgetItem([f"{count} file{'s' if count != 1 else ''} skipped ({reason})"])
            item.setData(0, KIND_ROLE, "skipped")
            item.setIcon(
                0, self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxInformation)
            )
            tooltip = skipped_tooltip(scan)
            for column in range(len(COLUMNS)):
                item.setToolTip(column, tooltip)
            self.addTopLevelItem(item)
            item.setFirstColumnSpanned(True)
            self.skipped_item = item
        self.expandAll()
        for column in range(1, len(COLUMNS)):
            self.resizeColumnToContents(column)
        self.setColumnWidth(COL_NAME, NAME_COLUMN_WIDTH)
        self.setColumnWidth(COL_DESCRIPTION, min(self.columnWidth(COL_DESCRIPTION), 160))

    def _stack_item(self, stack: Stack) -> QTreeWidgetItem:
        name = stack.identity.series_number or "?"
        if stack.stack_id != stack.identity.series_uid:
            name += f" ({stack.stack_id.rsplit('.', 1)[-1]})"
        texts = {
            COL_NAME: name,
            COL_WARNINGS: "",
            COL_MODALITY: stack.identity.modality,
            COL_DESCRIPTION: stack_description(stack),
            COL_IMAGES: str(len(stack.frames)),
            COL_DIMS: stack_dimensions(stack),
        }
        item = QTreeWidgetItem([texts[column] for column in range(len(COLUMNS))])
        item.setData(0, STACK_ROLE, stack.stack_id)
        item.setData(0, KIND_ROLE, "stack")
        item.setTextAlignment(
            COL_IMAGES, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        )
        item.setToolTip(
            0, f"{stack.label}\n{stack.kind}, confidence {stack.confidence:.2f}\n{stack.stack_id}"
        )
        item.setToolTip(COL_DESCRIPTION, stack.label)
        if stack.warnings:
            item.setIcon(COL_WARNINGS, self._warning_icon)
            item.setText(COL_WARNINGS, str(len(stack.warnings)))
            tooltip = "\n".join(f"• {warning}" for warning in stack.warnings)
            item.setToolTip(COL_WARNINGS, tooltip)
            item.setToolTip(0, item.toolTip(0) + "\n" + tooltip)
            item.setToolTip(COL_DESCRIPTION, f"{stack.label}\n{tooltip}")
        if not stack.loadable_3d:
            for column in range(len(COLUMNS)):
                item.setForeground(column, self.palette().placeholderText())
        self._stack_items[stack.stack_id] = item
        return item

    def _show_doses(self, scan: ScanResult, studies: list[StudyDose]) -> None:
        """Add a Dose row to each study with dose figures (a later scan's rows win)."""
        if scan is not self.scan:
            return
        self.doses = studies
        for study in studies:
            parent = self._study_items.get(study.study_uid)
            summary = dose_summary(study)
            if parent is None or not summary:
                continue
            item = QTreeWidgetItem([f"Dose: {summary}"])
            item.setData(0, KIND_ROLE, "dose")
            tooltip = dose_tooltip(study)
            exceeded = study.exceeded()
            if exceeded:
                item.setIcon(COL_NAME, self._warning_icon)
                item.setText(COL_NAME, f"Dose: {summary} — reference level exceeded")
                tooltip = "\n".join(f"⚠ EXCEEDED {line}" for line in exceeded) + "\n" + tooltip
            item.setToolTip(COL_NAME, tooltip)
            parent.addChild(item)
            item.setFirstColumnSpanned(True)
            self.dose_items[study.study_uid] = item
        self.doses_shown.emit(studies)

    def stack_item(self, stack_id: str) -> QTreeWidgetItem | None:
        """The tree row of a stack id."""
        return self._stack_items.get(stack_id)

    def set_thumbnail(self, stack_id: str, image: QImage) -> None:
        """Show a thumbnail as the icon of a stack's row."""
        item = self._stack_items.get(stack_id)
        if item is not None:
            item.setIcon(COL_NAME, QIcon(QPixmap.fromImage(image)))

    def mark_loaded(self, stack_id: str | None) -> None:
        """Show the loaded stack in bold and select it."""
        for key, item in self._stack_items.items():
            font = QFont(item.font(COL_NAME))
            font.setBold(key == stack_id)
            item.setFont(COL_NAME, font)
            if key == stack_id:
                self.setCurrentItem(item)

    def _double_clicked(self, item: QTreeWidgetItem, column: int) -> None:
        stack_id = item.data(0, STACK_ROLE)
        derived_uid = item.data(0, DERIVED_ROLE)
        if derived_uid and derived_uid in self.derived:
            self.derived_activated.emit(self.derived[derived_uid])
        elif stack_id and self.scan is not None:
            self.stack_activated.emit(self.scan.find(stack_id))

    def derived_item(self, sop_instance_uid: str) -> QTreeWidgetItem | None:
        """The tree row of a derived object (SEG or Encapsulated STL)."""
        for item in self.findItems("*", Qt.MatchFlag.MatchWildcard | Qt.MatchFlag.MatchRecursive):
            if item.data(0, DERIVED_ROLE) == sop_instance_uid:
                return item
        return None

    def _context_menu(self, position) -> None:
        menu = show_derived_menu(
            self, self.itemAt(position), self.derived, self.derived_activated.emit
        )
        if menu is not None:
            menu.popup(self.viewport().mapToGlobal(position))
