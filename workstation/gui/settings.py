"""Where the window keeps its settings (recent studies): the user's, or a chosen folder.

``WORKSTATION_SETTINGS_DIR=FOLDER`` keeps them in ``FOLDER/workstation.ini`` instead of
the user's own settings, for a portable install, a second profile or automated runs that
must leave the user's recent studies alone.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

#: Environment variable naming a folder for the settings file.
SETTINGS_DIR_VARIABLE = "WORKSTATION_SETTINGS_DIR"
SETTINGS_FILE_NAME = "workstation.ini"
ORGANIZATION = "SurgicalPlanningWorkstation"
APPLICATION = "Workstation"


def settings_dir() -> Path | None:
    """The folder ``WORKSTATION_SETTINGS_DIR`` names, or None for the user's settings."""
    folder = os.environ.get(SETTINGS_DIR_VARIABLE, "").strip()
    return Path(folder).expanduser() if folder else None


def open_settings() -> QSettings:
    """The settings of a new window, from ``WORKSTATION_SETTINGS_DIR`` when it is set."""
    folder = settings_dir()
    if folder is None:
        return QSettings(ORGANIZATION, APPLICATION)
    folder.mkdir(parents=True, exist_ok=True)
    return QSettings(str(folder / SETTINGS_FILE_NAME), QSettings.Format.IniFormat)
