"""The demo's verification suite for sample_app 2.0.0 (pytest-testinfra; opsgate.release.release_verify runs it per slot)."""

import json

# The demo's slots are one machine: each listens on its own port.
PORTS = {"slot1": 18081, "slot2": 18082, "slot3": 18083, "slot4": 18084}


def _get(host, path):
    return host.check_output(f"curl -fsS http://127.0.0.1:{PORTS[host.backend.get_hostname()]}{path}")


def test_the_slot_answers_with_2_0_0(host):
    assert json.loads(_get(host, "/health"))["version"] == "2.0.0"


def test_it_reads_orders_with_their_status(host):
    rows = _get(host, "/data").splitlines()
    assert len(rows) == 3
    assert all(row.endswith("|new") for row in rows), rows
