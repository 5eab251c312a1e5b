"""Check GraphQL queries and responses against an introspection schema (Shopify's Admin schema in ../shared/specs).

    schema = load_schema(specs / "shopify" / "admin_schema_2025-01.json.gz")
    check_query(schema, ORDERS_QUERY)                    # every field and argument exists on its type
    check_response(schema, ORDERS_QUERY, body["data"])    # every value fits its field's type, nulls only where allowed

Raises AssertionError naming the path (``orders.nodes[3].fulfillments[0].deliveredAt``) and the reason.
"""

from __future__ import annotations

import gzip
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from sellerguard.sandbox._graphql import Field, parse

_SCALARS: dict[str, tuple[type, ...]] = {
    "String": (str,), "ID": (str,), "Boolean": (bool,), "Int": (int,), "Float": (int, float),
    "DateTime": (str,), "Date": (str,), "Decimal": (str,), "Money": (str,), "URL": (str,), "HTML": (str,),
    "UnsignedInt64": (str,), "FormattedString": (str,), "JSON": (object,), "UtcOffset": (str,), "ARN": (str,),
    "Color": (str,), "BigInt": (str, int), "StorefrontID": (str,),
}
_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
_DATE = re.compile(r"^\d{4}-\d\d-\d\d$")


@cache
def load_schema(path: Path) -> dict[str, dict[str, Any]]:
    with gzip.open(path, "rt") as fh:
        data = json.load(fh)
    return {t["name"]: t for t in data["data"]["__schema"]["types"]}


def _named(t: dict[str, Any]) -> dict[str, Any]:
    while t.get("ofType"):
        t = t["ofType"]
    return t


def _field(types: dict[str, Any], type_name: str, name: str, where: str) -> dict[str, Any]:
    t = types[type_name]
    for f in t.get("fields") or []:
        if f["name"] == name:
            return f
    raise AssertionError(f"{where}: no field '{name}' on {type_name}")


def check_query(types: dict[str, Any], query: str, root: str = "QueryRoot") -> None:
    _check_fields(types, root, parse(query), root)


def _check_fields(types: dict[str, Any], type_name: str, fields: list[Field], where: str) -> None:
    for f in fields:
        here = f"{where}.{f.name}"
        spec = _field(types, type_name, f.name, where)
        known = {a["name"] for a in spec["args"]}
        for name in f.args:
            if name not in known:
                raise AssertionError(f"{here}: no argument '{name}' (known: {', '.join(sorted(known))})")
        target = _named(spec["type"])
        if target["kind"] in ("OBJECT", "INTERFACE") and not f.fields:
            raise AssertionError(f"{here}: an object field needs a selection")
        if f.fields:
            if target["kind"] not in ("OBJECT", "INTERFACE"):
                raise AssertionError(f"{here}: {target['name']} has no fields to select")
            _check_fields(types, target["name"], f.fields, here)


def check_response(types: dict[str, Any], query: str, data: Any, root: str = "QueryRoot") -> None:
    if not isinstance(data, dict):
        raise AssertionError("data: not an object")
    _check_object(types, root, parse(query), data, "data")


def _check_object(types: dict[str, Any], type_name: str, fields: list[Field], value: dict[str, Any],
                  where: str) -> None:
    selected = {f.name for f in fields}
    extra = set(value) - selected
    if extra:
        raise AssertionError(f"{where}: keys not selected by the query: {', '.join(sorted(extra))}")
    for f in fields:
        spec = _field(types, type_name, f.name, where)
        if f.name not in value:
            raise AssertionError(f"{where}.{f.name}: missing")
        _check_value(types, spec["type"], f, value[f.name], f"{where}.{f.name}")


def _check_value(types: dict[str, Any], t: dict[str, Any], f: Field, value: Any, where: str) -> None:
    if t["kind"] == "NON_NULL":
        if value is None:
            raise AssertionError(f"{where}: null in a non-null field")
        _check_value(types, t["ofType"], f, value, where)
        return
    if value is None:
        return
    if t["kind"] == "LIST":
        if not isinstance(value, list):
            raise AssertionError(f"{where}: expected a list")
        for i, item in enumerate(value):
            _check_value(types, t["ofType"], f, item, f"{where}[{i}]")
        return
    named = types[t["name"]]
    if named["kind"] == "SCALAR":
        allowed = _SCALARS.get(named["name"], (object,))
        if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
            raise AssertionError(f"{where}: {value!r} is not a {named['name']}")
        if named["name"] == "DateTime" and not _DATETIME.match(value):
            raise AssertionError(f"{where}: {value!r} is not an ISO 8601 DateTime")
        if named["name"] == "Date" and not _DATE.match(value):
            raise AssertionError(f"{where}: {value!r} is not a Date")
        return
    if named["kind"] == "ENUM":
        names = {v["name"] for v in named["enumValues"]}
        if value not in names:
            raise AssertionError(f"{where}: {value!r} is not one of {named['name']}")
        return
    if not isinstance(value, dict):
        raise AssertionError(f"{where}: expected an object ({named['name']})")
    _check_object(types, named["name"], f.fields, value, where)
