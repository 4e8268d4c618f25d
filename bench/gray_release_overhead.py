# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Gray release of 20 hosts in 4 batches against a handwritten `serial: 5` playbook (issues 7 and 13).

Starts 20 app hosts + 1 load balancer host (bench/fleet.py, SSH), haproxy (--lb haproxy, the default) or
nginx (--lb nginx). Every app host carries two copies of the sample app, one per side, each behind its own
pool on the load balancer, so the two sides never touch each other's files: ours is playbooks/gray_release.yml
(/srv/sample_app, port 8080, haproxy backend `app` or nginx upstream `app` from
/etc/nginx/opsgate/app-upstream.conf through opsgate.release.nginx_pool; plan 5 hosts, "50%", "75%", "100%",
no pauses); the baseline is bench/baseline/serial_release.yml with haproxy, serial_release_nginx.yml with
nginx (/srv/serial_app, port 8081, backend or upstream `serial`; the same tasks of serial_deploy.yml: same
tar.gz, config, symlink switch, systemd restart, /health check; drain/enable with community.general.haproxy,
or per batch a `replace` adding/removing ` down` in /etc/nginx/opsgate/serial-upstream.conf and
`nginx -s reload`). Both run with -f 10 and ansible.cfg's SSH settings. Each run deploys the next version
over the previous one; ours gets a fresh gray_release token for that version, signed before the clock starts.
v1 is installed untimed (ours with playbooks/deploy.yml), then one warm-up each and RUNS alternating rounds;
after every run each host must answer with the new version on that side's port and be UP in its haproxy
backend (nginx: in its side's upstream file and not `down`), or the figures would compare unequal work.
Prints medians and ours/baseline (issue 13: at most 1.0).

Run from the repository root:  .venv/bin/python bench/gray_release_overhead.py [--lb haproxy|nginx] [--runs 3] [--hosts 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fleet

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "grbench"
FORKS = "10"
ENV = "bench"
SIDES = {
    # side -> (port, haproxy backend or nginx upstream)
    "ours": (8080, "app"),
    "baseline": (8081, "serial"),
}
LBS = ("haproxy", "nginx")
# nginx: each side's upstream include file, in opsgate.release.nginx_pool's format.
NGINX_UPSTREAM = "/etc/nginx/opsgate/{pool}-upstream.conf"
BASELINE = {"haproxy": "bench/baseline/serial_release.yml", "nginx": "bench/baseline/serial_release_nginx.yml"}
# What the check must find for every host in that side's pool.
IN_POOL = {"haproxy": "UP", "nginx": "in rotation"}
ROLLOUT = {
    "steps": [{"hosts": 5}, {"hosts": "50%"}, {"hosts": "75%"}, {"hosts": "100%"}],
    # One good probe, as the baseline's single uri check; consecutive_successes: 3 would add
    # 2 intervals per batch on both the clock and the hosts.
    "health": {"interval": 1, "consecutive_successes": 1, "failure_limit": 2, "timeout": 30},
    "failure_budget": 0,
}
APPROVALS_SH = ROOT / "molecule/deploy/approvals.sh"

# Run on the load balancer host after each run: every server's /health version on one port, and its status
# in one pool. haproxy: `show stat` (pxname, svname, ..., status is field 17). nginx: the pool's upstream file,
# `server ADDRESS:PORT weight=N[ down]; # opsgate: NAME`; "in rotation" when the line names the host's
# address and port and has no `down`.
_CHECK = r"""
import json, re, socket, sys, urllib.request
lb, port, pool, servers = sys.argv[1], int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
status = {}
if lb == "haproxy":
    sock = socket.socket(socket.AF_UNIX)
    sock.connect("/run/haproxy/admin.sock")
    sock.sendall(b"show stat\n")
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    status = {f[1]: f[17] for f in (line.split(",") for line in data.decode().splitlines()) if len(f) > 17 and f[0] == pool}
else:
    with open(f"/etc/nginx/opsgate/{pool}-upstream.conf") as upstream:
        for line in upstream:
            found = re.match(r"\s*server\s+(\S+)((?:\s+\S+)*?)\s*;\s*#\s*opsgate:\s*(\S+)\s*$", line)
            if found:
                address, params, name = found.groups()
                if address != f"{servers.get(name)}:{port}":
                    status[name] = f"wrong address {address}"
                else:
                    status[name] = "down" if "down" in params.split() else "in rotation"
out = {}
for name, address in servers.items():
    try:
        with urllib.request.urlopen(f"http://{address}:{port}/health", timeout=3) as answer:
            version = json.loads(answer.read()).get("version")
    except OSError as exc:
        version = f"no answer: {exc}"
    out[name] = {"version": version, "status": status.get(name, "missing")}
print(json.dumps(out))
"""


def _haproxy_config(app_hosts: dict[str, str]) -> str:
    lines = [
        "global",
        "    stats socket /run/haproxy/admin.sock mode 600 level admin",
        "    stats timeout 30s",
        "    log stdout format raw local0 notice",
        "",
        "defaults",
        "    mode http",
        "    timeout connect 2s",
        "    timeout client 10s",
        "    timeout server 10s",
        "    retries 3",
        "    option redispatch",
    ]
    for listen_port, (port, backend) in zip((80, 81), SIDES.values(), strict=True):
        lines += ["", f"frontend {backend}_front", f"    bind *:{listen_port}", f"    default_backend {backend}", ""]
        lines += [f"backend {backend}", "    balance roundrobin", "    option httpchk GET /health", "    default-server inter 500ms fall 2 rise 1"]
        lines += [f"    server {name} {address}:{port} check" for name, address in app_hosts.items()]
    return "\n".join(lines) + "\n"


def _start_haproxy(lb: str, app_hosts: dict[str, str], workdir: Path) -> None:
    """haproxy with the admin socket, as molecule/gray_release/prepare.yml sets it up."""
    config = workdir / "haproxy.cfg"
    config.write_text(_haproxy_config(app_hosts))
    fleet._podman("cp", str(config), f"{lb}:/etc/haproxy/haproxy.cfg")
    script = (
        "mkdir -p /run/haproxy /etc/systemd/system/haproxy.service.d"
        " && printf '[Service]\\nBindReadOnlyPaths=\\n' > /etc/systemd/system/haproxy.service.d/container.conf"
        " && systemctl daemon-reload && systemctl restart haproxy && systemctl is-active haproxy"
    )
    fleet._podman("exec", lb, "sh", "-c", script)


def _nginx_upstream(app_hosts: dict[str, str], port: int) -> str:
    """An upstream include file as opsgate.release.nginx_pool writes it, every host in rotation at weight 1."""
    lines = ["# Managed by opsgate.release (nginx_pool): the servers of one upstream; edits are overwritten."]
    lines += [f"server {address}:{port} weight=1; # opsgate: {name}" for name, address in app_hosts.items()]
    return "\n".join(lines) + "\n"


def _nginx_config() -> str:
    """One upstream per side from its include file, each behind its own server (listen 80: app, 81: serial)."""
    lines = [
        "user www-data;",
        "worker_processes 2;",
        "pid /run/nginx.pid;",
        "error_log /var/log/nginx/error.log warn;",
        "events {",
        "    worker_connections 512;",
        "}",
        "http {",
        "    access_log off;",
    ]
    for listen_port, (_port, pool) in zip((80, 81), SIDES.values(), strict=True):
        lines += [
            f"    upstream {pool} {{",
            f"        include {NGINX_UPSTREAM.format(pool=pool)};",
            "    }",
            "    server {",
            f"        listen {listen_port};",
            "        location / {",
            f"            proxy_pass http://{pool};",
            "            proxy_connect_timeout 2s;",
            "            proxy_next_upstream error timeout http_502 http_503;",
            "        }",
            "    }",
        ]
    return "\n".join([*lines, "}"]) + "\n"


def _start_nginx(lb: str, app_hosts: dict[str, str], workdir: Path) -> None:
    """nginx with both sides' upstream files, as molecule/shared/gray_prepare.yml sets it up for one."""
    fleet._podman("exec", lb, "mkdir", "-p", "/etc/nginx/opsgate")
    for port, pool in SIDES.values():
        upstream = workdir / f"{pool}-upstream.conf"
        upstream.write_text(_nginx_upstream(app_hosts, port))
        fleet._podman("cp", str(upstream), f"{lb}:{NGINX_UPSTREAM.format(pool=pool)}")
    config = workdir / "nginx.conf"
    config.write_text(_nginx_config())
    fleet._podman("cp", str(config), f"{lb}:/etc/nginx/nginx.conf")
    fleet._podman("exec", lb, "sh", "-c", "nginx -t && systemctl restart nginx && systemctl is-active nginx")


def _build(versions: list[str], workdir: Path) -> dict[str, str]:
    digests = {}
    for version in versions:
        out = subprocess.run(
            [sys.executable, str(ROOT / "demo/sample_app/build.py"), version, str(workdir / "artifacts")], check=True, capture_output=True, text=True
        ).stdout
        digests[version] = out.split()[0]
    return digests


def _sign(workdir: Path, action: str, version: str, sha256: str, hosts: list[str]) -> Path:
    token = workdir / "tokens" / f"{action}-{version}.json"
    token.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "bash",
            str(APPROVALS_SH),
            "token",
            str(workdir / "approvals"),
            str(token),
            action,
            "sample_app",
            version,
            sha256,
            ENV,
            ",".join(sorted(hosts)),
            f"CHG-{version}",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return token


def _write_inventory(app_hosts: dict[str, str], lb: tuple[str, str], lb_kind: str, workdir: Path) -> Path:
    manifest = {
        "app": "sample_app",
        "version": "{{ app_version }}",
        "change_id": "CHG-{{ app_version }}",
        "base_dir": "/srv/sample_app",
        "artifacts": [{"src": str(workdir / "artifacts") + "/sample_app-{{ app_version }}.tar.gz", "sha256": "{{ app_sha256 }}"}],
        "config_files": [{"src": str(ROOT / "demo/sample_app/config.json.j2"), "dest": "config/app.json"}],
        "owner": "root",
        "group": "root",
        "service": {"type": "systemd", "name": "sample_app", "start": "/usr/bin/python3 sample_app.py --config config/app.json"},
        # The baseline's uri check: 200 and the new version, 10 tries 1 s apart, 3 s timeout.
        "health": {
            "type": "http",
            "url": "http://127.0.0.1:8080/health",
            "jmespath": "status == 'ok'",
            "version_field": "version",
            "retries": 10,
            "interval": 1,
            "timeout": 3,
        },
        "keep_releases": 3,
    }
    inventory = {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(workdir / "id_ed25519"),
                "ansible_python_interpreter": "/usr/bin/python3",
            },
            "children": {
                "app": {
                    "hosts": {name: {"ansible_host": address} for name, address in app_hosts.items()},
                    "vars": {
                        "opsgate_env": ENV,
                        # deploy and gray_release check readiness before the gate (issue 12); the bench hosts meet this.
                        "opsgate_readiness_spec": {
                            "system_class": "bench",
                            "memory": {"min_gib": 0.25},
                            "os": {"families": ["Debian"], "min_version": "12"},
                            "software": {"required": ["python3"]},
                            "severity": {"fleet.*": "info"},
                        },
                        "sample_app_port": SIDES["ours"][0],
                        "sample_app_bind": "0.0.0.0",
                        "sample_app_greeting": "hello from {{ app_version | default('?') }}",
                        "opsgate_release": manifest,
                        "opsgate_rollout": ROLLOUT,
                    },
                },
                "opsgate_lb": {"hosts": {lb[0]: {"ansible_host": lb[1]}}},
            },
        }
    }
    if lb_kind == "nginx":
        # Ours through the role's load balancer seam (kind haproxy, backend app, is the default with group opsgate_lb).
        inventory["all"]["children"]["app"]["vars"]["opsgate_load_balancer"] = {
            "kind": "nginx",
            "upstream_file": NGINX_UPSTREAM.format(pool=SIDES["ours"][1]),
        }
    path = workdir / "inventory.json"
    path.write_text(json.dumps(inventory, indent=2))
    return path


def _playbook(argv: list[str], workdir: Path, label: str, profile: bool = False) -> float:
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        OPSGATE_TRUST_ROOT=str(workdir / "approvals/trust/root.json"),
    )
    if profile:
        env.update(ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks", PROFILE_TASKS_TASK_OUTPUT_LIMIT="12")
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-f", FORKS, *argv]
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    log = workdir / "logs" / f"{label}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(done.stdout + "\n" + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"{label} failed (rc {done.returncode}), log {log}:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return elapsed


def _check(lb: str, lb_kind: str, app_hosts: dict[str, str], side: str, version: str) -> None:
    port, pool = SIDES[side]
    expected = {"version": version, "status": IN_POOL[lb_kind]}
    # After deploy.yml (no load balancer steps) haproxy needs a check interval or two to see the servers UP.
    deadline = time.monotonic() + 15
    while True:
        seen = json.loads(fleet._podman("exec", lb, "python3", "-c", _CHECK, lb_kind, str(port), pool, json.dumps(app_hosts)))
        wrong = {name: found for name, found in seen.items() if found != expected}
        if not wrong:
            return
        if time.monotonic() > deadline:
            where = f"haproxy backend {pool}" if lb_kind == "haproxy" else f"nginx upstream file {NGINX_UPSTREAM.format(pool=pool)}"
            raise RuntimeError(f"{side} after deploying {version}: hosts not on it or not {expected['status']} in {where}: {wrong}")
        time.sleep(1)


class Bench:
    """One fleet, both sides; each `run` deploys the next version on one side and checks it."""

    def __init__(self, app_hosts: dict[str, str], lb: str, lb_kind: str, inventory: Path, policy: Path, digests: dict[str, str], workdir: Path) -> None:
        self.app_hosts, self.lb, self.lb_kind, self.inventory, self.policy = app_hosts, lb, lb_kind, inventory, policy
        self.digests, self.workdir = digests, workdir
        self.next_version = {"ours": list(digests), "baseline": list(digests)}

    def _argv(self, side: str, version: str, action: str) -> list[str]:
        if side == "baseline":
            artifact = self.workdir / "artifacts" / f"sample_app-{version}.tar.gz"
            playbook = ROOT / BASELINE[self.lb_kind]
            return ["-i", str(self.inventory), str(playbook), "-e", f"app_version={version}", "-e", f"app_artifact={artifact}"]
        token = _sign(self.workdir, action, version, self.digests[version], list(self.app_hosts))
        playbook = "deploy.yml" if action == "deploy" else "gray_release.yml"
        return [
            "-i",
            str(self.inventory),
            "-i",
            str(self.policy),
            str(ROOT / "playbooks" / playbook),
            "-e",
            f"opsgate_approval_token=@{token}",
            "-e",
            f"app_version={version}",
            "-e",
            f"app_sha256={self.digests[version]}",
            "-e",
            "opsgate_target_hosts=app",
        ]

    def run(self, side: str, action: str = "gray_release", profile: bool = False) -> float:
        version = self.next_version[side].pop(0)
        argv = self._argv(side, version, action)  # signing stays outside the clock
        elapsed = _playbook(argv, self.workdir, f"{side}-{version}" + ("-profile" if profile else ""), profile)
        _check(self.lb, self.lb_kind, self.app_hosts, side, version)
        return elapsed


def _print_profile(log: Path) -> None:
    """The slowest tasks from ansible.posix.profile_tasks' summary at the end of the log."""
    lines = log.read_text().splitlines()
    marks = [number for number, line in enumerate(lines) if line.startswith("=" * 20)]
    if marks:
        print(f"  {log.name}:")
        for line in lines[marks[-1] + 1 :]:
            if line.strip():
                print(f"    {line.strip()}")


def measure(hosts: int, runs: int, workdir: Path, profile: bool = False, lb_kind: str = "haproxy") -> dict[str, float]:
    # v1 installed untimed, v2 warm-up, then one per round (and one for the profile)
    versions = [f"{n}.0.0" for n in range(1, runs + 3 + int(profile))]
    digests = _build(versions, workdir)
    subprocess.run(["bash", str(APPROVALS_SH), "init", str(workdir / "approvals")], check=True, capture_output=True, text=True)
    with fleet.fleet(PREFIX, hosts + 1, workdir) as addresses:
        names = list(addresses)
        lb = names[-1]
        app_hosts = {name: addresses[name] for name in names[:-1]}
        if lb_kind == "nginx":
            _start_nginx(lb, app_hosts, workdir)
        else:
            _start_haproxy(lb, app_hosts, workdir)
        print(f"load balancer: {lb_kind} on {lb}; baseline {BASELINE[lb_kind]}", flush=True)
        inventory = _write_inventory(app_hosts, (lb, addresses[lb]), lb_kind, workdir)
        bench = Bench(app_hosts, lb, lb_kind, inventory, workdir / "approvals/policy.yml", digests, workdir)
        setup = {"ours": bench.run("ours", action="deploy"), "baseline": bench.run("baseline")}
        print(f"v1 installed: ours (deploy.yml) {setup['ours']:.1f} s, baseline {setup['baseline']:.1f} s", flush=True)
        warm = {"ours": bench.run("ours"), "baseline": bench.run("baseline")}  # warm-up: SSH control masters, page cache
        print(f"warm-up v2: ours {warm['ours']:.1f} s, baseline {warm['baseline']:.1f} s", flush=True)
        times: dict[str, list[float]] = {"ours": [], "baseline": []}
        for number in range(runs):
            # Alternate which side goes first, so neither always runs on a fleet the other just warmed.
            order = ("ours", "baseline") if number % 2 == 0 else ("baseline", "ours")
            for side in order:
                times[side].append(bench.run(side))
            print(f"round {number + 1}: ours {times['ours'][-1]:.1f} s, baseline {times['baseline'][-1]:.1f} s", flush=True)
        if profile:
            # Not counted: the profile callback itself costs time on both sides.
            print("slowest tasks (one more run of each with ansible.posix.profile_tasks, not counted):")
            for side in ("ours", "baseline"):
                version = bench.next_version[side][0]
                bench.run(side, profile=True)
                _print_profile(workdir / "logs" / f"{side}-{version}-profile.log")
    result = {name: statistics.median(values) for name, values in times.items()}
    result["ratio"] = result["ours"] / result["baseline"]
    print(
        f"{hosts} hosts, 4 batches, {lb_kind}: ours {result['ours']:.2f} s, baseline {result['baseline']:.2f} s, ours/baseline {result['ratio']:.2f}"
        f"  (runs ours {', '.join(f'{t:.2f}' for t in times['ours'])}; baseline {', '.join(f'{t:.2f}' for t in times['baseline'])})",
        flush=True,
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=20, help="app hosts (one more host runs the load balancer)")
    parser.add_argument("--lb", choices=LBS, default="haproxy", help="the load balancer in front of the app hosts (default haproxy)")
    parser.add_argument("--runs", type=int, default=3, help="timed rounds after the warm-up")
    parser.add_argument("--profile", action="store_true", help="after the rounds, one uncounted run of each with ansible.posix.profile_tasks")
    parser.add_argument("--keep", metavar="DIR", type=Path, help="keep tokens, logs and the demo trust root's state store in DIR (default: a temporary folder)")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        r = measure(args.hosts, args.runs, args.keep.resolve(), args.profile, args.lb)
    else:
        with tempfile.TemporaryDirectory(prefix="gray-release-bench-") as tmp:
            r = measure(args.hosts, args.runs, Path(tmp), args.profile, args.lb)
    print(
        f"\n| App hosts | Load balancer | gray_release.yml | handwritten serial | ours/baseline |\n|---|---|---|---|---|\n"
        f"| {args.hosts} | {args.lb} | {r['ours']:.1f} s | {r['baseline']:.1f} s | **{r['ratio']:.2f}x** |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
