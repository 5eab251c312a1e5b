"""A small GraphQL reader: enough to answer the Shopify queries a connector sends (fields, arguments, variables).

``parse(text)`` turns one operation into a tree of ``Field``s; ``project(node, fields)`` keeps only the selected keys
of a full object, as a GraphQL server would. No fragments, aliases or directives: a query using them is refused with
a clear error instead of being answered wrongly.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(
    r'\s*(?:#[^\n]*\n\s*)*(\.\.\.|[{}():!$=\[\]@]|"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*|-?\d+(?:\.\d+)?)'
)


class GraphQLSyntaxError(ValueError):
    pass


@dataclass
class Field:
    name: str
    args: dict[str, Any] = field(default_factory=dict)  # values: python literals, or Var
    fields: list[Field] = field(default_factory=list)


@dataclass(frozen=True)
class Var:
    name: str


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.replace(",", " ")
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            raise GraphQLSyntaxError(f"unexpected character at {pos}: {text[pos:pos + 20]!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise GraphQLSyntaxError(f"expected {expected or 'a token'}, got {tok!r}")
        self.i += 1
        return tok

    def operation(self) -> list[Field]:
        if self.peek() in ("query", "mutation"):
            if self.take() == "mutation":
                raise GraphQLSyntaxError("mutations are not served")
            if self.peek() not in ("{", "("):
                self.take()  # operation name
            if self.peek() == "(":
                depth = 0
                while True:  # variable definitions: types are not checked here
                    tok = self.take()
                    depth += tok == "("
                    depth -= tok == ")"
                    if depth == 0:
                        break
        return self.selection()

    def selection(self) -> list[Field]:
        self.take("{")
        fields: list[Field] = []
        while self.peek() != "}":
            name = self.take()
            if name in ("...", "@") or self.peek() == ":" :
                raise GraphQLSyntaxError(f"fragments, directives and aliases are not served ({name})")
            f = Field(name)
            if self.peek() == "(":
                self.take("(")
                while self.peek() != ")":
                    key = self.take()
                    self.take(":")
                    f.args[key] = self.value()
                self.take(")")
            if self.peek() == "{":
                f.fields = self.selection()
            fields.append(f)
        self.take("}")
        return fields

    def value(self) -> Any:
        tok = self.take()
        if tok == "$":
            return Var(self.take())
        if tok.startswith('"'):
            return json.loads(tok)
        if tok == "[":
            items = []
            while self.peek() != "]":
                items.append(self.value())
            self.take("]")
            return items
        if re.fullmatch(r"-?\d+", tok):
            return int(tok)
        if re.fullmatch(r"-?\d+\.\d+", tok):
            return float(tok)
        return {"true": True, "false": False, "null": None}.get(tok, tok)  # enum values stay names


def parse(text: str) -> list[Field]:
    parser = _Parser(text)
    fields = parser.operation()
    if parser.peek() is not None:
        raise GraphQLSyntaxError(f"unexpected {parser.peek()!r} after the operation")
    return fields


def arg(f: Field, name: str, variables: dict[str, Any], default: Any = None) -> Any:
    value = f.args.get(name, default)
    return variables.get(value.name, default) if isinstance(value, Var) else value


def project(node: Any, fields: list[Field]) -> Any:
    """Keep the selected keys (recursively); lists are projected item by item."""
    if isinstance(node, list):
        return [project(item, fields) for item in node]
    if not isinstance(node, dict) or not fields:
        return node
    return {f.name: project(node.get(f.name), f.fields) for f in fields}
