"""Preferences through the real window: the dialog, the settings file, and what they change."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from workstation.core.preferences import Preferences
from workstation.core.viewer_state import CursorInfo


def choose(combo, value) -> None:
    combo.setCurrentIndex(combo.findData(value))


def test_ok_keeps_the_choices_in_the_settings_and_a_new_window_reads_them(
    make_main_window, tmp_path
):
    window = make_main_window()
    actions = window.preferences
    assert actions.action.shortcut().toString() == "Ctrl+,"
    dialog = actions.open_dialog()
    dialog.folder_edit.setText(str(tmp_path))
    choose(dialog.format_combo, ".3mf")
    choose(dialog.combos["coordinates"], "ras")
    choose(dialog.combos["position_style"], "signed")
    choose(dialog.combos["volume_unit"], "mm³")
    dialog.accept()
    settings = QSettings(window.settings.fileName(), QSettings.Format.IniFormat)
    assert settings.value("preferences/export_format") == ".3mf"
    assert settings.value("preferences/coordinates") == "ras"
    from workstation.gui.preferences import PreferencesStore

    reopened = PreferencesStore(settings)  # what the next window on these settings reads
    assert reopened.current == Preferences(
        str(tmp_path), ".3mf", "ras", "signed", "mm", "mm³", "system"
    )


def test_cancel_changes_nothing_and_restore_defaults_resets_the_widgets(main_window):
    before = main_window.preferences.store.current
    dialog = main_window.preferences.open_dialog()
    choose(dialog.combos["theme"], "dark")
    dialog.reject()
    assert main_window.preferences.store.current == before
    dialog = main_window.preferences.open_dialog()
    choose(dialog.combos["length_unit"], "cm")
    dialog.buttons.button(dialog.buttons.StandardButton.RestoreDefaults).click()
    assert dialog.chosen() == Preferences()
    dialog.reject()


def test_the_status_bar_and_models_table_follow_the_preferences(main_window):
    main_window.viewer.set_cursor(CursorInfo("axial", np.array([-12.5, -40.0, 3.0]), None))
    assert "R 12.5  A 40.0  S 3.0 mm" in main_window.cursor_label.text()
    store = main_window.preferences.store
    store.set(Preferences(position_style="signed", coordinates="ras", volume_unit="mm³"))
    assert "RAS (12.5, 40.0, 3.0) mm" in main_window.cursor_label.text()
    header = main_window.models_panel.table.horizontalHeaderItem(4).text()
    assert header == "mm³"
    store.set(Preferences())


def test_the_export_dialog_starts_with_the_preferred_folder_format_and_coordinates(
    main_window, tmp_path, monkeypatch
):
    from types import SimpleNamespace

    from workstation.gui import models_panel as panel_module

    seen = {}

    class Recorder(panel_module.ExportDialog):
        def exec(self):
            seen.update(
                path=self.path_edit.text(), extension=self.extension(), coords=self.coords()
            )
            return 0

    monkeypatch.setattr(panel_module, "ExportDialog", Recorder)
    panel = main_window.models_panel
    panel.last_export = []
    monkeypatch.setitem(panel.session.models, "m1", SimpleNamespace(name="Bone"))
    main_window.preferences.store.set(Preferences(str(tmp_path), ".ply", "ras"))
    panel._export_dialog(["m1"])
    assert seen == {"path": str(tmp_path / "Bone.ply"), "extension": ".ply", "coords": "ras"}
    main_window.preferences.store.set(Preferences())


def test_the_dark_theme_darkens_the_application_and_system_brings_it_back(main_window):
    app = QApplication.instance()
    before = app.palette().window().color().lightness()
    main_window.preferences.store.set(Preferences(theme="dark"))
    assert app.palette().window().color().lightness() < 100
    main_window.preferences.store.set(Preferences(theme="system"))
    assert app.palette().window().color().lightness() == before


def test_the_pacs_servers_button_opens_the_server_list(main_window):
    dialog = main_window.preferences.open_dialog()
    dialog.servers_button.click()
    servers = main_window.connectivity.settings_dialog
    assert servers.isVisible()
    servers.reject()
    dialog.reject()
