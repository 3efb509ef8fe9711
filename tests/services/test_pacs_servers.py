"""The server list: servers.toml round trip, malformed files, mode 0600, no stored secrets."""

from __future__ import annotations

import stat
import tomllib

import pytest

from workstation.core.errors import PacsError
from workstation.core.user_dirs import servers_file
from workstation.services.pacs_servers import (
    ServerConfig,
    add_server,
    find_server,
    format_servers,
    load_servers,
    parse_servers,
    remove_server,
    save_servers,
    toml_value,
)

EXAMPLE = """\
[[server]]
name = "pacs"
protocol = "dimse"
ae_title = "ORTHANC"
host = "pacs.hospital.org"
port = 104
calling_aet = "WORKSTATION"
[[server]]
name = "vna"
protocol = "dicomweb"
url = "https://vna.hospital.org/dicom-web"
user = "planner"
password_file = "~/.config/surgical-planning-workstation/vna.password"
ca_bundle = "/etc/ssl/hospital-ca.pem"
"""


def _servers() -> list[ServerConfig]:
    return [
        ServerConfig(
            name="pacs",
            protocol="dimse",
            ae_title="ORTHANC",
            host="pacs.hospital.org",
            port=11112,
            calling_aet="PLANNER1",
            tls=True,
            ca_bundle="/etc/ssl/ca.pem",
            tls_cert="/home/u/me.pem",
            tls_key="/home/u/me.key",
            move_port=11113,
            timeout_s=7.5,
        ),
        ServerConfig(
            name='odd "name" \\ with\ttab',
            protocol="dicomweb",
            url="https://vna.example/dicom-web",
            user="planner",
            password_file="~/vna.password",
        ),
        ServerConfig(name="cloud", protocol="dicomweb", url="http://x/dw", token_file="/t"),
    ]


def test_the_documented_example_reads_as_written(tmp_path):
    path = tmp_path / "servers.toml"
    path.write_text(EXAMPLE)
    pacs, vna = load_servers(path)
    assert (pacs.name, pacs.protocol, pacs.ae_title, pacs.host, pacs.port) == (
        "pacs", "dimse", "ORTHANC", "pacs.hospital.org", 104,
    )  # fmt: skip
    assert pacs.calling_aet == "WORKSTATION" and pacs.move_port is None
    assert pacs.address == "ORTHANC@pacs.hospital.org:104"
    assert vna.protocol == "dicomweb" and vna.url == "https://vna.hospital.org/dicom-web"
    assert vna.user == "planner" and vna.ca_bundle == "/etc/ssl/hospital-ca.pem"
    assert vna.password_file.endswith("vna.password") and vna.timeout_s == 20.0


def test_save_then_load_gives_the_same_servers(tmp_path):
    path = tmp_path / "deep" / "servers.toml"
    servers = _servers()
    assert save_servers(servers, path) == path
    assert load_servers(path) == servers
    # The file is plain TOML any reader agrees with.
    document = tomllib.loads(path.read_text())
    assert [table["name"] for table in document["server"]] == [s.name for s in servers]
    assert document["server"][0]["timeout_s"] == 7.5
    assert document["server"][0]["tls"] is True


def test_file_is_private_and_holds_no_secret(tmp_path):
    path = tmp_path / "servers.toml"
    server = ServerConfig(name="p", protocol="dicomweb", url="https://h/dw", user="u")
    server.password = "s3cret-pw"
    server.token = "tok-123"
    save_servers([server], path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "s3cret-pw" not in text and "tok-123" not in text
    assert "password" not in text.replace("# PACS servers of the surgical planning workstation"
                                          " (no passwords here).", "")  # fmt: skip
    # Saving again over an existing file keeps the mode.
    path.chmod(0o644)
    save_servers([server], path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_default_location_is_the_servers_file_and_absent_means_none():
    assert load_servers() == []
    written = save_servers(_servers()[:1])
    assert written == servers_file()
    assert [server.name for server in load_servers()] == ["pacs"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[server]\nname = 'x'", "not valid TOML"),
        ('[[server]]\nname = "a"\nprotocol = "dimse"\nae_title = "A"\nhost = "h"\n'
         'port = "abc"\n', "line 6: server 1 'port' must be a whole number 1-65535"),
        ('[[server]]\nname = "a"\nae_title = "A"\nhost = "h"\nport = 70000\n',
         "line 5: server 1 'port' must be a whole number 1-65535, not 70000"),
        ('[[server]]\nname = "a"\nprotocol = "smtp"\n', "line 3: server 1 'protocol' must be"),
        ('[[server]]\nname = "a"\nprotocol = "dicomweb"\nurl = "ftp://x"\n',
         "line 4: server 1 'url' must start with http:// or https://"),
        ('[[server]]\nname = "a"\nprotocol = "dicomweb"\nurl = "http://x"\npassword = "pw"\n',
         "line 5: server 1 'password' is not a known setting (secrets are never stored"),
        ('[[server]]\nprotocol = "dicomweb"\nurl = "http://x"\n', "line 1: server 1 has no name"),
        ('[[server]]\nname = "a"\nhost = "h"\n', "server 1 'ae_title' must be 1 to 16"),
        ('[[server]]\nname = "a"\nprotocol = "dicomweb"\nurl = "http://x"\n\n'
         '[[server]]\nname = "a"\nprotocol = "dicomweb"\nurl = "http://y"\n',
         "line 7: server 2 'name' 'a' is used by an earlier server"),
        ('[[server]]\nname = "a"\nprotocol = "dicomweb"\nurl = "http://x"\ntls = "yes"\n',
         "line 5: server 1 'tls' must be true or false"),
        ('[[server]]\nname = "a"\nprotocol = "dicomweb"\nurl = "http://x"\ntimeout_s = -1\n',
         "line 5: server 1 'timeout_s' must be a positive number"),
        ('[general]\nx = 1\n', "unknown section 'general'"),
        ('server = 3\n', "'server' must be a list of [[server]] tables"),
    ],
)  # fmt: skip
def test_malformed_files_name_the_line_and_field(tmp_path, text, expected):
    path = tmp_path / "servers.toml"
    path.write_text(text)
    with pytest.raises(PacsError) as raised:
        load_servers(path)
    message = str(raised.value)
    assert expected in message
    assert str(path) in message and "\n" not in message
    assert raised.value.exit_code == 14


def test_add_find_replace_remove(tmp_path):
    path = tmp_path / "servers.toml"
    first, second, _ = _servers()
    add_server(first, path)
    add_server(second, path)
    assert find_server("pacs", path) == first
    with pytest.raises(PacsError, match="already exists"):
        add_server(first, path)
    changed = ServerConfig(name="pacs", ae_title="OTHER", host="h2", port=4242)
    add_server(changed, path, replace_existing=True)
    assert [s.name for s in load_servers(path)] == ["pacs", second.name]
    assert find_server("pacs", path).address == "OTHER@h2:4242"
    remove_server("pacs", path)
    assert [s.name for s in load_servers(path)] == [second.name]
    with pytest.raises(PacsError, match=r"No server named 'pacs' \(known: 'odd"):
        remove_server("pacs", path)


def test_save_refuses_unnamed_duplicate_or_broken_servers(tmp_path):
    path = tmp_path / "servers.toml"
    good = ServerConfig(name="a", protocol="dicomweb", url="http://h/dw")
    with pytest.raises(PacsError, match="Two servers are named 'a'"):
        save_servers([good, good], path)
    with pytest.raises(PacsError, match="has no name"):
        save_servers([ServerConfig(protocol="dicomweb", url="http://h")], path)
    with pytest.raises(PacsError, match="port must be 1-65535"):
        save_servers([ServerConfig(name="b", ae_title="X", host="h", port=0)], path)
    assert not path.exists()


def test_toml_values_round_trip_through_tomllib():
    values = ["plain", 'q"uote', "back\\slash", "tab\tnew\nline", "\x01\x7f", "ünïcode", 5,
              7.0, 0.1, 1e-9, True, False]  # fmt: skip
    text = "\n".join(f"k{n} = {toml_value(value)}" for n, value in enumerate(values))
    parsed = tomllib.loads(text)
    assert [parsed[f"k{n}"] for n in range(len(values))] == values
    with pytest.raises(ValueError):
        toml_value(float("nan"))


def test_format_leaves_defaults_out_but_keeps_the_port():
    text = format_servers([ServerConfig(name="p", ae_title="A", host="h")])
    assert "port = 104" in text
    assert "calling_aet" not in text and "timeout_s" not in text and "tls" not in text
    assert parse_servers(text)[0] == ServerConfig(name="p", ae_title="A", host="h")
