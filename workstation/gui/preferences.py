"""Preferences → Preferences…: the dialog, where the choices are kept, and applying them.

The choices live in the window's settings (group ``preferences``: the user's settings, or
``WORKSTATION_SETTINGS_DIR``).  ``PreferencesStore.changed`` tells the window, the status
bar and the models table to show things the new way; the theme is applied to the whole
application at once.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QColor, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workstation.core.preferences import (
    Preferences,
    preferences_from_mapping,
    preferences_to_mapping,
)
from workstation.services.export import format_filters

GROUP = "preferences"
LABELS = {
    "coordinates": (("lps", "LPS (DICOM patient coordinates)"), ("ras", "RAS (Slicer, NIfTI)")),
    "position_style": (
        ("anatomical", "By patient side (R 12.5  A 40.0  S 3.0 mm)"),
        ("signed", "Signed coordinates (LPS or RAS as above)"),
    ),
    "length_unit": (("mm", "millimetres"), ("cm", "centimetres")),
    "volume_unit": (("ml", "millilitres (ml)"), ("mm³", "cubic millimetres (mm³)")),
    "theme": (("system", "as the system"), ("light", "light"), ("dark", "dark")),
}


def dark_palette() -> QPalette:
    """A dark palette for the Fusion style."""
    palette = QPalette()
    colours = {
        QPalette.ColorRole.Window: "#2b2d30",
        QPalette.ColorRole.WindowText: "#e6e6e6",
        QPalette.ColorRole.Base: "#1e1f22",
        QPalette.ColorRole.AlternateBase: "#2b2d30",
        QPalette.ColorRole.ToolTipBase: "#3c3f41",
        QPalette.ColorRole.ToolTipText: "#e6e6e6",
        QPalette.ColorRole.Text: "#e6e6e6",
        QPalette.ColorRole.Button: "#3c3f41",
        QPalette.ColorRole.ButtonText: "#e6e6e6",
        QPalette.ColorRole.BrightText: "#ff6b6b",
        QPalette.ColorRole.Highlight: "#2f65ca",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#6aa0ff",
        QPalette.ColorRole.PlaceholderText: "#8c8c8c",
    }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7f7f7f"))
    return palette


class ThemeSwitcher:
    """Applies a theme's palette, remembering the start-up palette for 'system'.

    Only the palette changes (and the style once, to Fusion, where the platform's own
    style ignores palettes), so open views and their OpenGL surfaces are not re-created.
    """

    def __init__(self) -> None:
        app = QApplication.instance()
        self.palette = QPalette(app.palette()) if app is not None else QPalette()
        self.theme = "system"

    def apply(self, theme: str) -> None:
        """Switch to ``theme`` ('system', 'light' or 'dark')."""
        app = QApplication.instance()
        if app is None or theme == self.theme:
            return
        if theme == "system":
            app.setPalette(self.palette)
        else:
            if app.style().name().lower() != "fusion":
                app.setStyle("Fusion")
            app.setPalette(dark_palette() if theme == "dark" else app.style().standardPalette())
        self.theme = theme


class PreferencesStore(QObject):
    """The current preferences of one window, loaded from and saved to its settings."""

    changed = Signal(object)

    def __init__(self, settings: QSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.theme = ThemeSwitcher()
        self.current = self._load()
        self.theme.apply(self.current.theme)

    def _load(self) -> Preferences:
        self.settings.beginGroup(GROUP)
        try:
            values = {key: self.settings.value(key) for key in self.settings.childKeys()}
        finally:
            self.settings.endGroup()
        return preferences_from_mapping(values)

    def set(self, preferences: Preferences) -> None:
        """Keep ``preferences``, apply the theme and tell the window."""
        self.settings.beginGroup(GROUP)
        try:
            for key, value in preferences_to_mapping(preferences).items():
                self.settings.setValue(key, value)
        finally:
            self.settings.endGroup()
        self.settings.sync()
        self.current = preferences
        self.theme.apply(preferences.theme)
        self.changed.emit(preferences)


class PreferencesDialog(QDialog):
    """Gathers the preferences; OK keeps them, Cancel changes nothing."""

    def __init__(self, store: PreferencesStore, parent: QWidget | None,
                 open_servers: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("preferencesDialog")
        self.setWindowTitle("Preferences")
        self.store = store
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("your home folder")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        self.format_combo = QComboBox()
        for extension, text in format_filters("mesh"):
            self.format_combo.addItem(text, extension)
        self.combos = {key: QComboBox() for key in LABELS}
        for key, combo in self.combos.items():
            for value, text in LABELS[key]:
                combo.addItem(text, value)
        export = QGroupBox("Export")
        export_form = QFormLayout(export)
        export_form.addRow("Default folder", folder_row)
        export_form.addRow("Default format", self.format_combo)
        export_form.addRow("Coordinates", self.combos["coordinates"])
        display = QGroupBox("Display")
        display_form = QFormLayout(display)
        display_form.addRow("Position read-out", self.combos["position_style"])
        display_form.addRow("Lengths", self.combos["length_unit"])
        display_form.addRow("Model volumes", self.combos["volume_unit"])
        display_form.addRow("Theme", self.combos["theme"])
        self.servers_button = QPushButton("PACS servers…")
        self.servers_button.setEnabled(open_servers is not None)
        if open_servers is not None:
            self.servers_button.clicked.connect(open_servers)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            lambda: self.show_preferences(Preferences())
        )
        self.buttons = buttons
        layout = QVBoxLayout(self)
        layout.addWidget(export)
        layout.addWidget(display)
        layout.addWidget(self.servers_button)
        layout.addWidget(buttons)
        self.show_preferences(store.current)

    def show_preferences(self, preferences: Preferences) -> None:
        """Set the widgets to ``preferences``."""
        self.folder_edit.setText(preferences.export_folder)
        index = self.format_combo.findData(preferences.export_format)
        self.format_combo.setCurrentIndex(max(index, 0))
        for key, combo in self.combos.items():
            combo.setCurrentIndex(max(combo.findData(getattr(preferences, key)), 0))

    def chosen(self) -> Preferences:
        """The preferences the widgets show."""
        values = {key: str(combo.currentData()) for key, combo in self.combos.items()}
        return replace(
            Preferences(**values),
            export_folder=self.folder_edit.text().strip(),
            export_format=str(self.format_combo.currentData()),
        )

    def accept(self) -> None:
        self.store.set(self.chosen())
        super().accept()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Default export folder",
                                                  self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)


class PreferencesActions:
    """Preferences → Preferences… of one window, and the store it edits."""

    def __init__(self, window: Any) -> None:
        self.window = window
        self.store = PreferencesStore(window.settings, window)
        self.dialog: PreferencesDialog | None = None
        menu = next(
            action.menu()
            for action in window.menuBar().actions()
            if action.menu() is not None and action.text() == "&Preferences"
        )
        self.action = menu.addAction("&Preferences…", self.open_dialog)
        self.action.setShortcut(QKeySequence("Ctrl+,"))
        first = menu.actions()[0]
        if first is not self.action:
            menu.insertAction(first, self.action)

    def open_dialog(self) -> PreferencesDialog:
        """Open the dialog (window-modal; OK applies at once)."""
        connectivity = getattr(self.window, "connectivity", None)
        opener = connectivity.server_settings if connectivity is not None else None
        self.dialog = PreferencesDialog(self.store, self.window, opener)
        self.dialog.open()
        return self.dialog


def install_preferences(window: Any) -> PreferencesActions:
    """Add Preferences… to the window's Preferences menu; returns its actions and store."""
    return PreferencesActions(window)
