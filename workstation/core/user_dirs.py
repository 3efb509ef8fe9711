"""Where the workstation keeps a user's data and configuration (XDG base directories).

The local DICOM database lives under the data folder (``$XDG_DATA_HOME``, by default
``~/.local/share``), the PACS server list under the configuration folder
(``$XDG_CONFIG_HOME``, by default ``~/.config``), each in a ``surgical-planning-workstation``
folder.  ``WORKSTATION_DATABASE`` and ``WORKSTATION_SERVERS`` override the two paths.  The audit
trail lives under the data folder too (``WORKSTATION_AUDIT_LOG`` overrides it).  The role
policy is the administrator's ``/etc/surgical-planning-workstation/policy.toml`` when it
exists, else the user's ``policy.toml`` in the configuration folder (``WORKSTATION_POLICY``
overrides both).
"""

from __future__ import annotations

import os
from pathlib import Path

APP_FOLDER = "surgical-planning-workstation"
DATABASE_VARIABLE = "WORKSTATION_DATABASE"
SERVERS_VARIABLE = "WORKSTATION_SERVERS"
AUDIT_LOG_VARIABLE = "WORKSTATION_AUDIT_LOG"
POLICY_VARIABLE = "WORKSTATION_POLICY"
SYSTEM_POLICY = Path("/etc") / APP_FOLDER / "policy.toml"


def _base(variable: str, default: str) -> Path:
    value = os.environ.get(variable, "").strip()
    # The XDG specification ignores relative paths in these variables.
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / default


def data_dir() -> Path:
    """The user's data folder for the workstation (not created here)."""
    return _base("XDG_DATA_HOME", ".local/share") / APP_FOLDER


def config_dir() -> Path:
    """The user's configuration folder for the workstation (not created here)."""
    return _base("XDG_CONFIG_HOME", ".config") / APP_FOLDER


def database_dir() -> Path:
    """The local DICOM database: ``WORKSTATION_DATABASE``, else ``data_dir()/dicom-database``."""
    value = os.environ.get(DATABASE_VARIABLE, "").strip()
    return Path(value).expanduser() if value else data_dir() / "dicom-database"


def servers_file() -> Path:
    """The PACS server list: ``WORKSTATION_SERVERS``, else ``config_dir()/servers.toml``."""
    value = os.environ.get(SERVERS_VARIABLE, "").strip()
    return Path(value).expanduser() if value else config_dir() / "servers.toml"


def audit_log_file() -> Path:
    """The audit trail: ``WORKSTATION_AUDIT_LOG``, else ``data_dir()/audit/audit.log``."""
    value = os.environ.get(AUDIT_LOG_VARIABLE, "").strip()
    return Path(value).expanduser() if value else data_dir() / "audit" / "audit.log"


def policy_file() -> Path:
    """The role policy: ``WORKSTATION_POLICY``, else the system file, else the user's file."""
    value = os.environ.get(POLICY_VARIABLE, "").strip()
    if value:
        return Path(value).expanduser()
    return SYSTEM_POLICY if SYSTEM_POLICY.is_file() else config_dir() / "policy.toml"
