# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The JUnit report pytest writes, read into counts and names; anything with a DTD or entities is refused unparsed."""

from __future__ import annotations

import pytest

from ansible_collections.opsgate.release.plugins.plugin_utils.release_verify.junit import MAX_JUNIT_BYTES, Case, JUnitInvalid, parse_junit
from ansible_collections.opsgate.release.plugins.plugin_utils.release_verify.outcome import display_name

# What pytest 9 writes (trimmed): a pass, a failure, a skip, an xfail, an error in setup, and a test that failed and
# then errored in teardown.
REPORT = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="2"
failures="2" skipped="2" tests="7" time="1.250" timestamp="2025-03-07T13:00:00" hostname="ctl">
<testcase classname="test_app" name="test_file[ansible://web1]" time="0.015" />
<testcase classname="test_app" name="test_port[ansible://web1]" time="0.010"><failure message="assert 1 == 0">trace</failure></testcase>
<testcase classname="test_app" name="test_skip[ansible://web1]" time="0.000"><skipped type="pytest.skip" message="not here">x</skipped></testcase>
<testcase classname="test_app" name="test_xfail[ansible://web1]" time="0.000"><skipped type="pytest.xfail" message="known" /></testcase>
<testcase classname="test_app.TestService" name="test_up[ansible://web1]" time="0.000"><error message="fixture broke">e</error></testcase>
<testcase classname="test_app" name="test_both[ansible://web1]" time="0.1"><failure message="f" /><error message="teardown" /></testcase>
<testcase classname="" name="test_app" time="0.000"><error message="collection failure">SyntaxError</error></testcase>
</testsuite></testsuites>"""


def test_counts_names_and_duration_of_a_pytest_report() -> None:
    report = parse_junit(REPORT)
    assert (report.tests, report.passed, report.failed, report.errors, report.skipped) == (7, 1, 2, 2, 2)
    assert report.tests == report.passed + report.failed + report.errors + report.skipped
    assert report.duration == 1.25
    assert [case.name for case in report.not_passed()] == [
        "test_port[ansible://web1]",
        "test_up[ansible://web1]",
        "test_both[ansible://web1]",
        "test_app",
    ]
    assert report.cases[1] == Case("test_app", "test_port[ansible://web1]", "failed", "assert 1 == 0")


def test_a_bare_testsuite_root_and_a_missing_suite_time() -> None:
    report = parse_junit('<testsuite name="x"><testcase classname="m" name="a" time="0.5"/><testcase classname="m" name="b" time="0.25"/></testsuite>')
    assert (report.tests, report.passed, report.duration) == (2, 2, 0.75)


def test_an_empty_report_has_no_test() -> None:
    report = parse_junit('<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="0" time="0.01"/></testsuites>')
    assert (report.tests, report.passed, report.duration) == (0, 0, 0.01)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><testsuites>&lol2;</testsuites>',
            "document type or entity declaration",
        ),
        ('<!doctype testsuites SYSTEM "file:///etc/passwd"><testsuites/>', "document type or entity declaration"),
        ("<testsuites><testsuite><testcase name='a'></testsuite>", "not well-formed XML"),
        ("<html><body/></html>", "root element is <html>"),
        ("", "not well-formed XML"),
    ],
)
def test_what_is_not_a_plain_junit_report_is_refused(text: str, message: str) -> None:
    with pytest.raises(JUnitInvalid) as caught:
        parse_junit(text)
    assert message in str(caught.value)


def test_a_report_over_the_limit_is_refused_unparsed() -> None:
    with pytest.raises(JUnitInvalid, match="larger than"):
        parse_junit("<testsuites>" + " " * MAX_JUNIT_BYTES + "</testsuites>")


@pytest.mark.parametrize(
    ("classname", "name", "shown"),
    [
        ("test_app", "test_file[ansible://web1]", "test_file"),
        ("test_app", "test_port[ansible://web1-8080]", "test_port[8080]"),
        ("test_app", "test_port[8080-ansible://web1]", "test_port[8080]"),
        ("test_app", "test_port[ansible://web10]", "test_port[ansible://web10]"),  # another host's id stays
        ("test_app.TestService", "test_up[ansible://web1]", "TestService::test_up"),
        ("", "test_app", "test_app"),
    ],
)
def test_failing_test_names_drop_the_module_and_the_hosts_own_id(classname: str, name: str, shown: str) -> None:
    assert display_name(Case(classname, name, "failed", ""), "ansible://web1") == shown
