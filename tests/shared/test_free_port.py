"""Ports for servers under test: free, and outside the range outgoing connections take their local ports from
(a port found free there could be a connection's by the time the server binds it)."""

from __future__ import annotations

import socket

from crm_shared import testing


def test_a_free_port_is_bindable_and_below_the_ephemeral_range() -> None:
    first_ephemeral = testing._ephemeral_ports()[0]
    ports = {testing.free_port() for _ in range(20)}
    assert len(ports) > 1  # drawn at random: parallel workers do not all get the same one
    for port in ports:
        if first_ephemeral > testing.LISTEN_PORTS[0]:
            assert testing.LISTEN_PORTS[0] <= port < min(testing.LISTEN_PORTS[1], first_ephemeral)
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_a_taken_port_is_not_handed_out() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", testing.free_port()))
        taken = held.getsockname()[1]
        assert all(testing.free_port() != taken for _ in range(200))
