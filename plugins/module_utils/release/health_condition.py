# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The health condition of a manifest (``health.jmespath``), evaluated on the host with the standard library.

Hosts have no jmespath library, and the health gate runs there. The condition language is the part of
JMESPath a health answer needs, with JMESPath's meaning, so every accepted expression is valid JMESPath
and gives the same result:

    path           status, checks.db.status, "quoted-key".up, nodes[0].state
    literals       'raw string', `json literal` (`1`, `true`, `null`, `"x"`)
    comparison     == != < <= > >=   (ordering compares numbers only; anything else is null)
    logic          ! && || and parentheses

Anything else (filters, projections, functions, pipes) is refused when the manifest is checked on
the controller, naming the expression, rather than failing later on a host.
"""

from __future__ import annotations

import json
import re
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<op>==|!=|<=|>=|&&|\|\||<|>|!|\(|\)|\.|\[|\])
      | (?P<raw>'(?:\\.|[^'\\])*')
      | (?P<literal>`(?:\\.|[^`\\])*`)
      | (?P<quoted>"(?:\\.|[^"\\])*")
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<index>-?\d+)
    )""",
    re.VERBOSE,
)
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_LANGUAGE = (
    "the health condition evaluates key paths, 'strings', `literals`, comparisons, !, && and ||; filters, projections, functions and pipes are not evaluated"
)


class HealthConditionError(ValueError):
    """The expression is not in the condition language; the message says where."""


def _tokens(expression: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = expression.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise HealthConditionError(f"unsupported syntax at {text[position : position + 20]!r} ({_LANGUAGE})")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent into a small tree of tuples, so an expression is parsed once and evaluated per probe."""

    def __init__(self, expression: str) -> None:
        self.tokens = _tokens(expression)
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            found = "the end" if token is None else repr(token[1])
            raise HealthConditionError(f"expected {value or 'an operand'}, found {found}")
        self.position += 1
        return token

    def parse(self) -> tuple:
        tree = self.disjunction()
        if self.peek() is not None:
            raise HealthConditionError(f"unsupported syntax at {self.peek()[1]!r} ({_LANGUAGE})")
        return tree

    def disjunction(self) -> tuple:
        tree = self.conjunction()
        while self.peek() == ("op", "||"):
            self.take()
            tree = ("or", tree, self.conjunction())
        return tree

    def conjunction(self) -> tuple:
        tree = self.negation()
        while self.peek() == ("op", "&&"):
            self.take()
            tree = ("and", tree, self.negation())
        return tree

    def negation(self) -> tuple:
        if self.peek() == ("op", "!"):
            self.take()
            return ("not", self.negation())
        return self.comparison()

    def comparison(self) -> tuple:
        tree = self.operand()
        token = self.peek()
        if token is not None and token[0] == "op" and token[1] in _COMPARISONS:
            self.take()
            tree = ("compare", token[1], tree, self.operand())
        return tree

    def operand(self) -> tuple:
        kind, value = self.take()
        if (kind, value) == ("op", "("):
            tree = self.disjunction()
            self.take(")")
            return tree
        if kind == "raw":
            return ("value", value[1:-1].replace("\\'", "'"))
        if kind == "literal":
            try:
                return ("value", json.loads(value[1:-1].replace("\\`", "`")))
            except ValueError as exc:
                raise HealthConditionError(f"literal {value} is not JSON: {exc}") from None
        if kind in ("name", "quoted"):
            return self.path(value if kind == "name" else json.loads(value))
        raise HealthConditionError(f"expected a key, a 'string' or a `literal`, found {value!r}")

    def path(self, first: str) -> tuple:
        steps: list[str | int] = [first]
        while self.peek() in (("op", "."), ("op", "[")):
            if self.take()[1] == ".":
                kind, value = self.take()
                if kind not in ("name", "quoted"):
                    raise HealthConditionError(f"expected a key after '.', found {value!r}")
                steps.append(value if kind == "name" else json.loads(value))
            else:
                kind, value = self.take()
                if kind != "index":
                    raise HealthConditionError(f"only a number may stand in [], found {value!r} ({_LANGUAGE})")
                steps.append(int(value))
                self.take("]")
        return ("path", tuple(steps))


def compile_condition(expression: str) -> tuple:
    """Parse once; raises HealthConditionError naming what is not supported."""
    if not expression.strip():
        raise HealthConditionError("the expression is empty")
    return _Parser(expression).parse()


def _truthy(value: Any) -> bool:
    # JMESPath: false, null and empty strings, lists and objects are false; numbers, 0 included, are true.
    return not (value is None or value is False or value in ("", [], {}))


def _lookup(document: Any, steps: tuple) -> Any:
    for step in steps:
        if isinstance(step, int):
            if not isinstance(document, list) or not -len(document) <= step < len(document):
                return None
            document = document[step]
        elif isinstance(document, dict):
            document = document.get(step)
        else:
            return None
    return document


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def evaluate(tree: tuple, document: Any) -> Any:
    kind = tree[0]
    if kind == "value":
        return tree[1]
    if kind == "path":
        return _lookup(document, tree[1])
    if kind == "not":
        return not _truthy(evaluate(tree[1], document))
    if kind == "and":
        left = evaluate(tree[1], document)
        return evaluate(tree[2], document) if _truthy(left) else left
    if kind == "or":
        left = evaluate(tree[1], document)
        return left if _truthy(left) else evaluate(tree[2], document)
    operator, left, right = tree[1], evaluate(tree[2], document), evaluate(tree[3], document)
    if operator in ("==", "!="):
        # true == 1 in Python, never in JMESPath.
        same = (_number(left) and _number(right) and left == right) or (type(left) is type(right) and left == right)
        return same if operator == "==" else not same
    if not (_number(left) and _number(right)):
        return None
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[operator]


def condition_holds(tree: tuple, document: Any) -> bool:
    """The gate's reading of the result: what JMESPath calls false, and 0, fail the probe (as the deploy always did)."""
    result = evaluate(tree, document)
    return _truthy(result) and not (_number(result) and result == 0)


def lookup_path(document: Any, path: str) -> Any:
    """A version_field such as ``version`` or ``build.version``: a path of the condition language."""
    tree = compile_condition(path)
    if tree[0] != "path":
        raise HealthConditionError("must be a key path such as version or build.version")
    return _lookup(document, tree[1])
