# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one health gate: probe an HTTP URL or run a command until enough consecutive probes pass or too many fail.

The deploy's check (the first good probe within ``retries``), the rollback's check of the release it
went back to, and a rollout plan's gate (N consecutive good probes, at most F failed ones, within T
seconds) are the same loop with other numbers. It runs on the host (the URL is usually the host's
own loopback) with Ansible's module_utils and the standard library, so it needs nothing installed there.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import time
import urllib.error
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ansible.module_utils.urls import ConnectionError as UrlConnectionError
from ansible.module_utils.urls import open_url

from .health_condition import HealthConditionError, compile_condition, condition_holds, lookup_path

EXCERPT = 300


@dataclass(frozen=True)
class GateRule:
    """How many probes decide: ``consecutive`` good ones pass; more than ``failure_limit`` bad ones fail; so does the deadline."""

    consecutive: int = 1
    failure_limit: int = 0
    interval: float = 2.0
    timeout: float = 0.0  # seconds for the whole gate; 0: only the failure limit ends it
    start_delay: float = 0.0


@dataclass(frozen=True)
class ProbeSpec:
    kind: str  # http | command | none
    url: str = ""
    status: int = 200
    condition: str = ""
    version_field: str = ""
    version: str = ""
    command: str = ""
    probe_timeout: float = 5.0
    validate_certs: bool = True


@dataclass
class Probe:
    passed: bool
    reason: str  # why it failed, or "good"
    status: int | None = None
    excerpt: str = ""
    body: Any = None


@dataclass
class GateResult:
    passed: bool
    probes: int
    failures: int
    verdict: str
    last: Probe | None = None
    bodies: list = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        last = self.last
        return {
            "passed": self.passed,
            "probes": self.probes,
            "failures": self.failures,
            "verdict": self.verdict,
            "last_status": None if last is None else last.status,
            "last_excerpt": "" if last is None else last.excerpt,
        }


def rule_from_retries(retries: int, interval: float, start_delay: float = 0.0) -> GateRule:
    """The manifest's check: up to ``retries`` probes, the first good one passes."""
    return GateRule(consecutive=1, failure_limit=max(0, retries - 1), interval=interval, start_delay=start_delay)


def check_spec(spec: ProbeSpec) -> list[str]:
    """What is wrong with a probe spec, as ``field: problem`` lines; empty when it can run."""
    problems = []
    if spec.kind not in ("http", "command", "none"):
        problems.append(f"type: must be http, command or none, got {spec.kind!r}")
    if spec.kind == "http" and not spec.url.startswith(("http://", "https://")):
        problems.append(f"url: must start with http:// or https://, got {spec.url!r}")
    if spec.kind == "command" and not spec.command.strip():
        problems.append("command: must not be empty for type command")
    for name, expression in (("jmespath", spec.condition), ("version_field", spec.version_field)):
        if expression:
            try:
                if name == "jmespath":
                    compile_condition(expression)
                else:
                    lookup_path({}, expression)
            except HealthConditionError as exc:
                problems.append(f"{name}: {expression!r}: {exc}")
    return problems


def _read_http(url: str, timeout: float, validate_certs: bool) -> tuple[int | None, bytes, str]:
    try:
        answer = open_url(url, timeout=timeout, validate_certs=validate_certs, follow_redirects="safe")
        try:
            return answer.status, answer.read(65536), ""
        finally:
            answer.close()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(65536), ""
    except (OSError, ValueError, http.client.HTTPException, UrlConnectionError) as exc:
        return None, b"", f"no answer: {exc}"


def judge_http(spec: ProbeSpec, status: int | None, raw: bytes, error: str = "") -> Probe:
    """One HTTP answer against the spec: status, then the condition, then the version."""
    excerpt = raw[:EXCERPT].decode("utf-8", "replace")
    if status is None:
        return Probe(False, error or "no answer", None, excerpt)
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    if status != spec.status:
        return Probe(False, f"status {status}, wanted {spec.status}", status, excerpt, body)
    if spec.condition and not condition_holds(compile_condition(spec.condition), body):
        return Probe(False, f"{spec.condition} does not hold", status, excerpt, body)
    if spec.version_field:
        found = lookup_path(body, spec.version_field)
        if str(found) != spec.version and not (found is None and spec.version == "None"):
            return Probe(False, f"{spec.version_field} is {found!r}, wanted {spec.version!r}", status, excerpt, body)
    return Probe(True, "good", status, excerpt, body)


def _run_command(spec: ProbeSpec) -> Probe:
    try:
        done = subprocess.run(  # pylint: disable=ansible-bad-function
            spec.command, shell=True, capture_output=True, timeout=spec.probe_timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return Probe(False, f"timed out after {spec.probe_timeout:g}s")
    output = (done.stderr or done.stdout or b"")[-EXCERPT:].decode("utf-8", "replace")
    if done.returncode != 0:
        return Probe(False, f"exited {done.returncode}", done.returncode, output)
    return Probe(True, "good", 0, output)


def probe_once(spec: ProbeSpec) -> Probe:
    if spec.kind == "http":
        status, raw, error = _read_http(spec.url, spec.probe_timeout, spec.validate_certs)
        return judge_http(spec, status, raw, error)
    return _run_command(spec)


SETTLE_POLL = 0.1


def wait_until_listening(
    url: str,
    within: float,
    connect: Callable[..., Any] = socket.create_connection,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Right after a restart: poll the URL's TCP port every 0.1 s, for at most ``within`` seconds, until something listens.

    Not a probe and not a try of the health check: it only saves the first probe from landing before the service opened
    its port, which would cost a whole ``interval``. Whether the release is healthy is still decided by the probes.
    """
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        return False
    port = parts.port or (443 if parts.scheme == "https" else 80)
    deadline = clock() + max(within, 0.0)
    while True:
        try:
            with connect((parts.hostname, port), timeout=SETTLE_POLL * 5):
                return True
        except OSError:
            pass
        if clock() + SETTLE_POLL > deadline:
            return False
        sleep(SETTLE_POLL)


def run_gate(
    rule: GateRule,
    probe: Callable[[], Probe],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    keep_bodies: bool = False,
) -> GateResult:
    """Probe until the rule decides. The clock and the sleep are parameters so the loop is tested without waiting."""
    if rule.start_delay > 0:
        sleep(rule.start_delay)
    deadline = clock() + rule.timeout if rule.timeout > 0 else None
    streak = failures = probes = 0
    bodies: list = []
    last: Probe | None = None
    while True:
        probes += 1
        last = probe()
        if keep_bodies:
            bodies.append(last.body)
        if last.passed:
            streak += 1
        else:
            failures += 1
            streak = 0
        if streak >= rule.consecutive:
            verdict = "the first probe was good" if probes == 1 else f"{streak} consecutive good probes after {probes} tries"
            return GateResult(True, probes, failures, verdict, last, bodies)
        if failures > rule.failure_limit:
            return GateResult(False, probes, failures, f"failed after {probes} tries: {last.reason}", last, bodies)
        if deadline is not None and clock() + rule.interval > deadline:
            verdict = f"timeout {rule.timeout:g}s after {probes} tries with {streak} of {rule.consecutive} consecutive good probes; last: {last.reason}"
            return GateResult(False, probes, failures, verdict, last, bodies)
        sleep(rule.interval)


def run_stages(
    stages: list[tuple[str, GateRule]],
    probe: Callable[[], Probe],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[str, GateResult, int, int]:
    """Run each (name, rule) in turn until one fails: a release's start-up check, then a rollout plan's gate.

    Returns the name and result of the stage that decided (the first that failed, else the last) and the probes and
    failures of all stages together.
    """
    if not stages:
        raise ValueError("no stage to run")
    probes = failures = 0
    for name, rule in stages:
        result = run_gate(rule, probe, sleep, clock)
        probes, failures = probes + result.probes, failures + result.failures
        if not result.passed:
            return name, result, probes, failures
    return stages[-1][0], result, probes, failures


def sample(spec: ProbeSpec, count: int, interval: float, sleep: Callable[[float], None] = time.sleep) -> list[Any]:
    """``count`` answers ``interval`` apart, for a rollout's analysis step to judge: each JSON body, or None
    for a probe without a good answer (its metrics are inconclusive)."""
    measurements = []
    for number in range(count):
        if number:
            sleep(interval)
        probe = probe_once(spec)
        measurements.append(probe.body if probe.status == spec.status else None)
    return measurements


def probe_spec(health: dict[str, Any], version: str) -> ProbeSpec:
    """The manifest's ``health`` (as the manifest check normalized it) as a probe spec."""
    return ProbeSpec(
        kind=str(health.get("type", "none")),
        url=str(health.get("url", "")),
        status=int(health.get("status", 200)),
        condition=str(health.get("jmespath", "") or ""),
        version_field=str(health.get("version_field", "") or ""),
        version=version,
        command=str(health.get("command", "") or ""),
        probe_timeout=float(health.get("timeout", 5)),
        validate_certs=bool(health.get("validate_certs", True)),
    )


def wanted_answer(spec: ProbeSpec) -> str:
    """What a good probe is, in words, for the failure message."""
    if spec.kind == "command":
        return f"{spec.command} to exit 0"
    wanted = f"status {spec.status}"
    if spec.condition:
        wanted += f", {spec.condition}"
    if spec.version_field:
        wanted += f", {spec.version_field} == {spec.version}"
    return wanted


@dataclass
class HealthCheck:
    """The outcome of holding a release to its health check: the answer fields of a module, and the message when it failed."""

    passed: bool
    answer: dict[str, Any]
    msg: str = ""


def hold_to_health(
    health: dict[str, Any],
    version: str,
    label: str,
    gate: dict[str, Any] | None = None,
    wait_for_start: bool = False,
    probe: Callable[[ProbeSpec], Probe] = probe_once,
    sleep: Callable[[float], None] = time.sleep,
    just_restarted: bool = False,
) -> HealthCheck:
    """The deploy's health check and a rollout plan's gate, as release_health and release_switch run them.

    Without ``gate`` the manifest's retries decide; with it the plan's rule, after the manifest's retries when
    ``wait_for_start``. ``answer["health_gate"]`` names the rule that decided (``release`` or ``rollout``).
    ``just_restarted``: the service was restarted a moment ago (release_switch); an HTTP check first waits, at most one
    ``interval``, until the URL's port is open (wait_until_listening), so its first probe is not spent on a start-up.
    A spec that cannot run fails with the field named; ``type: none`` passes without a probe.
    """
    spec = probe_spec(health, version)
    problems = check_spec(spec)
    if problems:
        return HealthCheck(False, {"passed": False}, "health: " + "; ".join(problems))
    if spec.kind == "none":
        return HealthCheck(True, {"passed": True, "verdict": "no health check", "probes": 0, "failures": 0, "last_status": None, "last_excerpt": ""})
    startup = rule_from_retries(int(health.get("retries", 10)), float(health.get("interval", 2)), float(health.get("start_delay", 0)))
    stages = [("release", startup)] if not gate or wait_for_start else []
    if just_restarted and spec.kind == "http" and stages:
        if startup.start_delay > 0:
            sleep(startup.start_delay)
            stages[0] = ("release", replace(startup, start_delay=0.0))
        wait_until_listening(spec.url, startup.interval, sleep=sleep)
    if gate:
        rule = GateRule(int(gate["consecutive_successes"]), int(gate["failure_limit"]), float(gate["interval"]), float(gate["timeout"]))
        stages.append(("rollout", rule))
    kind, result, probes, failures = run_stages(stages, lambda: probe(spec), sleep)
    answer = result.as_dict()
    answer.update(health_gate=kind, probes=probes, failures=failures)
    if result.passed:
        return HealthCheck(True, answer)
    subject = spec.url if spec.kind == "http" else spec.command
    answered = f"answered {result.last.status if result.last and result.last.status is not None else 'nothing'}"
    rule_words = " (the rollout plan's gate)" if kind == "rollout" else ""
    what = f"health check of {label}{rule_words} {result.verdict}"
    return HealthCheck(False, answer, f"{what}: {subject} {answered} {answer['last_excerpt']} (wanted {wanted_answer(spec)})")


# A rollout plan's gate as a module option (release_health's gate, release_switch's then_health.gate).
GATE_OPTIONS: dict[str, dict[str, Any]] = {
    "consecutive_successes": {"type": "int", "default": 1},
    "failure_limit": {"type": "int", "default": 0},
    "interval": {"type": "float", "default": 2},
    "timeout": {"type": "float", "default": 0},
}
