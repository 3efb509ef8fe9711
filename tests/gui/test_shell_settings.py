"""Settings come from WORKSTATION_SETTINGS_DIR when it is set: tests (and portable installs)
never touch the user's own recent studies."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from tests.gui.conftest import (
    folder_snapshot,
    open_and_settle,
    run_python,
    user_settings_folder,
)
from workstation.gui.recent_studies import RecentStudies
from workstation.gui.settings import SETTINGS_DIR_VARIABLE, SETTINGS_FILE_NAME, open_settings

pytestmark = pytest.mark.gui


def test_open_settings_uses_the_folder_of_the_variable(tmp_path, monkeypatch):
    folder = tmp_path / "profile"
    monkeypatch.setenv(SETTINGS_DIR_VARIABLE, str(folder))
    settings = open_settings()
    assert settings.format() == QSettings.Format.IniFormat
    assert Path(settings.fileName()) == folder / SETTINGS_FILE_NAME
    settings.setValue("probe", 1)
    settings.sync()
    assert (folder / SETTINGS_FILE_NAME).is_file()
    monkeypatch.delenv(SETTINGS_DIR_VARIABLE)
    assert Path(open_settings().fileName()).parent == user_settings_folder()


def test_a_window_keeps_recent_studies_out_of_the_users_settings(
    qtbot, make_main_window, synthetic_ct, private_settings
):
    from workstation.gui.main_window import MainWindow

    before = folder_snapshot(user_settings_folder())
    window = MainWindow(headless=True)  # no settings given: as the application starts it
    qtbot.addWidget(window)
    assert Path(window.settings.fileName()).parent == private_settings
    window.show()
    open_and_settle(qtbot, window, synthetic_ct)
    assert str(synthetic_ct) in RecentStudies(window.settings).paths()
    written = QSettings(str(private_settings / SETTINGS_FILE_NAME), QSettings.Format.IniFormat)
    assert str(synthetic_ct) in RecentStudies(written).paths()
    window.close()
    assert folder_snapshot(user_settings_folder()) == before


def test_the_view_command_keeps_its_settings_in_the_folder(synthetic_ct, tmp_path):
    folder = tmp_path / "cli-settings"
    before = folder_snapshot(user_settings_folder())
    output = tmp_path / "shot.png"
    arguments = [str(synthetic_ct), "--screenshot", str(output), "--size", "900x600"]
    result = run_python(
        ["-m", "workstation", "view", *arguments], {SETTINGS_DIR_VARIABLE: str(folder)}
    )
    assert result.returncode == 0, result.stderr
    written = QSettings(str(folder / SETTINGS_FILE_NAME), QSettings.Format.IniFormat)
    assert RecentStudies(written).paths() == [str(synthetic_ct)]
    assert folder_snapshot(user_settings_folder()) == before
