# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rollout plan's health gate on one host: N consecutive good probes, at most F failed ones, within T seconds.

Runs on the host with the standard library only (Python 3.9+). Prints one JSON line; exit 0 when the gate passed.
    health_gate.py URL STATUS VERSION_KEY VERSION INTERVAL CONSECUTIVE FAILURE_LIMIT TIMEOUT
VERSION_KEY empty: the version is not compared.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request


def _probe(url: str, status: int, version_key: str, version: str, timeout: float) -> str:
    """An empty string for a good probe, else why it failed."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            code, body = answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        code, body = exc.code, exc.read()
    except (OSError, ValueError) as exc:
        return f"no answer: {exc}"
    if code != status:
        return f"status {code}, wanted {status}"
    if version_key:
        try:
            found = json.loads(body).get(version_key)
        except (ValueError, AttributeError):
            return "body is not a JSON object"
        if str(found) != version:
            return f"{version_key} is {found!r}, wanted {version!r}"
    return ""


def main(argv: list[str]) -> int:
    url, status, version_key, version = argv[0], int(argv[1]), argv[2], argv[3]
    interval, consecutive, failure_limit, timeout = float(argv[4]), int(argv[5]), int(argv[6]), float(argv[7])
    deadline = time.monotonic() + timeout
    streak = failures = probes = 0
    last = ""
    while True:
        probes += 1
        last = _probe(url, status, version_key, version, min(interval, 5.0) or 1.0)
        if last:
            failures += 1
            streak = 0
        else:
            streak += 1
        if streak >= consecutive:
            verdict, ok = f"{streak} consecutive good probes", True
            break
        if failures > failure_limit:
            verdict, ok = f"{failures} failed probes > failure_limit {failure_limit}; last: {last}", False
            break
        if time.monotonic() + interval > deadline:
            verdict, ok = f"timeout {timeout:g}s with {streak} of {consecutive} consecutive good probes; last: {last or 'good'}", False
            break
        time.sleep(interval)
    print(json.dumps({"passed": ok, "probes": probes, "failures": failures, "verdict": verdict}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
