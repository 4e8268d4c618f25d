# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one health gate: the condition language, the loop's rules, and real probes against a real HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.opsgate.release.plugins.module_utils.release.health_condition import (
    HealthConditionError,
    compile_condition,
    condition_holds,
    lookup_path,
)
from ansible_collections.opsgate.release.plugins.module_utils.release.health_gate import (
    GateResult,
    GateRule,
    Probe,
    ProbeSpec,
    check_spec,
    judge_http,
    probe_once,
    rule_from_retries,
    run_gate,
    run_stages,
    sample,
)

ANSWER = {"status": "ok", "version": "2.0.0", "checks": {"db": {"up": True, "latency": 3}}, "nodes": [{"state": "ready"}], "errors": 0}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("status == 'ok'", True),
        ("status == 'degraded'", False),
        ("status != 'degraded'", True),
        ("checks.db.up", True),
        ("checks.db.latency < `5`", True),
        ("checks.db.latency >= `5`", False),
        ("nodes[0].state == 'ready'", True),
        ("nodes[3].state == 'ready'", False),
        ("status == 'ok' && checks.db.up", True),
        ("status == 'down' || version == '2.0.0'", True),
        ("!(status == 'ok')", False),
        ("missing", False),
        ("errors == `0`", True),
        # JMESPath: true is not 1; ordering of strings is null, which fails the probe.
        ("checks.db.up == `1`", False),
        ("status < `3`", False),
        ("\"status\" == 'ok'", True),
        # A bare 0 fails the probe, as the deploy's check always judged it.
        ("errors", False),
    ],
)
def test_the_condition_means_what_jmespath_means(expression: str, expected: bool) -> None:
    assert condition_holds(compile_condition(expression), ANSWER) is expected


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("checks[?status=='fail']", "filters, projections, functions and pipes are not evaluated"),
        ("length(nodes) > `1`", "unsupported syntax"),
        ("status | length(@)", "unsupported syntax"),
        ("status ==", "expected an operand"),
        ("(status == 'ok'", "expected )"),
        ("count == `{bad`", "is not JSON"),
        ("   ", "empty"),
    ],
)
def test_what_the_language_does_not_evaluate_is_refused_with_the_reason(expression: str, words: str) -> None:
    with pytest.raises(HealthConditionError, match=words.replace("(", r"\(").replace(")", r"\)")):
        compile_condition(expression)


def test_a_version_field_is_a_key_path_only() -> None:
    assert lookup_path(ANSWER, "version") == "2.0.0"
    assert lookup_path(ANSWER, "checks.db.latency") == 3
    with pytest.raises(HealthConditionError, match="must be a key path"):
        lookup_path(ANSWER, "version == '1'")


def test_check_spec_names_each_bad_field() -> None:
    problems = check_spec(ProbeSpec(kind="http", url="ftp://x", condition="a[?b]", version_field="v == `1`"))
    assert [problem.split(":")[0] for problem in problems] == ["url", "jmespath", "version_field"]
    assert check_spec(ProbeSpec(kind="command", command=" ")) == ["command: must not be empty for type command"]
    assert check_spec(ProbeSpec(kind="tcp")) == ["type: must be http, command or none, got 'tcp'"]


def test_judge_http_checks_status_then_condition_then_version() -> None:
    spec = ProbeSpec(kind="http", url="http://x", condition="status == 'ok'", version_field="version", version="2.0.0")
    body = json.dumps(ANSWER).encode()
    assert judge_http(spec, 200, body).passed
    assert judge_http(spec, 503, body).reason == "status 503, wanted 200"
    assert judge_http(spec, 200, json.dumps({**ANSWER, "status": "down"}).encode()).reason == "status == 'ok' does not hold"
    assert judge_http(spec, 200, json.dumps({**ANSWER, "version": "1.0.0"}).encode()).reason == "version is '1.0.0', wanted '2.0.0'"
    assert judge_http(spec, 200, b"<html>not json</html>").reason == "status == 'ok' does not hold"
    assert judge_http(spec, None, b"", "no answer: refused").reason == "no answer: refused"


class _Clock:
    """A clock that advances only when the gate sleeps: the loop is tested without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def time(self) -> float:
        return self.now


def _probes(pattern: str) -> Iterator[Probe]:
    for mark in pattern:
        yield Probe(mark == "+", "good" if mark == "+" else "status 500, wanted 200", 200 if mark == "+" else 500)
    raise AssertionError("the gate probed more often than the pattern allows")


def _gate(rule: GateRule, pattern: str) -> tuple[GateResult, _Clock]:
    clock, probes = _Clock(), _probes(pattern)
    result = run_gate(rule, lambda: next(probes), clock.sleep, clock.time)
    return result, clock


def test_the_manifest_rule_passes_on_the_first_good_probe_within_the_retries() -> None:
    result, clock = _gate(rule_from_retries(retries=4, interval=2, start_delay=3), "--+")
    assert (result.passed, result.probes, result.failures) == (True, 3, 2)
    assert clock.sleeps == [3, 2, 2]
    result = _gate(rule_from_retries(retries=3, interval=2), "---")[0]
    assert (result.passed, result.probes) == (False, 3)
    assert result.verdict == "failed after 3 tries: status 500, wanted 200"


def test_the_rollout_rule_needs_consecutive_good_probes_and_counts_failures() -> None:
    rule = GateRule(consecutive=3, failure_limit=1, interval=1)
    result = _gate(rule, "++-+++")[0]
    assert (result.passed, result.probes, result.failures) == (True, 6, 1)
    result = _gate(rule, "+-+-")[0]
    assert (result.passed, result.failures) == (False, 2)
    assert "failed after 4 tries" in result.verdict


def test_the_plan_gate_starts_counting_after_the_release_has_started() -> None:
    # Three failed probes while the service restarts would break a plan gate that allows one failure; the start-up
    # stage absorbs them, then the gate needs its own consecutive good probes.
    stages = [("release", rule_from_retries(retries=5, interval=1)), ("rollout", GateRule(consecutive=2, failure_limit=1, interval=1))]
    clock, probes = _Clock(), _probes("---+-++")
    kind, result, count, failures = run_stages(stages, lambda: next(probes), clock.sleep, clock.time)
    assert (kind, result.passed, count, failures) == ("rollout", True, 7, 4)
    clock, probes = _Clock(), _probes("+-+-")
    kind, result, count, failures = run_stages(stages, lambda: next(probes), clock.sleep, clock.time)
    assert (kind, result.passed, count, failures) == ("rollout", False, 4, 2)
    clock, probes = _Clock(), _probes("-----")
    kind, result, count, failures = run_stages(stages, lambda: next(probes), clock.sleep, clock.time)
    assert (kind, result.passed, count) == ("release", False, 5)
    with pytest.raises(ValueError):
        run_stages([], lambda: next(probes))


def test_the_rollout_rule_stops_at_its_timeout() -> None:
    result, clock = _gate(GateRule(consecutive=5, failure_limit=10, interval=2, timeout=7), "++++")
    assert not result.passed
    assert result.verdict.startswith("timeout 7s after 4 tries with 4 of 5 consecutive good probes")
    assert clock.now <= 7


class _Health(BaseHTTPRequestHandler):
    answers: list[tuple[int, bytes]] = []

    def do_GET(self) -> None:
        status, body = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/health"
    httpd.shutdown()


def test_real_probes_pass_after_a_starting_service_answers(server: str) -> None:
    _Health.answers = [(503, b'{"status": "starting"}'), (200, json.dumps(ANSWER).encode())]
    spec = ProbeSpec(kind="http", url=server, condition="status == 'ok'", version_field="version", version="2.0.0", probe_timeout=2)
    result = run_gate(GateRule(consecutive=2, failure_limit=1, interval=0.01), lambda: probe_once(spec))
    assert (result.passed, result.probes, result.failures) == (True, 3, 1)


def test_a_real_probe_of_a_closed_port_says_no_answer() -> None:
    probe = probe_once(ProbeSpec(kind="http", url="http://127.0.0.1:1/health", probe_timeout=1))
    assert not probe.passed and probe.reason.startswith("no answer:")


def test_a_health_command_is_judged_by_its_exit_code(tmp_path) -> None:
    assert probe_once(ProbeSpec(kind="command", command="true")).passed
    failed = probe_once(ProbeSpec(kind="command", command="echo broken >&2; exit 3"))
    assert (failed.passed, failed.reason, failed.excerpt.strip()) == (False, "exited 3", "broken")
    slow = probe_once(ProbeSpec(kind="command", command="sleep 5", probe_timeout=0.2))
    assert slow.reason == "timed out after 0.2s"


def test_sample_keeps_the_json_of_good_answers_and_none_for_the_others(server: str) -> None:
    _Health.answers = [(200, b'{"errors": 1}'), (500, b'{"errors": 9}'), (200, b"not json")]
    measurements = sample(ProbeSpec(kind="http", url=server, probe_timeout=2), count=3, interval=0.01)
    assert measurements == [{"errors": 1}, None, None]
