# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The release_verify result of one run: counts, the failing tests, the JUnit text with its digest, and whether the gate passed.

The gate passes only when at least one test ran and none failed or errored: a timeout, a report pytest did not write
or that cannot be read, and a suite that ran no test (none collected, or every one skipped) fail it like a failing test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from .junit import Case, JUnitInvalid, JUnitReport, parse_junit
from .runner import SuiteRun

# pytest's exit codes (pytest.ExitCode), for the message when it wrote no report.
_EXIT_CODES = {
    0: "all tests passed",
    1: "some tests failed",
    2: "interrupted, e.g. the suite could not be collected",
    3: "pytest internal error",
    4: "pytest usage error",
    5: "no tests collected",
}
_NAMES_IN_MESSAGE = 10
_MASK = "********"


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, _MASK)
    return text


def display_name(case: Case, host_id: str) -> str:
    """``Class::test[params]`` without the module (one suite) and without the host's own id (one host per run)."""
    name = case.name
    if name.endswith("]") and "[" in name:
        base, params = name[:-1].split("[", 1)
        if params == host_id:
            params = ""
        elif params.startswith(host_id + "-"):
            params = params[len(host_id) + 1 :]
        elif params.endswith("-" + host_id):
            params = params[: -len(host_id) - 1]
        name = f"{base}[{params}]" if params else base
    _module, _dot, classes = case.classname.partition(".")
    return f"{classes.replace('.', '::')}::{name}" if classes else name


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:_NAMES_IN_MESSAGE])
    return shown + (f" and {len(names) - _NAMES_IN_MESSAGE} more" if len(names) > _NAMES_IN_MESSAGE else "")


def _exit(code: int | None) -> str:
    return f"{code} ({_EXIT_CODES.get(code, 'unknown exit code') if code is not None else 'stopped'})"


def _last_lines(text: str, count: int = 10) -> str:
    return " | ".join(line.strip() for line in text.splitlines()[-count:] if line.strip())


def verification_result(host: str, suite_sha256: str, suite_name: str, run: SuiteRun, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """``{failed, msg, verify}`` for ``run`` of the suite on ``host``; no value of ``secrets`` appears in it."""
    secrets = list(secrets)
    report: JUnitReport | None = None
    problem = ""
    if run.timed_out:
        problem = f"the suite {suite_name} did not finish within {run.timeout} s and was stopped (verify.timeout)"
    elif run.junit is None:
        problem = f"pytest exited with {_exit(run.exit_code)} and wrote no JUnit report: {_last_lines(run.output)}"
    else:
        try:
            report = parse_junit(run.junit)
        except JUnitInvalid as exc:
            problem = f"the JUnit report cannot be read ({exc}); pytest exited with {_exit(run.exit_code)}"
    failing = [display_name(case, run.host_id) for case in report.not_passed()] if report else []
    if report and not problem:
        if failing:
            problem = f"{len(failing)} of {report.tests} tests failed: {_listed(failing)}"
        elif report.tests == report.skipped:
            collected = f"{report.tests} collected, all skipped" if report.tests else "none collected"
            problem = f"the suite ran no test ({collected}); a verification that checks nothing does not pass"
        elif run.exit_code not in (0, 1):
            problem = f"pytest exited with {_exit(run.exit_code)}: {_last_lines(run.output)}"
    junit = redact(run.junit, secrets) if report and run.junit is not None else ""
    verify = {
        "host": host,
        "suite_sha256": suite_sha256,
        "suite_name": suite_name,
        "tests": report.tests if report else 0,
        "passed": report.passed if report else 0,
        "failed": report.failed if report else 0,
        "errors": report.errors if report else 0,
        "skipped": report.skipped if report else 0,
        # The step's wall time, pytest's start-up and the connection included: what the gate costs per host.
        "duration": run.seconds,
        "failures": [redact(name, secrets) for name in failing],
        "timed_out": run.timed_out,
        "transport": run.transport,
        "junit_sha256": hashlib.sha256(junit.encode("utf-8")).hexdigest() if junit else "",
        "junit": junit,
        "output": redact(run.output, secrets),
    }
    if problem or report is None:
        message = f"verification failed on {host}: {problem}"
    else:
        skipped = f", {report.skipped} skipped" if report.skipped else ""
        message = f"verification passed on {host}: {report.passed} of {report.tests} tests passed{skipped} ({suite_name}, {run.seconds} s)"
    return {"failed": bool(problem), "msg": redact(message, secrets), "verify": verify}
