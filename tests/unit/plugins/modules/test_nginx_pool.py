# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""nginx_pool against a real nginx (own prefix and config in tmp_path, a loopback high port) whose upstream
includes the managed file, in front of three real HTTP servers: measured by requests through it."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lb_servers import Backend, ClientLoop, count, free_port, get, run_script

from ansible_collections.opsgate.release.plugins.module_utils.lb.nginx_upstream import apply, master_pid, workers
from ansible_collections.opsgate.release.plugins.module_utils.lb.pool import PoolError
from ansible_collections.opsgate.release.plugins.module_utils.lb.weights import share_of, weights_for_share
from ansible_collections.opsgate.release.plugins.modules import nginx_pool

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (tests/env/apt-packages.txt)")
NAMES = ["web1", "web2", "web3"]


class Nginx:
    def __init__(self, tmp_path: Path, backends: list[Backend]) -> None:
        self.prefix = tmp_path / "nginx"
        self.prefix.mkdir()
        self.port = free_port()
        self.upstream_file = str(self.prefix / "app-upstream.conf")
        self.pid_file = str(self.prefix / "nginx.pid")
        self.servers = {b.name: f"127.0.0.1:{b.port}" for b in backends}
        config = self.prefix / "nginx.conf"
        config.write_text(
            f"""worker_processes 1;
error_log {self.prefix}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    upstream app {{ include {self.upstream_file}; }}
    server {{
        listen 127.0.0.1:{self.port};
        location / {{ proxy_pass http://app; proxy_read_timeout 30s; }}
    }}
}}
"""
        )
        base = f"{NGINX} -p {self.prefix} -c {config} -g 'daemon on; pid {self.pid_file};'"
        self.test_command = base + " -t"
        self.reload_command = base + " -s reload"
        # The file must exist before nginx starts: the module writes it first, nginx not running yet.
        Path(self.upstream_file).write_text("".join(f"server {address} weight=1; # opsgate: {name}\n" for name, address in self.servers.items()))
        subprocess.run(["sh", "-c", base], check=True, capture_output=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.master = master_pid(self.pid_file)
                if workers(self.master):
                    get(self.port)
                    break
            except (PoolError, OSError, RuntimeError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not start: " + (self.prefix / "error.log").read_text())
            time.sleep(0.05)

    def call(self, hosts: list[str], state: str, **kwargs: Any) -> dict[str, Any]:
        kwargs.setdefault("reload_command", self.reload_command)
        kwargs.setdefault("test_command", self.test_command)
        kwargs.setdefault("pid_file", self.pid_file)
        kwargs.setdefault("poll_interval", 0.05)
        return apply(self.upstream_file, hosts, state, **kwargs)

    def stop(self) -> None:
        subprocess.run(["sh", "-c", self.reload_command.replace("-s reload", "-s stop")], capture_output=True, check=False)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{self.master}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.fixture
def backends() -> Iterator[list[Backend]]:
    started = [Backend(name) for name in NAMES]
    yield started
    for backend in started:
        backend.stop()


@pytest.fixture
def lb(tmp_path: Path, backends: list[Backend]) -> Iterator[Nginx]:
    proxy = Nginx(tmp_path, backends)
    yield proxy
    proxy.stop()


def test_read_parses_the_file(lb: Nginx) -> None:
    result = lb.call([], "read")
    assert result["changed"] is False and result["reloaded"] is False
    assert result["servers"] == result["before"]
    assert result["servers"] == {name: {"admin": "ready", "weight": 1, "sessions": None, "status": "no check"} for name in NAMES}


def test_disabled_hosts_get_no_requests_and_come_back(lb: Nginx) -> None:
    result = lb.call(["web1", "web2"], "disabled")
    assert result["changed"] is True and result["reloaded"] is True
    assert {name: result["servers"][name]["admin"] for name in NAMES} == {"web1": "maint", "web2": "maint", "web3": "ready"}
    assert "server 127.0.0.1:" in Path(lb.upstream_file).read_text() and "down; # opsgate: web1" in Path(lb.upstream_file).read_text()
    assert count(lb.port, 50) == {"web3": 50}
    assert lb.call(["web1", "web2"], "disabled")["changed"] is False
    result = lb.call(["web1", "web2"], "enabled")
    assert all(record["admin"] == "ready" for record in result["servers"].values())
    assert set(count(lb.port, 30)) == set(NAMES)


def test_drain_lets_a_long_request_finish_with_no_failed_request(lb: Nginx) -> None:
    answers: list[str] = []
    slow = threading.Thread(target=lambda: answers.append(get(lb.port, "/slow?s=2")))
    slow.start()
    time.sleep(0.3)  # the slow request is in flight on the current worker
    loop = ClientLoop(lb.port)
    try:
        started = time.monotonic()
        result = lb.call(NAMES[:1], "drained", drain_timeout=20)
        waited = time.monotonic() - started
        slow.join(10)
        time.sleep(0.3)
        lb.call(NAMES[:1], "enabled")
        time.sleep(0.3)
    finally:
        loop.stop()
    assert len(answers) == 1  # the long request finished (on the old worker), whichever backend it went to
    assert 1.0 < waited < 10, waited
    assert result["drain_timed_out"] == [] and result["draining_workers"] == []
    assert result["servers"]["web1"]["admin"] == "maint"
    assert loop.failures == [] and loop.ok > 20


def test_drain_timeout_reports_the_workers_left(lb: Nginx) -> None:
    slow = threading.Thread(target=lambda: get(lb.port, "/slow?s=2"))
    slow.start()
    time.sleep(0.3)
    result = lb.call(["web2"], "drained", drain_timeout=0.3)
    slow.join(10)
    assert result["drain_timed_out"] == ["web2"]
    assert len(result["draining_workers"]) == 1


def test_weights_give_ten_percent_and_before_restores_them(lb: Nginx) -> None:
    original = {"web1": 3, "web2": 5, "web3": 7}
    lb.call(NAMES, "weights", weights=original)
    wanted = weights_for_share(["web1"], ["web2", "web3"], 10, 100)
    assert share_of(wanted, ["web1"]) == pytest.approx(10)
    result = lb.call(NAMES, "weights", weights=wanted)
    assert {name: record["weight"] for name, record in result["servers"].items()} == wanted
    seen = count(lb.port, 200)
    assert abs(seen.get("web1", 0) - 20) <= 4, seen
    restored = lb.call(NAMES, "weights", weights={name: record["weight"] for name, record in result["before"].items()})
    assert {name: record["weight"] for name, record in restored["servers"].items()} == original
    with pytest.raises(PoolError, match="weight of web1 must be an integer 1"):
        lb.call(NAMES, "weights", weights={"web1": 0, "web2": 1, "web3": 1})


def test_failed_config_test_restores_the_previous_file(lb: Nginx) -> None:
    previous = Path(lb.upstream_file).read_text()
    servers = dict(lb.servers, web4="no-such-host.invalid:80")
    with pytest.raises(PoolError) as caught:
        lb.call(["web4"], "disabled", servers=servers)
    assert caught.value.msg.startswith(f"nginx upstream file {lb.upstream_file}: {lb.test_command} failed (previous file restored): ")
    assert "host not found in upstream" in caught.value.msg
    assert Path(lb.upstream_file).read_text() == previous
    assert [p.name for p in Path(lb.upstream_file).parent.iterdir() if p.name.startswith(".opsgate-")] == []
    assert set(count(lb.port, 9)) == set(NAMES)


def test_servers_create_the_file_and_unknown_hosts_fail_first(lb: Nginx, tmp_path: Path) -> None:
    Path(lb.upstream_file).unlink()
    with pytest.raises(PoolError, match="does not exist; servers"):
        lb.call(["web1"], "disabled")
    with pytest.raises(PoolError, match=r"not in the pool: web9 \(pool: web1, web2, web3\)"):
        lb.call(["web9"], "disabled", servers=lb.servers)
    assert not Path(lb.upstream_file).exists()
    result = lb.call(["web3"], "disabled", servers=lb.servers)
    assert result["before"] == {} and result["changed_hosts"] == NAMES
    assert count(lb.port, 10) == {"web1": 5, "web2": 5}


def test_check_mode_reports_without_changing(lb: Nginx) -> None:
    previous = Path(lb.upstream_file).read_text()
    result = lb.call(["web1"], "disabled", check_mode=True)
    assert result["changed"] is True and result["reloaded"] is False
    assert result["servers"]["web1"]["admin"] == "maint"
    assert Path(lb.upstream_file).read_text() == previous


def test_module_as_script_and_a_stopped_nginx(lb: Nginx, tmp_path: Path) -> None:
    args = {
        "upstream_file": lb.upstream_file,
        "hosts": ["web3"],
        "state": "disabled",
        "reload_command": lb.reload_command,
        "test_command": lb.test_command,
        "pid_file": lb.pid_file,
    }
    result, proc = run_script("nginx_pool", args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert result["changed"] is True and result["servers"]["web3"]["admin"] == "maint"
    assert get(lb.port) in ("web1", "web2")
    lb.stop()
    result, proc = run_script("nginx_pool", dict(args, state="enabled"), tmp_path)
    assert result["failed"] is True
    assert result["msg"].startswith(f"nginx (pid file {lb.pid_file}) is not running: ")
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "down; # opsgate: web3" in Path(lb.upstream_file).read_text()  # nothing written


def test_argspec_matches_documentation() -> None:
    import yaml

    documented = yaml.safe_load(nginx_pool.DOCUMENTATION)["options"]
    spec = nginx_pool.argspec()
    assert sorted(documented) == sorted(spec)
    for name, option in spec.items():
        assert documented[name]["type"] == option["type"], name
        assert documented[name].get("default") == option.get("default"), name
        assert documented[name].get("choices") == option.get("choices"), name
