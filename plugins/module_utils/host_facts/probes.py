# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a readiness spec asks the host about its network: does its hostname resolve, can it reach these TCP endpoints.

Asked from the host itself, in the same module run as its facts. Each endpoint is tried until it answers or its own
timeout ends (as ``wait_for`` would), all endpoints at once, so the slowest one decides how long this takes.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

RETRY_INTERVAL = 0.5


def hostname_resolves(hostname: str, resolve: Callable[..., Any] = socket.getaddrinfo) -> bool:
    """Whether the name resolves through the host's resolver (NSS: /etc/hosts, DNS), as ``getent ahosts`` asks it."""
    try:
        return bool(resolve(hostname, None))
    except (OSError, UnicodeError):
        return False


def probe_endpoint(host: str, port: int, timeout_s: float, connect: Callable[..., Any] = socket.create_connection) -> dict[str, Any]:
    """``{reachable, elapsed_ms, error}``: a TCP connection to host:port within ``timeout_s`` seconds, retried until then."""
    started = time.monotonic()
    deadline = started + max(float(timeout_s), 0.1)
    last_error = "no attempt"
    while True:
        remaining = deadline - time.monotonic()
        try:
            with connect((host, int(port)), timeout=max(remaining, 0.05)):
                return {"reachable": True, "elapsed_ms": round((time.monotonic() - started) * 1000), "error": None}
        except OSError as exc:
            last_error = exc.strerror or str(exc) or type(exc).__name__
        if time.monotonic() + RETRY_INTERVAL >= deadline:
            break
        time.sleep(RETRY_INTERVAL)
    elapsed = round((time.monotonic() - started) * 1000)
    return {"reachable": False, "elapsed_ms": elapsed, "error": f"{host}:{port} not reachable within {timeout_s:g}s: {last_error}"[:160]}


def probe_endpoints(endpoints: list[dict[str, Any]], connect: Callable[..., Any] = socket.create_connection) -> dict[str, dict[str, Any]]:
    """Endpoint name -> probe result, every endpoint probed at the same time."""
    results: dict[str, dict[str, Any]] = {}

    def probe(endpoint: dict[str, Any]) -> None:
        results[str(endpoint["name"])] = probe_endpoint(str(endpoint["host"]), int(endpoint["port"]), float(endpoint["timeout_s"]), connect)

    threads = [threading.Thread(target=probe, args=(endpoint,), daemon=True) for endpoint in endpoints]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {str(endpoint["name"]): results[str(endpoint["name"])] for endpoint in endpoints}
