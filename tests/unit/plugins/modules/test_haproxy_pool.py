# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""haproxy_pool against a real haproxy (admin socket in tmp_path, health checks on) in front of three
real HTTP servers on loopback: what the load balancer does, measured by requests through it."""

from __future__ import annotations

import http.client
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lb_servers import Backend, count, free_port, get, run_script

from ansible_collections.opsgate.release.plugins.module_utils.lb.haproxy_runtime import HaproxyRuntime, apply
from ansible_collections.opsgate.release.plugins.module_utils.lb.pool import PoolError
from ansible_collections.opsgate.release.plugins.module_utils.lb.weights import share_of, weights_for_share
from ansible_collections.opsgate.release.plugins.modules import haproxy_pool

HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
pytestmark = pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (tests/env/apt-packages.txt)")
NAMES = ["web1", "web2", "web3"]


class Haproxy:
    def __init__(self, tmp_path: Path, backends: list[Backend]) -> None:
        self.socket = str(tmp_path / "admin.sock")
        self.port = free_port()
        servers = "\n".join(f"    server {b.name} 127.0.0.1:{b.port} check inter 100ms fall 2 rise 1" for b in backends)
        # mode tcp: a client connection is one session for its whole life, so an open keep-alive connection counts.
        config = tmp_path / "haproxy.cfg"
        config.write_text(
            f"""global
    stats socket {self.socket} mode 600 level admin
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:{self.port}
    default_backend app
backend app
    balance roundrobin
    option httpchk GET /health
{servers}
"""
        )
        self.process = subprocess.Popen([HAPROXY, "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.runtime = HaproxyRuntime(self.socket)
        deadline = time.monotonic() + 10
        while True:
            try:
                servers_up = self.runtime.servers("app")
                if all(record["status"] == "UP" for record in servers_up.values()):
                    break
            except PoolError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"haproxy did not come up: {self.process.stderr.read().decode()}" if self.process.stderr else "")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        if self.process.stderr:
            self.process.stderr.close()


@pytest.fixture
def backends() -> Iterator[list[Backend]]:
    started = [Backend(name) for name in NAMES]
    yield started
    for backend in started:
        backend.stop()


@pytest.fixture
def lb(tmp_path: Path, backends: list[Backend]) -> Iterator[Haproxy]:
    proxy = Haproxy(tmp_path, backends)
    yield proxy
    proxy.stop()


def call(lb: Haproxy, hosts: list[str], state: str, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("poll_interval", 0.1)
    return apply(lb.runtime, "app", hosts, state, **kwargs)


def test_read_reports_every_server(lb: Haproxy) -> None:
    result = call(lb, [], "read")
    assert result["changed"] is False
    assert result["servers"] == result["before"]
    assert list(result["servers"]) == NAMES
    for record in result["servers"].values():
        assert record == {"admin": "ready", "weight": 1, "sessions": 0, "status": "UP"}


def test_drain_waits_for_an_open_connection_then_reports_sessions_zero(lb: Haproxy) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", lb.port, timeout=10)
    conn.request("GET", "/")  # keep-alive: the connection stays open after the answer
    response = conn.getresponse()
    busy = response.getheader("X-Server")
    response.read()
    assert call(lb, [], "read")["servers"][busy]["sessions"] == 1
    closer = threading.Timer(1.5, conn.close)
    closer.start()
    started = time.monotonic()
    result = call(lb, [busy], "drained", drain_timeout=20)
    waited = time.monotonic() - started
    closer.join()
    assert 1.2 < waited < 10
    assert result["changed"] is True
    assert result["drain_timed_out"] == []
    assert result["before"][busy]["sessions"] == 1
    assert result["servers"][busy]["admin"] == "maint"
    assert result["servers"][busy]["sessions"] == 0
    assert result["changed_hosts"] == [busy]
    # Again: nothing to do.
    assert call(lb, [busy], "drained")["changed"] is False


def test_drain_timeout_takes_the_host_out_anyway(lb: Haproxy) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", lb.port, timeout=10)
    conn.request("GET", "/")
    response = conn.getresponse()
    busy = response.getheader("X-Server")
    response.read()
    try:
        result = call(lb, [busy], "drained", drain_timeout=0.5)
    finally:
        conn.close()
    assert result["drain_timed_out"] == [busy]
    assert result["servers"][busy]["admin"] == "maint"


def test_disabled_hosts_get_no_requests_and_come_back_up(lb: Haproxy) -> None:
    result = call(lb, ["web1", "web2"], "disabled")
    assert result["changed"] is True
    assert {name: result["servers"][name]["admin"] for name in NAMES} == {"web1": "maint", "web2": "maint", "web3": "ready"}
    assert count(lb.port, 50) == {"web3": 50}
    result = call(lb, ["web1", "web2"], "enabled", wait_timeout=10)
    assert result["changed"] is True
    assert all(result["servers"][name]["status"] == "UP" for name in NAMES)
    assert set(count(lb.port, 30)) == set(NAMES)


def test_enable_waits_for_health_checks_and_fails_naming_a_dead_host(lb: Haproxy, backends: list[Backend]) -> None:
    call(lb, ["web2"], "disabled")
    backends[1].stop()
    with pytest.raises(PoolError) as caught:
        call(lb, ["web2"], "enabled", wait_timeout=1.5)
    assert caught.value.msg.startswith(f"haproxy at {lb.socket} backend app: not UP after 1.5s: web2 (")
    assert caught.value.result["before"]["web2"]["admin"] == "maint"
    assert caught.value.result["servers"]["web2"]["admin"] == "ready"
    # Without waiting the call succeeds: haproxy's checks keep the host out.
    assert call(lb, ["web2"], "enabled", wait=False)["changed"] is False


def test_weights_give_ten_percent_and_before_restores_them(lb: Haproxy) -> None:
    original = {"web1": 3, "web2": 5, "web3": 7}
    call(lb, NAMES, "weights", weights=original)
    wanted = weights_for_share(["web1"], ["web2", "web3"], 10, 256, min_weight=0)
    assert share_of(wanted, ["web1"]) == pytest.approx(10)
    result = call(lb, NAMES, "weights", weights=wanted)
    assert result["changed"] is True
    assert {name: record["weight"] for name, record in result["servers"].items()} == wanted
    seen = count(lb.port, 200)
    assert abs(seen.get("web1", 0) - 20) <= 4, seen
    restored = call(lb, NAMES, "weights", weights={name: record["weight"] for name, record in result["before"].items()})
    assert {name: record["weight"] for name, record in restored["servers"].items()} == original
    assert call(lb, NAMES, "weights", weights=original)["changed"] is False


def test_unknown_host_fails_before_anything_changes(lb: Haproxy) -> None:
    with pytest.raises(PoolError) as caught:
        call(lb, ["web1", "web9"], "disabled")
    assert caught.value.msg == f"haproxy at {lb.socket} backend app: not in the pool: web9 (pool: web1, web2, web3)"
    assert call(lb, [], "read")["servers"]["web1"]["admin"] == "ready"


def test_check_mode_reports_without_changing(lb: Haproxy) -> None:
    result = call(lb, ["web1"], "disabled", check_mode=True)
    assert result["changed"] is True
    assert result["servers"]["web1"]["admin"] == "maint"
    assert call(lb, [], "read")["servers"]["web1"]["admin"] == "ready"
    assert count(lb.port, 6) == {"web1": 2, "web2": 2, "web3": 2}


def test_module_as_script_and_a_killed_haproxy(lb: Haproxy, tmp_path: Path) -> None:
    result, proc = run_script("haproxy_pool", {"socket": lb.socket, "backend": "app", "hosts": ["web3"], "state": "disabled"}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert result["changed"] is True and result["servers"]["web3"]["admin"] == "maint"
    assert get(lb.port) in ("web1", "web2")
    lb.process.send_signal(signal.SIGKILL)
    lb.process.wait(10)
    result, proc = run_script("haproxy_pool", {"socket": lb.socket, "backend": "app", "hosts": ["web3"], "state": "enabled"}, tmp_path)
    assert result["failed"] is True
    assert result["msg"] == f"haproxy at {lb.socket}: [Errno 111] Connection refused"
    assert "Traceback" not in proc.stdout + proc.stderr
    missing = str(tmp_path / "nowhere.sock")
    result = run_script("haproxy_pool", {"socket": missing, "backend": "app", "state": "read"}, tmp_path)[0]
    assert result["msg"] == f"haproxy at {missing}: [Errno 2] No such file or directory"


def test_unknown_backend_names_haproxy_and_its_answer(lb: Haproxy) -> None:
    with pytest.raises(PoolError) as caught:
        apply(lb.runtime, "nope", [], "read")
    assert caught.value.msg.startswith(f"haproxy at {lb.socket}: show servers state nope: ")


def test_argspec_matches_documentation() -> None:
    import yaml

    documented = yaml.safe_load(haproxy_pool.DOCUMENTATION)["options"]
    spec = haproxy_pool.argspec()
    assert sorted(documented) == sorted(spec)
    for name, option in spec.items():
        assert documented[name]["type"] == option["type"], name
        assert documented[name].get("default") == option.get("default"), name
        assert documented[name].get("choices") == option.get("choices"), name
