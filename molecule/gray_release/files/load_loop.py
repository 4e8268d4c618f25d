# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Requests through haproxy until STOP_FILE appears (or the time or count bound is hit); counts non-2xx answers.

    load_loop.py URL STOP_FILE OUT_FILE MAX_SECONDS MAX_REQUESTS
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request


def main(url: str, stop_file: str, out_file: str, max_seconds: float, max_requests: int) -> int:
    deadline = time.monotonic() + max_seconds
    total = non_2xx = 0
    samples: list[str] = []
    while not os.path.exists(stop_file) and time.monotonic() < deadline and total < max_requests:
        total += 1
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                status = answer.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError as exc:
            status = 0
            samples.append(f"request {total}: {exc}")
        if not 200 <= status < 300:
            non_2xx += 1
            if status:
                samples.append(f"request {total}: HTTP {status}")
        time.sleep(0.02)
    with open(out_file, "w", encoding="utf-8") as handle:
        json.dump({"requests": total, "non_2xx": non_2xx, "samples": samples[:20], "stopped_by_file": os.path.exists(stop_file)}, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])))
