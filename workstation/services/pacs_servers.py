"""The PACS servers a user configured once: read and write ``servers.toml``.

One ``[[server]]`` table per server.  Secrets are never stored in the file: it may name a
``password_file`` or ``token_file`` (read when connecting), and a password given on the
command line lives only in memory.  The file is written atomically with mode 0600.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from workstation.core.errors import PacsError
from workstation.core.user_dirs import servers_file
from workstation.io.atomic_write import atomic_write, shown_path
from workstation.io.pacs.client import DEFAULT_CALLING_AET, DEFAULT_TIMEOUT_S

PROTOCOLS = ("dimse", "dicomweb")
DEFAULT_DIMSE_PORT = 104

#: Keys of a ``[[server]]`` table, in the order they are written.
FILE_KEYS = (
    "name",
    "protocol",
    "ae_title",
    "host",
    "port",
    "url",
    "calling_aet",
    "user",
    "password_file",
    "token_file",
    "ca_bundle",
    "tls",
    "tls_cert",
    "tls_key",
    "move_port",
    "timeout_s",
)
_TEXT_KEYS = {
    "name",
    "protocol",
    "ae_title",
    "host",
    "url",
    "calling_aet",
    "user",
    "password_file",
    "token_file",
    "ca_bundle",
    "tls_cert",
    "tls_key",
}
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # 16 characters, no backslash


@dataclass
class ServerConfig:
    """One PACS or DICOMweb server and how to talk to it.

    DIMSE servers use ``ae_title``/``host``/``port`` (and ``tls``, ``ca_bundle``,
    ``tls_cert``/``tls_key``); ``move_port`` set means retrieve by C-MOVE to our own
    storage SCP on that port, unset means C-GET.  DICOMweb servers use ``url`` with
    ``user`` and a ``password_file``, or a ``token_file`` (bearer), and ``ca_bundle``.
    ``password``/``token`` are secrets given for this run only: never saved.
    """

    name: str = ""
    protocol: str = "dimse"
    ae_title: str = ""
    host: str = ""
    port: int = DEFAULT_DIMSE_PORT
    url: str = ""
    calling_aet: str = DEFAULT_CALLING_AET
    user: str = ""
    password_file: str = ""
    token_file: str = ""
    ca_bundle: str = ""
    tls: bool = False
    tls_cert: str = ""
    tls_key: str = ""
    move_port: int | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    password: str = field(default="", repr=False, compare=False)
    token: str = field(default="", repr=False, compare=False)

    @property
    def address(self) -> str:
        """Where the server is, as messages show it: ``AET@HOST:PORT`` or the URL."""
        if self.protocol == "dicomweb":
            return self.url
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.ae_title}@{host}:{self.port}"

    @property
    def label(self) -> str:
        """The server's name when it has one, else its address."""
        return self.name or self.address

    def as_json(self) -> dict[str, Any]:
        """The saved fields as a plain dict (no secrets), for ``--json`` listings."""
        return {key: getattr(self, key) for key in FILE_KEYS}


def problems(server: ServerConfig) -> list[tuple[str, str]]:
    """What is wrong with ``server``, as (field, reason) pairs; empty when usable."""
    found: list[tuple[str, str]] = []
    if server.protocol not in PROTOCOLS:
        found.append(("protocol", f"must be 'dimse' or 'dicomweb', not {server.protocol!r}"))
        return found
    if server.protocol == "dimse":
        if not _AE_TITLE.match(server.ae_title) or not server.ae_title.strip():
            found.append(("ae_title", "must be 1 to 16 characters (no backslash)"))
        if not server.host.strip():
            found.append(("host", "is missing"))
        if not 1 <= server.port <= 65535:
            found.append(("port", f"must be 1-65535, not {server.port}"))
    elif not re.match(r"^https?://[^/\s]+", server.url):
        found.append(("url", f"must start with http:// or https://, not {server.url!r}"))
    if not _AE_TITLE.match(server.calling_aet) or not server.calling_aet.strip():
        found.append(("calling_aet", "must be 1 to 16 characters (no backslash)"))
    if server.move_port is not None and not 1 <= server.move_port <= 65535:
        found.append(("move_port", f"must be 1-65535, not {server.move_port}"))
    if not (math.isfinite(server.timeout_s) and server.timeout_s > 0):
        found.append(("timeout_s", f"must be a positive number of seconds, not {server.timeout_s}"))
    if server.password_file and server.token_file:
        found.append(("token_file", "cannot be given together with password_file"))
    return found


def check_server(server: ServerConfig) -> ServerConfig:
    """``server`` unchanged, or PacsError naming its first problem."""
    found = problems(server)
    if found:
        key, reason = found[0]
        raise PacsError(f"Server {server.label!r}: {key} {reason}")
    return server


# ---------------------------------------------------------------- reading


def _key_line(text: str, index: int, key: str | None) -> int | None:
    """The line number of ``key`` in the ``index``-th ``[[server]]`` table (or of its header)."""
    lines = text.splitlines()
    headers = [n for n, line in enumerate(lines) if re.match(r"^\s*\[\[\s*server\s*\]\]", line)]
    if index >= len(headers):
        return None
    start = headers[index]
    end = headers[index + 1] if index + 1 < len(headers) else len(lines)
    if key is not None:
        pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
        for number in range(start, end):
            if pattern.match(lines[number]):
                return number + 1
    return start + 1


def _value(key: str, raw: Any) -> Any:
    """A file value converted to the field's type; ValueError with the reason otherwise."""
    if key in _TEXT_KEYS:
        if not isinstance(raw, str):
            raise ValueError(f"must be text in quotes, not {raw!r}")
        return raw
    if key == "tls":
        if not isinstance(raw, bool):
            raise ValueError(f"must be true or false, not {raw!r}")
        return raw
    if key in ("port", "move_port"):
        if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 65535:
            raise ValueError(f"must be a whole number 1-65535, not {raw!r}")
        return raw
    if key == "timeout_s":
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ValueError(f"must be a number of seconds, not {raw!r}")
        return float(raw)
    raise ValueError("is not a known setting")  # pragma: no cover - keys are checked first


def parse_servers(text: str, origin: str = "servers.toml") -> list[ServerConfig]:
    """The servers described by TOML ``text``; PacsError naming the line and field."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PacsError(f"{origin}: not valid TOML: {error}") from None
    unknown = sorted(set(document) - {"server"})
    if unknown:
        raise PacsError(f"{origin}: unknown section {unknown[0]!r}; servers are [[server]] tables")
    tables = document.get("server", [])
    if not isinstance(tables, list):
        raise PacsError(f"{origin}: 'server' must be a list of [[server]] tables")
    servers: list[ServerConfig] = []
    for index, table in enumerate(tables):

        def fail(key: str | None, reason: str, index: int = index) -> PacsError:
            line = _key_line(text, index, key)
            where = f"{origin}, line {line}" if line else origin
            subject = f"server {index + 1}" + (f" {key!r}" if key else "")
            return PacsError(f"{where}: {subject} {reason}")

        values: dict[str, Any] = {}
        for key, raw in table.items():
            if key not in FILE_KEYS:
                secret = key in ("password", "token")
                hint = " (secrets are never stored; name a file instead)" if secret else ""
                raise fail(key, f"is not a known setting{hint}")
            try:
                values[key] = _value(key, raw)
            except ValueError as error:
                raise fail(key, str(error)) from None
        if not values.get("name", "").strip():
            raise fail(None, "has no name")
        values.setdefault("protocol", "dimse")
        server = ServerConfig(**values)
        found = problems(server)
        if found:
            key, reason = found[0]
            raise fail(key, reason)
        if any(other.name == server.name for other in servers):
            raise fail("name", f"{server.name!r} is used by an earlier server")
        servers.append(server)
    return servers


def load_servers(path: Path | None = None) -> list[ServerConfig]:
    """The configured servers (``servers_file()`` when ``path`` is None); [] when absent."""
    target = Path(path).expanduser() if path is not None else servers_file()
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise PacsError(f"Cannot read the server list {shown_path(target)}: {reason}") from None
    return parse_servers(text, shown_path(target))


# ---------------------------------------------------------------- writing


_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_string(text: str) -> str:
    escaped = []
    for character in text:
        if character == "\\":
            escaped.append("\\\\")
        elif character == '"':
            escaped.append('\\"')
        elif character in "\b\t\n\f\r":
            escaped.append(_ESCAPES[character])
        elif ord(character) < 0x20 or ord(character) == 0x7F:
            escaped.append(f"\\u{ord(character):04X}")
        else:
            escaped.append(character)
    return '"' + "".join(escaped) + '"'


def toml_value(value: str | bool | int | float) -> str:
    """One TOML value (string, boolean, integer or finite float)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} cannot be written to TOML")
        text = repr(value)
        return text if any(mark in text for mark in ".en") else text + ".0"
    return _toml_string(value)


def format_servers(servers: list[ServerConfig]) -> str:
    """``servers`` as the text of ``servers.toml`` (defaults and empty values left out)."""
    defaults = ServerConfig()
    blocks = ["# PACS servers of the surgical planning workstation (no passwords here).\n"]
    for server in servers:
        lines = ["[[server]]"]
        for key in FILE_KEYS:
            value = getattr(server, key)
            if value is None or value == "" or value is False:
                continue
            if key == "port":
                if server.protocol != "dimse":
                    continue
            elif key not in ("name", "protocol") and value == getattr(defaults, key):
                continue
            lines.append(f"{key} = {toml_value(value)}")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def save_servers(servers: list[ServerConfig], path: Path | None = None) -> Path:
    """Write ``servers`` (checked, unique names) atomically with mode 0600; returns the path."""
    names: set[str] = set()
    for server in servers:
        if not server.name.strip():
            raise PacsError(f"Server {server.address!r} has no name")
        if server.name in names:
            raise PacsError(f"Two servers are named {server.name!r}")
        names.add(server.name)
        check_server(server)
    target = Path(path).expanduser() if path is not None else servers_file()
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:
        raise PacsError(
            f"Cannot create {shown_path(target.parent)}: {error.strerror or error}"
        ) from None
    text = format_servers(servers)
    with atomic_write(target) as handle:
        if hasattr(os, "fchmod"):
            os.fchmod(handle.fileno(), 0o600)  # before any byte is written
        handle.write(text.encode("utf-8"))
    return target


# ---------------------------------------------------------------- editing


def find_server(name: str, path: Path | None = None) -> ServerConfig:
    """The configured server called ``name``; PacsError listing the known names otherwise."""
    servers = load_servers(path)
    for server in servers:
        if server.name == name:
            return server
    known = ", ".join(repr(server.name) for server in servers) or "none configured"
    raise PacsError(
        f"No server named {name!r} (known: {known}); add it with `workstation pacs add-server`"
    )


def add_server(
    server: ServerConfig, path: Path | None = None, replace_existing: bool = False
) -> Path:
    """Add ``server`` to the list (or replace the one of that name when asked); saves."""
    servers = load_servers(path)
    position = next((n for n, other in enumerate(servers) if other.name == server.name), None)
    stored = replace(server, password="", token="")
    if position is None:
        servers.append(stored)
    elif replace_existing:
        servers[position] = stored
    else:
        raise PacsError(f"A server named {server.name!r} already exists; remove it first")
    return save_servers(servers, path)


def remove_server(name: str, path: Path | None = None) -> Path:
    """Remove the server called ``name`` and save; PacsError when there is none."""
    servers = load_servers(path)
    kept = [server for server in servers if server.name != name]
    if len(kept) == len(servers):
        find_server(name, path)  # raises with the list of known names
    return save_servers(kept, path)
