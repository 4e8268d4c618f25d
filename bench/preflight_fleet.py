# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The preflight against a handwritten setup + package_facts + assert playbook, on 20 and 40 SSH hosts.

For each fleet size: start the hosts (bench/fleet.py), give each its own machine id, then time
``ansible-playbook playbooks/preflight.yml`` (spec: bench/baseline/spec.yml) and
``bench/baseline/handwritten_preflight.yml`` (same checks, one assert each) with 10 forks: one warm-up
of each, then RUNS rounds alternating the two; prints medians and ours/baseline (target <= 0.35 at 40).
Both must pass on every host, or the figures would compare unequal work.

Run from the repository root:  .venv/bin/python bench/preflight_fleet.py [--sizes 20 40] [--runs 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fleet

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "pfbench"
FORKS = "10"


def _give_machine_ids(names: list[str]) -> None:
    # systemd in a container derives /etc/machine-id from the VM's product UUID: all hosts would share
    # one, and the unique-machine-id check (ours and the baseline's) would fail on every host. setup reads
    # /var/lib/dbus/machine-id first: make it the usual link to /etc/machine-id.
    for name in names:
        machine_id = hashlib.md5(name.encode()).hexdigest()
        script = f"echo {machine_id} > /etc/machine-id && if [ -d /var/lib/dbus ]; then ln -sf /etc/machine-id /var/lib/dbus/machine-id; fi"
        fleet._podman("exec", name, "sh", "-c", script)


def _run(playbook: Path, inventory: Path, report_dir: Path) -> float:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), "-f", FORKS, str(playbook), "-e", f"opsgate_report_dir={report_dir}"]
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{playbook.name} failed (rc {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed


def _ready_hosts(report_dir: Path) -> int:
    fleet_report = json.loads((report_dir / "readiness.json").read_text())
    return fleet_report["summary"]["hosts_ready"]


def measure(size: int, runs: int, workdir: Path) -> dict[str, float]:
    spec = yaml.safe_load((ROOT / "bench/baseline/spec.yml").read_text())
    ours = ROOT / "playbooks/preflight.yml"
    baseline = ROOT / "bench/baseline/handwritten_preflight.yml"
    with fleet.fleet(PREFIX, size, workdir) as addresses:
        _give_machine_ids(list(addresses))
        inventory = fleet.write_inventory(addresses, workdir, group_vars=spec)
        reports = workdir / "reports"
        _run(ours, inventory, reports)  # warm-up: SSH control masters, page cache
        _run(baseline, inventory, reports)
        if _ready_hosts(reports) != size:
            raise RuntimeError(f"only {_ready_hosts(reports)}/{size} hosts ready: see {reports}/readiness.md")
        times: dict[str, list[float]] = {"ours": [], "baseline": []}
        for _round in range(runs):
            times["ours"].append(_run(ours, inventory, reports))
            times["baseline"].append(_run(baseline, inventory, reports))
    result = {name: statistics.median(values) for name, values in times.items()}
    result["ratio"] = result["ours"] / result["baseline"]
    print(
        f"{size} hosts: ours {result['ours']:.2f} s, baseline {result['baseline']:.2f} s, ours/baseline {result['ratio']:.2f}"
        f"  (runs ours {', '.join(f'{t:.2f}' for t in times['ours'])}; baseline {', '.join(f'{t:.2f}' for t in times['baseline'])})",
        flush=True,
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 40])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="preflight-fleet-") as tmp:
        for size in args.sizes:
            results[size] = measure(size, args.runs, Path(tmp) / str(size))
    print("\n| Hosts | preflight.yml | handwritten baseline | ours/baseline |\n|---|---|---|---|")
    for size, r in results.items():
        print(f"| {size} | {r['ours']:.1f} s | {r['baseline']:.1f} s | **{r['ratio']:.2f}x** |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
