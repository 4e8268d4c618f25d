# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real backends for the load balancer tests: tiny HTTP servers on loopback that say who they are,
a client that counts which one answered, and a runner for a module as a script."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parents[4]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Backend:
    """An HTTP server named ``name``: ``/`` answers its name, ``/slow?s=N`` after N seconds, ``/health`` ok."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.hits = 0
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path == "/slow":
                    time.sleep(float(parse_qs(url.query)["s"][0]))
                if url.path != "/health":
                    backend.hits += 1
                body = backend.name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Server", backend.name)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # health checks and killed clients hang up early

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def get(port: int, path: str = "/", timeout: float = 10) -> str:
    """One request on a new connection; the name of the backend that answered."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        body = response.read().decode()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {body[:200]}")
        return body
    finally:
        conn.close()


def count(port: int, requests: int) -> dict[str, int]:
    seen: dict[str, int] = {}
    for _request in range(requests):
        name = get(port)
        seen[name] = seen.get(name, 0) + 1
    return seen


class ClientLoop:
    """Requests one after another on new connections in a thread until stopped; counts failures."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                get(self.port)
                self.ok += 1
            except Exception as exc:
                self.failures.append(repr(exc))
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(20)


def run_script(module: str, args: dict[str, Any], tmp_path: Path) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    """Run ``plugins/modules/<module>.py`` as Ansible runs a module: a JSON args file, the result on stdout."""
    args_file = tmp_path / (f"{module}-args.json")
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = dict(os.environ, PYTHONPATH=str(ROOT / ".collections"))
    proc = subprocess.run(
        [sys.executable, "-m", f"ansible_collections.opsgate.release.plugins.modules.{module}", str(args_file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    return json.loads(proc.stdout), proc
