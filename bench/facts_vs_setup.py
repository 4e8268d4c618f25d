# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""host_facts (hardware subsets) against ansible-core's fact collectors and against bare file reads.

In one process, median of N runs of:
  (a) opsgate host_facts ``collect`` for system, cpu, memory, nics, hbas, disks, pci;
  (b) ansible-core's collectors for ``gather_subset: [hardware, network]``, built as ``setup`` builds them;
  (c) the bare cost of the same file system operations (every open+read, listdir, readlink, stat that (a) made),
      replayed without any parsing.
Prints b/a (target >= 30) and a/c (target <= 3). ``--end-to-end`` also times ``ansible localhost -m ...``.

Run from the repository root:  .venv/bin/python bench/facts_vs_setup.py [--runs 30] [--end-to-end]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / ".collections"))

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.facts import ansible_collector, default_collectors
from ansible.module_utils.facts.namespace import PrefixFactNamespace
from ansible.module_utils.testing import patch_module_args

from ansible_collections.opsgate.release.plugins.module_utils.host_facts import cpu, disks, hbas, memory, nics, pci, system
from ansible_collections.opsgate.release.plugins.module_utils.host_facts.collect import HARDWARE_SUBSETS, collect
from ansible_collections.opsgate.release.plugins.module_utils.host_facts.sysfs import FactReader

COLLECTORS: list[Callable[[FactReader], Any]] = [
    system.collect_system,
    cpu.collect_cpu,
    memory.collect_memory,
    nics.collect_nics,
    hbas.collect_hbas,
    disks.collect_disks,
    pci.collect_pci,
]


class RecordingReader(FactReader):
    """Notes every file system operation the collectors make, to replay them bare."""

    def __init__(self, root: str = "/") -> None:
        super().__init__(root)
        self.operations: list[tuple[str, str]] = []

    def read_text(self, host_path: str, optional: bool = False, ignore: frozenset[int] = frozenset()) -> str | None:
        self.operations.append(("read", self.path(host_path)))
        return super().read_text(host_path, optional, ignore)

    def read_bytes(self, host_path: str, optional: bool = False) -> bytes | None:
        self.operations.append(("read", self.path(host_path)))
        return super().read_bytes(host_path, optional)

    def read_first(self, host_paths: list[str], optional: bool = False) -> str | None:
        self.operations.extend(("stat", self.path(p)) for p in host_paths)
        return super().read_first(host_paths, optional)

    def list_dir(self, host_path: str, optional: bool = True) -> list[str]:
        self.operations.append(("listdir", self.path(host_path)))
        return super().list_dir(host_path, optional)

    def exists(self, host_path: str) -> bool:
        self.operations.append(("stat", self.path(host_path)))
        return super().exists(host_path)

    def is_dir(self, host_path: str) -> bool:
        self.operations.append(("stat", self.path(host_path)))
        return super().is_dir(host_path)

    def link_name(self, host_path: str) -> str | None:
        self.operations.append(("readlink", self.path(host_path)))
        return super().link_name(host_path)

    def resolve(self, host_path: str) -> str:
        self.operations.append(("realpath", self.path(host_path)))
        return super().resolve(host_path)


def replay(operations: list[tuple[str, str]]) -> None:
    for operation, path in operations:
        try:
            if operation == "read":
                with open(path, "rb") as handle:
                    handle.read()
            elif operation == "listdir":
                os.listdir(path)
            elif operation == "stat":
                os.stat(path)
            elif operation == "readlink":
                os.readlink(path)
            else:
                os.path.realpath(path)
        except OSError:
            pass


def ansible_hardware_network() -> Callable[[], dict[str, Any]]:
    """ansible-core's collectors for hardware + network, as setup builds them (without setup's minimal set)."""
    with patch_module_args({}):
        module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    namespace = PrefixFactNamespace(namespace_name="ansible", prefix="ansible_")

    def run() -> dict[str, Any]:
        fact_collector = ansible_collector.get_ansible_collector(
            all_collector_classes=default_collectors.collectors,
            namespace=namespace,
            gather_subset=["!all", "hardware", "network"],
            gather_timeout=10,
            minimal_gather_subset=frozenset(),
        )
        return fact_collector.collect(module=module)

    return run


def median_ms(function: Callable[[], Any], runs: int) -> float:
    function()  # warm caches and imports
    samples = []
    for _run in range(runs):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def end_to_end(runs: int) -> dict[str, float]:
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"), ANSIBLE_HOST_KEY_CHECKING="False")
    ansible = str(REPO / ".venv" / "bin" / "ansible")
    base = [ansible, "localhost", "-c", "local", "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}", "-m"]
    results = {}
    for module in ("ansible.builtin.ping", "ansible.builtin.setup", "opsgate.release.host_facts"):
        samples = []
        for _run in range(runs):
            started = time.perf_counter()
            done = subprocess.run([*base, module], cwd=REPO, env=env, capture_output=True, text=True, check=False)
            samples.append((time.perf_counter() - started) * 1000)
            if done.returncode != 0:
                raise SystemExit(f"{module} failed:\n{done.stdout}\n{done.stderr}")
        results[module] = statistics.median(samples)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30, help="runs per measurement (median reported)")
    parser.add_argument("--end-to-end", action="store_true", help="also time `ansible localhost -m ...` (ping, setup, host_facts)")
    parser.add_argument("--e2e-runs", type=int, default=5)
    args = parser.parse_args()

    recorder = RecordingReader("/")
    for collector in COLLECTORS:
        collector(recorder)
    operations = recorder.operations

    ours = median_ms(lambda: collect("/", list(HARDWARE_SUBSETS)), args.runs)
    theirs = median_ms(ansible_hardware_network(), max(3, args.runs // 3))
    bare = median_ms(lambda: replay(operations), args.runs)

    print(f"host: {os.uname().nodename}  kernel {os.uname().release}  cpus {os.cpu_count()}  python {sys.version.split()[0]}")
    print(f"file system operations per collect: {len(operations)} ({sum(1 for o, _path in operations if o == 'read')} reads)")
    print(f"(a) host_facts hardware subsets      median {ours:8.2f} ms")
    print(f"(b) ansible-core hardware+network    median {theirs:8.2f} ms")
    print(f"(c) bare reads of the same paths     median {bare:8.2f} ms")
    print(f"b/a = {theirs / ours:6.1f}x  (target >= 30)")
    print(f"a/c = {ours / bare:6.2f}x  (target <= 3)")
    if args.end_to_end:
        results = end_to_end(args.e2e_runs)
        for module, ms in results.items():
            print(f"ansible localhost -m {module:30s} median {ms:8.0f} ms")
        ping = results["ansible.builtin.ping"]
        print(f"over ping: setup +{results['ansible.builtin.setup'] - ping:.0f} ms, host_facts +{results['opsgate.release.host_facts'] - ping:.0f} ms")


if __name__ == "__main__":
    main()
