# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The sample application the scenarios and the demo deploy: a tiny HTTP service, standard library only.

``/health`` answers ``{"status": "ok", "version": ..., "greeting": ...}`` with 200, or 503 with
``"status": "failing"`` when the build is marked broken. ``/`` answers one line of text.
``/data`` answers what the config's ``db_command`` (an argv, e.g. psql reading a table) prints, or 503.
The port, the greeting and the database command come from the JSON config file the deploy renders.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


def read_build() -> dict[str, Any]:
    """VERSION and BROKEN are written by build.py next to this file."""
    with open(os.path.join(HERE, "VERSION"), encoding="utf-8") as handle:
        version = handle.read().strip()
    return {"version": version, "broken": os.path.exists(os.path.join(HERE, "BROKEN"))}


def read_config(path: str) -> dict[str, Any]:
    # Lines starting with "#" are comments (the deploy puts its "managed by Ansible" header there).
    with open(path, encoding="utf-8") as handle:
        config = json.loads("".join(line for line in handle if not line.lstrip().startswith("#")))
    if not isinstance(config.get("port"), int):
        raise SystemExit(f"{path}: port must be an integer, got {config.get('port')!r}")
    return config


def make_handler(build: dict[str, Any], config: dict[str, Any]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "sample_app"

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/health":
                status = "failing" if build["broken"] else "ok"
                body = {"status": status, "version": build["version"], "greeting": config.get("greeting", ""), "pid": os.getpid()}
                self._send(503 if build["broken"] else 200, json.dumps(body).encode(), "application/json")
            elif self.path == "/data" and config.get("db_command"):
                self._data(config["db_command"])
            elif self.path == "/":
                self._send(200, f"{config.get('greeting', 'hello')} from sample_app {build['version']}\n".encode(), "text/plain")
            else:
                self._send(404, b"not found\n", "text/plain")

        def _data(self, argv: list[str]) -> None:
            # The scenarios' app reads a table through psql: a schema the release does not fit answers 503.
            try:
                done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                self._send(503, f"{exc}\n".encode(), "text/plain")
                return
            if done.returncode != 0:
                self._send(503, done.stderr.encode(), "text/plain")
            else:
                self._send(200, done.stdout.encode(), "text/plain")

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    return Handler


def _stop_on_signal(signum: int, frame: object) -> None:
    # SIGTERM (a stop or restart) ends serve_forever the way Ctrl-C does.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="JSON config rendered by the deploy (port, greeting)")
    args = parser.parse_args(argv)
    build = read_build()
    config = read_config(args.config)
    server = ThreadingHTTPServer((config.get("bind", "127.0.0.1"), config["port"]), make_handler(build, config))
    signal.signal(signal.SIGTERM, _stop_on_signal)
    sys.stderr.write(f"sample_app {build['version']} listening on {config.get('bind', '127.0.0.1')}:{config['port']}\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
