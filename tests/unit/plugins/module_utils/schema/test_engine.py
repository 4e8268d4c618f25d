# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shared validation engine: every error collected, full key paths, one agreement on types."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.opsgate.release.plugins.module_utils.schema.engine import MISSING, Field, Schema, SchemaError, collect, validate

METRIC = Schema({"name": Field("str", required=True), "success": Field("str", pattern=r"[<>=!]=? ?\d+(\.\d+)?", hint='a comparison like "<= 0.01"')})
ANALYSIS = Schema({"url": Field("str", required=True), "metrics": Field("list", min_items=1, item=Field("mapping", schema=METRIC))})
STEP = Schema({"hosts": Field("int", minimum=1), "analysis": Field("mapping", schema=ANALYSIS)})
ROLLOUT = Schema({"steps": Field("list", required=True, item=Field("mapping", schema=STEP))})


def _messages(spec: Field | Schema, value: Any, path: str = "") -> list[str]:
    _normalised, issues = collect(spec, value, path)
    return [str(issue) for issue in issues]


def test_collects_every_error_with_its_full_key_path() -> None:
    plan = {
        "steps": [
            {"hosts": 0},
            {"pause": 1},
            {"analysis": {"url": "http://m", "metrics": [{"name": "r", "success": "about 1"}, {"success": "< 1"}]}},
        ]
    }
    with pytest.raises(SchemaError) as caught:
        validate(ROLLOUT, plan, "opsgate_rollout")
    assert [issue.path for issue in caught.value.errors] == [
        "opsgate_rollout.steps[0].hosts",
        "opsgate_rollout.steps[1].pause",
        "opsgate_rollout.steps[2].analysis.metrics[0].success",
        "opsgate_rollout.steps[2].analysis.metrics[1].name",
    ]
    assert str(caught.value).splitlines() == [
        "opsgate_rollout.steps[0].hosts: must be an integer >= 1 (got 0)",
        "opsgate_rollout.steps[1].pause: unknown key (allowed: analysis, hosts) (got 1)",
        "opsgate_rollout.steps[2].analysis.metrics[0].success: must be a comparison like \"<= 0.01\" (got 'about 1')",
        "opsgate_rollout.steps[2].analysis.metrics[1].name: is required",
    ]
    assert caught.value.path == "opsgate_rollout.steps[0].hosts"


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("int", "30", "must be an integer (got '30')"),
        ("int", True, "must be an integer (got True)"),
        ("int", False, "must be an integer (got False)"),
        ("int", 1.5, "must be an integer (got 1.5)"),
        ("float", "0.5", "must be a number (got '0.5')"),
        ("float", True, "must be a number (got True)"),
        ("bool", "yes", "must be true or false (got 'yes')"),
        ("bool", "true", "must be true or false (got 'true')"),
        ("bool", 1, "must be true or false (got 1)"),
        ("str", 5, "must be a string (got 5)"),
        ("str", "  ", "must be a non-empty string (got '  ')"),
        ("list", "a,b", "must be a list (got 'a,b')"),
        ("mapping", ["a"], "must be a mapping (got ['a'])"),
    ],
)
def test_types_agree_everywhere(kind: str, value: Any, message: str) -> None:
    assert _messages(Field(kind), value, "x") == [f"x: {message}"]


def test_accepted_values_keep_their_type() -> None:
    assert validate(Field("int"), 30) == 30
    assert validate(Field("float"), 3) == 3 and isinstance(validate(Field("float"), 3), int)
    assert validate(Field("float"), 0.25) == 0.25
    assert validate(Field("bool"), False) is False
    assert validate(Field("str", strip=True), " a ") == "a"
    assert validate(Field("str", allow_empty=True), "") == ""


def test_bool_words_only_where_the_schema_allows_them() -> None:
    words = Field("bool", bool_words=True)
    assert [validate(words, w) for w in ("yes", "True", "off", "0")] == [True, True, False, False]
    assert _messages(words, "maybe", "flag") == ["flag: must be true or false (got 'maybe')"]


@pytest.mark.parametrize(
    ("spec", "value", "message"),
    [
        (Field("int", minimum=1, maximum=100), 0, "must be an integer from 1 to 100 (got 0)"),
        (Field("int", minimum=1, maximum=100), 101, "must be an integer from 1 to 100 (got 101)"),
        (Field("int", maximum=65535), 70000, "must be an integer <= 65535 (got 70000)"),
        (Field("float", minimum=0.1), 0.05, "must be a number >= 0.1 (got 0.05)"),
        (Field("str", choices=("systemd", "none")), "upstart", "must be one of systemd, none (got 'upstart')"),
        (Field("str", pattern=r"[a-z]+", hint="lowercase letters"), "Ab", "must be lowercase letters (got 'Ab')"),
        (Field("str", pattern=r"[a-z]+"), "Ab", "must be text matching [a-z]+ (got 'Ab')"),
        (Field("list", min_items=1, hint="a non-empty list of artifacts"), [], "must be a non-empty list of artifacts (got [])"),
        (Field("list", min_items=2), [1], "must be a list of at least 2 items (got [1])"),
        (Field("str", check=lambda v: None if v.startswith("/") else "must be an absolute path"), "etc", "must be an absolute path (got 'etc')"),
    ],
)
def test_bounds_choices_patterns_and_checks(spec: Field, value: Any, message: str) -> None:
    assert _messages(spec, value, "k") == [f"k: {message}"]


def test_defaults_are_filled_and_nested_mappings_fill_their_own() -> None:
    inner = Schema({"enabled": Field("bool", default=True), "extra": Field("list", default=list)})
    schema = Schema({"retries": Field("int", default=10), "forbidden": Field("mapping", schema=inner, default=dict), "name": Field("str")})
    first = validate(schema, {})
    assert first == {"retries": 10, "forbidden": {"enabled": True, "extra": []}}
    first["forbidden"]["extra"].append("x")
    assert validate(schema, {})["forbidden"]["extra"] == [], "a callable default is fresh for each document"
    assert validate(schema, {"retries": 3, "forbidden": {"enabled": False}}) == {"retries": 3, "forbidden": {"enabled": False, "extra": []}}


def test_none_counts_as_absent_only_when_the_schema_says_so() -> None:
    strict = Schema({"retries": Field("int", default=10)})
    assert _messages(strict, {"retries": None}) == ["retries: must be an integer (got None)"]
    assert validate(Schema(strict.fields, none_is_missing=True), {"retries": None}) == {"retries": 10}
    one = Schema({"retries": Field("int", default=10), "holidays": Field("list", nullable=True, default=list)})
    assert validate(one, {"holidays": None}) == {"retries": 10, "holidays": []}
    assert _messages(one, {"retries": None, "holidays": None}) == ["retries: must be an integer (got None)"]


def test_unknown_keys_are_errors_unless_allowed() -> None:
    schema = Schema({"a": Field("int")})
    assert _messages(schema, {"a": 1, "b": 2, "c": 3}, "top") == [
        "top.b: unknown key (allowed: a) (got 2)",
        "top.c: unknown key (allowed: a) (got 3)",
    ]
    assert validate(Schema(schema.fields, allow_unknown=True), {"a": 1, "b": 2}) == {"a": 1, "b": 2}
    assert _messages(Schema(schema.fields, unknown_message="unknown step kind"), {"b": 1}) == ["b: unknown step kind (allowed: a) (got 1)"]


def test_required_keys_say_why() -> None:
    schema = Schema({"app": Field("str", required=True, doc="the application name"), "version": Field("str", required=True)})
    assert _messages(schema, {}, "opsgate_release") == ["opsgate_release.app: is required (the application name)", "opsgate_release.version: is required"]


def test_free_key_mappings_check_keys_and_values() -> None:
    mounts = Field("mapping", key_pattern=r"/\S*", key_hint="an absolute mount point", values=Field("mapping", schema=Schema({"min_free_gib": Field("float")})))
    assert validate(mounts, {"/var": {"min_free_gib": 2}}) == {"/var": {"min_free_gib": 2}}
    assert _messages(mounts, {"var": {}, "/tmp": {"min_free_gib": "x"}}, "filesystems") == [
        "filesystems.var: must be a key that is an absolute mount point (got 'var')",
        "filesystems./tmp.min_free_gib: must be a number (got 'x')",
    ]


def test_lists_of_scalars_report_each_bad_item() -> None:
    dates = Field("list", item=Field("int", minimum=0))
    assert _messages(dates, [1, -1, "2", 3], "l") == ["l[1]: must be an integer >= 0 (got -1)", "l[2]: must be an integer >= 0 (got '2')"]
    assert validate(dates, (1, 2)) == [1, 2]


def test_normalize_runs_after_the_checks() -> None:
    mode = Field("str", pattern=r"0?[0-7]{3,4}", hint='an octal mode in quotes like "0640"', normalize=lambda v: int(v, 8))
    assert validate(mode, "0640") == 0o640
    assert _messages(mode, 644, "mode") == ['mode: must be an octal mode in quotes like "0640" (got 644)']


def test_cross_field_rules_run_on_valid_mappings_and_add_to_the_same_list() -> None:
    def lower_below_upper(data: dict[str, Any], path: str, issues: Any) -> None:
        if "low" in data and "high" in data and data["low"] > data["high"]:
            issues.add(f"{path}.low", f"must not exceed high ({data['high']})", data["low"])

    pair = Schema({"low": Field("int"), "high": Field("int")}, checks=(lower_below_upper,))
    schema = Schema({"range": Field("mapping", schema=pair), "name": Field("str")})
    messages = _messages(schema, {"range": {"low": 5, "high": 2}, "name": 1}, "r")
    assert messages == ["r.range.low: must not exceed high (2) (got 5)", "r.name: must be a string (got 1)"]
    # A bad field is reported alone, not also the rule it would have broken.
    assert _messages(pair, {"low": 5, "high": "2"}, "p") == ["p.high: must be an integer (got '2')"]


def test_long_values_are_cut_in_messages() -> None:
    (message,) = _messages(Field("int"), "x" * 500, "k")
    assert len(message) < 120 and message.endswith("...)")


def test_invalid_document_normalises_to_missing() -> None:
    normalised, issues = collect(Field("int"), "1")
    assert normalised is MISSING and len(issues) == 1


def test_unknown_field_type_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown field type 'integer'"):
        Field("integer")
