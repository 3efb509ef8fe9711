"""A failed association closes its socket at once, not when the garbage collector runs."""

from __future__ import annotations

import socket
from types import SimpleNamespace

from pynetdicom.transport import AssociationSocket

import workstation.io.pacs.dimse_association  # noqa: F401 - installs the close fix


def test_a_socket_that_never_connected_is_closed() -> None:
    never_connected = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder = SimpleNamespace(socket=never_connected)
    AssociationSocket._shutdown_socket(holder)  # type: ignore[arg-type]
    assert never_connected.fileno() == -1  # shutdown() fails on it; close() must still run


def test_a_connected_socket_is_shut_down_and_closed() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        with accepted:
            AssociationSocket._shutdown_socket(SimpleNamespace(socket=client))  # type: ignore[arg-type]
            assert client.fileno() == -1
            assert accepted.recv(1) == b""  # the peer saw the connection end
