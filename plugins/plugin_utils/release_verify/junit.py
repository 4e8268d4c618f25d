# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The JUnit XML report pytest writes, read into counts and test outcomes. Pure: text in, values out.

defusedxml is not a dependency, so a document type declaration (the way to entities, and to entity expansion
bombs) is refused before the text reaches the parser: pytest never writes one.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

# pytest's report of one suite run is kilobytes; this bounds what a run can put into the archive record.
MAX_JUNIT_BYTES = 16 * 1024 * 1024
_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
OUTCOMES = ("passed", "failed", "error", "skipped")


class JUnitInvalid(ValueError):
    """The text is not a JUnit report this parser accepts; the message says why."""


@dataclass(frozen=True)
class Case:
    classname: str
    name: str
    outcome: str  # one of OUTCOMES
    message: str


@dataclass(frozen=True)
class JUnitReport:
    cases: tuple[Case, ...]
    duration: float

    def count(self, outcome: str) -> int:
        return sum(1 for case in self.cases if case.outcome == outcome)

    @property
    def tests(self) -> int:
        return len(self.cases)

    @property
    def passed(self) -> int:
        return self.count("passed")

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def errors(self) -> int:
        return self.count("error")

    @property
    def skipped(self) -> int:
        return self.count("skipped")

    def not_passed(self) -> tuple[Case, ...]:
        """Failed and errored cases, in report order."""
        return tuple(case for case in self.cases if case.outcome in ("failed", "error"))


def _seconds(value: str | None) -> float:
    try:
        seconds = float(value or 0)
    except ValueError:
        return 0.0
    return seconds if seconds >= 0 else 0.0


def _outcome(testcase: ET.Element) -> tuple[str, str]:
    # A test that failed in its call and errored in teardown carries both: it counts once, as failed, so that
    # tests == passed + failed + errors + skipped always holds.
    for tag, outcome in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        element = testcase.find(tag)
        if element is not None:
            return outcome, element.get("message") or (element.text or "").strip()[:500]
    return "passed", ""


def parse_junit(text: str) -> JUnitReport:
    """Every ``testcase`` of the report with its outcome, and the run's duration (the suites' ``time``)."""
    if len(text.encode("utf-8")) > MAX_JUNIT_BYTES:
        raise JUnitInvalid(f"the JUnit report is larger than {MAX_JUNIT_BYTES} bytes")
    if _DECLARATION.search(text):
        raise JUnitInvalid("the JUnit report holds a document type or entity declaration, which pytest never writes; refused unparsed")
    try:
        root = ET.fromstring(text.encode("utf-8"))
    except ET.ParseError as exc:
        raise JUnitInvalid(f"the JUnit report is not well-formed XML: {exc}") from None
    if root.tag == "testsuites":
        suites = root.findall("testsuite")
    elif root.tag == "testsuite":
        suites = [root]
    else:
        raise JUnitInvalid(f"the JUnit report's root element is <{root.tag}>, expected <testsuites> or <testsuite>")
    cases = []
    for suite in suites:
        for testcase in suite.iter("testcase"):
            outcome, message = _outcome(testcase)
            cases.append(Case(testcase.get("classname") or "", testcase.get("name") or "", outcome, message))
    duration = sum(_seconds(suite.get("time")) for suite in suites)
    if not duration:
        duration = sum(_seconds(testcase.get("time")) for suite in suites for testcase in suite.iter("testcase"))
    return JUnitReport(tuple(cases), round(duration, 3))
