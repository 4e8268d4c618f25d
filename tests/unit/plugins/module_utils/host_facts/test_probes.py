# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The network questions of a readiness spec, asked from the host: real sockets and this machine's resolver."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from ansible_collections.opsgate.release.plugins.module_utils.host_facts.probes import hostname_resolves, probe_endpoint, probe_endpoints


@pytest.fixture
def listening() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


@pytest.fixture
def closed_port() -> int:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now: connections are refused
    return port


def test_a_listening_port_is_reachable(listening: int) -> None:
    result = probe_endpoint("127.0.0.1", listening, 2)

    assert result["reachable"] is True and result["error"] is None and isinstance(result["elapsed_ms"], int)


def test_a_refused_port_is_tried_until_its_timeout_and_named(closed_port: int) -> None:
    attempts: list[tuple[str, int]] = []

    def connect(address: tuple[str, int], timeout: float) -> socket.socket:
        attempts.append(address)
        return socket.create_connection(address, timeout=timeout)

    result = probe_endpoint("127.0.0.1", closed_port, 1.2, connect)

    assert result["reachable"] is False
    assert result["error"].startswith(f"127.0.0.1:{closed_port} not reachable within 1.2s: "), result["error"]
    assert "refused" in result["error"].lower(), result["error"]
    assert len(attempts) >= 2  # retried, as wait_for would


def test_every_endpoint_is_answered_by_name(listening: int, closed_port: int) -> None:
    endpoints = [
        {"name": "db", "host": "127.0.0.1", "port": listening, "timeout_s": 2},
        {"name": "crm", "host": "127.0.0.1", "port": closed_port, "timeout_s": 0.5},
    ]

    result = probe_endpoints(endpoints)

    assert list(result) == ["db", "crm"]
    assert result["db"]["reachable"] is True and result["crm"]["reachable"] is False


def test_no_endpoints_no_probes() -> None:
    assert probe_endpoints([]) == {}


def test_a_name_resolves_through_the_resolver_and_an_invalid_one_does_not() -> None:
    assert hostname_resolves("localhost") is True
    assert hostname_resolves("no-such-host.invalid") is False


def test_a_resolver_error_is_not_resolving() -> None:
    def broken(_name: str, _port: object) -> list[object]:
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    assert hostname_resolves("db01", broken) is False
