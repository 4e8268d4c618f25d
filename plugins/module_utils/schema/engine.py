# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Declare a document's shape with ``Field`` and ``Schema``; ``validate`` collects every error.

Each error (``SchemaIssue``) names the full key path (``opsgate_rollout.steps[2].analysis.metrics[0].success``)
and the value found. Types agree across every document: an integer is never the string ``"30"`` nor
``True``; a float accepts an integer; a bool is never ``"yes"`` unless the field says so.

Python 3.9 syntax on purpose: the approval policy imports this on the managed hosts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MISSING", "Field", "Issues", "Schema", "SchemaError", "SchemaIssue", "collect", "join", "shown", "validate"]

TYPES = ("str", "int", "float", "bool", "list", "mapping", "any")
_SHOWN_LIMIT = 80
_TRUE_WORDS = ("yes", "true", "on", "1")
_FALSE_WORDS = ("no", "false", "off", "0")


class _Missing:
    """The value of a key that is absent (``None`` is a value a document may hold)."""

    def __repr__(self) -> str:
        return "<missing>"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


def shown(value: Any) -> str:
    """``repr`` of a value, cut so one huge value cannot flood an error message."""
    text = repr(value)
    return text if len(text) <= _SHOWN_LIMIT else text[: _SHOWN_LIMIT - 3] + "..."


def join(path: str, key: Any) -> str:
    """``path.key``, or ``key`` alone at the top of a document whose path is empty."""
    return f"{path}.{key}" if path else str(key)


@dataclass(frozen=True)
class SchemaIssue:
    path: str
    message: str
    value: Any = MISSING

    def __str__(self) -> str:
        where = self.path or "<document>"
        if self.value is MISSING:
            return f"{where}: {self.message}"
        return f"{where}: {self.message} (got {shown(self.value)})"


class SchemaError(ValueError):
    """Every issue found in one document, one per line as ``path: message (got VALUE)``."""

    def __init__(self, errors: list[SchemaIssue]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(issue) for issue in self.errors))

    @property
    def path(self) -> str:
        return self.errors[0].path if self.errors else ""


class Issues(list):
    """The error list a validation pass and its cross-field checks append to."""

    def add(self, path: str, message: str, value: Any = MISSING) -> None:
        self.append(SchemaIssue(path, message, value))


@dataclass(frozen=True)
class Field:
    """One value's shape. ``hint`` says what a valid value is ("a version like 1.2.3"); failures read ``must be <hint>``."""

    type: str = "any"
    required: bool = False
    # A callable default is called for each document (fresh lists and dicts).
    default: Any = MISSING
    # Said after "is required" when a required key is absent.
    doc: str = ""
    hint: str = ""
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    min_items: int = 0
    pattern: str | None = None
    allow_empty: bool = False
    strip: bool = False
    # Inventory booleans written as words ("yes", "true"); off unless a schema opts in.
    bool_words: bool = False
    item: Field | None = None
    schema: Schema | None = None
    # A mapping with free keys (mount points, user names): every value has this shape.
    values: Field | None = None
    key_pattern: str | None = None
    key_hint: str = ""
    # Receives the type-checked value; returns an error message, or None when the value is fine.
    check: Callable[[Any], str | None] | None = None
    # Turns a valid value into its normalised form (a date into ISO text, a mode into an integer).
    normalize: Callable[[Any], Any] | None = None
    # This key holding null counts as absent (``holidays:`` with nothing after it), whatever the schema's none_is_missing.
    nullable: bool = False

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"internal: unknown field type {self.type!r} (one of {', '.join(TYPES)})")


@dataclass(frozen=True)
class Schema:
    """A mapping with known keys. Unknown keys are errors unless ``allow_unknown``: a typo must not switch a rule off."""

    fields: Mapping[str, Field]
    allow_unknown: bool = False
    unknown_message: str = "unknown key"
    # A key holding null counts as absent (YAML ``key:`` with nothing after it).
    none_is_missing: bool = False
    # Cross-field rules ``rule(mapping, path, issues)``, run on the normalised mapping after its fields.
    checks: tuple = field(default=())


def _type_problem(spec: Field, value: Any) -> str | None:
    kind = spec.type
    if kind == "str":
        if not isinstance(value, str):
            return "a string"
        if not spec.allow_empty and not value.strip():
            return "a non-empty string"
    elif kind == "int":
        # bool is an int in Python; `retries: true` is a typo, not 1. "30" is text, not a number.
        if isinstance(value, bool) or not isinstance(value, int):
            return "an integer"
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "a number"
    elif kind == "bool":
        if not isinstance(value, bool) and not (spec.bool_words and isinstance(value, str) and value.strip().lower() in _TRUE_WORDS + _FALSE_WORDS):
            return "true or false"
    elif kind == "list":
        if not isinstance(value, (list, tuple)):
            return "a list"
    elif kind == "mapping" and not isinstance(value, Mapping):
        return "a mapping"
    return None


def _bounds(spec: Field) -> str:
    noun = "an integer" if spec.type == "int" else "a number" if spec.type == "float" else "a value"
    if spec.minimum is not None and spec.maximum is not None:
        return f"{noun} from {spec.minimum:g} to {spec.maximum:g}"
    if spec.minimum is not None:
        return f"{noun} >= {spec.minimum:g}"
    return f"{noun} <= {spec.maximum:g}"


def _described(spec: Field, fallback: str) -> str:
    return f"must be {spec.hint or fallback}"


def _check_field(spec: Field, value: Any, path: str, issues: Issues) -> Any:
    """The normalised value, or MISSING after adding the issues found to ``issues``."""
    problem = _type_problem(spec, value)
    if problem is not None:
        if spec.type in ("int", "float") and (spec.minimum is not None or spec.maximum is not None):
            problem = _bounds(spec)  # the whole rule at once: "an integer from 1 to 99"
        issues.add(path, _described(spec, problem), value)
        return MISSING
    if spec.type == "str" and spec.strip:
        value = value.strip()
    if spec.type == "bool" and isinstance(value, str):
        value = value.strip().lower() in _TRUE_WORDS
    if spec.choices is not None and value not in spec.choices:
        issues.add(path, f"must be one of {', '.join(str(choice) for choice in spec.choices)}", value)
        return MISSING
    if spec.type in ("int", "float") and ((spec.minimum is not None and value < spec.minimum) or (spec.maximum is not None and value > spec.maximum)):
        issues.add(path, f"must be {_bounds(spec)}", value)
        return MISSING
    if spec.type == "str" and spec.pattern is not None and not re.fullmatch(spec.pattern, value):
        issues.add(path, _described(spec, f"text matching {spec.pattern}"), value)
        return MISSING
    if spec.type == "list":
        value = _check_list(spec, value, path, issues)
    elif spec.type == "mapping":
        value = _check_mapping(spec, value, path, issues)
    if value is MISSING:
        return MISSING
    if spec.check is not None:
        message = spec.check(value)
        if message:
            issues.add(path, message, value)
            return MISSING
    return spec.normalize(value) if spec.normalize is not None else value


def _check_list(spec: Field, value: Any, path: str, issues: Issues) -> Any:
    if len(value) < spec.min_items:
        wanted = "a non-empty list" if spec.min_items == 1 else f"a list of at least {spec.min_items} items"
        issues.add(path, _described(spec, wanted), list(value))
        return MISSING
    if spec.item is None:
        return list(value)
    before = len(issues)
    checked = [_check_field(spec.item, item, f"{path}[{index}]", issues) for index, item in enumerate(value)]
    # A list with a bad item is MISSING for cross-field rules: they see only fully valid data.
    return MISSING if len(issues) > before else checked


def _check_mapping(spec: Field, value: Mapping, path: str, issues: Issues) -> Any:
    if spec.schema is not None:
        return _check_schema(spec.schema, value, path, issues)
    if spec.values is None and spec.key_pattern is None:
        return dict(value)
    before = len(issues)
    result: dict = {}
    for key, item in value.items():
        key_path = join(path, key)
        if spec.key_pattern is not None and (not isinstance(key, str) or not re.fullmatch(spec.key_pattern, key)):
            issues.add(key_path, f"must be a key that is {spec.key_hint or 'matching ' + spec.key_pattern}", key)
            continue
        result[key] = item if spec.values is None else _check_field(spec.values, item, key_path, issues)
    return MISSING if len(issues) > before else result


def _check_schema(schema: Schema, value: Mapping, path: str, issues: Issues) -> Any:
    before = len(issues)
    for key in value:
        if key not in schema.fields and not schema.allow_unknown:
            issues.add(join(path, key), f"{schema.unknown_message} (allowed: {', '.join(sorted(schema.fields))})", value[key])
    result: dict = {key: item for key, item in value.items() if key not in schema.fields} if schema.allow_unknown else {}
    for key, spec in schema.fields.items():
        item = value.get(key, MISSING)
        if item is None and (schema.none_is_missing or spec.nullable):
            item = MISSING
        if item is not MISSING:
            checked = _check_field(spec, item, join(path, key), issues)
            if checked is not MISSING:
                result[key] = checked
        elif spec.required:
            issues.add(join(path, key), f"is required ({spec.doc})" if spec.doc else "is required")
        elif spec.default is not MISSING:
            default = spec.default() if callable(spec.default) else spec.default
            # A default mapping fills its own defaults ({} becomes {"enabled": True, ...}).
            result[key] = _check_field(spec, default, join(path, key), issues) if spec.type == "mapping" else default
    # Cross-field rules run once the mapping's own fields are valid: a typo is reported once, not also its consequences.
    if len(issues) == before:
        for check in schema.checks:
            check(result, path, issues)
    return MISSING if len(issues) > before else result


def collect(spec: Field | Schema, value: Any, path: str = "") -> tuple[Any, list[SchemaIssue]]:
    """Validate ``value``; return the normalised value (MISSING when invalid) and every issue found."""
    issues = Issues()
    field_spec = Field("mapping", schema=spec) if isinstance(spec, Schema) else spec
    normalised = _check_field(field_spec, value, path, issues)
    return normalised, list(issues)


def validate(spec: Field | Schema, value: Any, path: str = "") -> Any:
    """The normalised value (defaults filled), or ``SchemaError`` listing every issue."""
    normalised, issues = collect(spec, value, path)
    if issues:
        raise SchemaError(issues)
    return normalised
