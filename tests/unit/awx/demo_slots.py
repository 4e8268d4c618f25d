# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The demo's four local app slots (demo/inventory/app_slots.yml), as the tests that run against them see them."""

from __future__ import annotations

import json
import urllib.request

SLOTS = ["slot1", "slot2", "slot3", "slot4"]
PORTS = [18081, 18082, 18083, 18084]


def serving() -> list[str]:
    """The version each slot's /health reports, in slot order."""
    versions = []
    for port in PORTS:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:
            versions.append(json.load(answer)["version"])
    return versions
