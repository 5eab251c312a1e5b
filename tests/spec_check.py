"""Validate fixtures and sandbox payloads against the official OpenAPI specs in ../shared/specs.

The specs are read in place (their licences differ from ours: never copy them into this repository). Tests get the
folder from the ``specs`` fixture in conftest.py, which skips with a clear reason when it is absent.

    schema = response_schema(spec, "/orders/2026-01-01/orders", "get")   # the 200 response body
    validate(spec, schema, payload)                                       # raises with the JSON path
    validate(spec, component(spec, "Order"), payload["orders"][0])

OpenAPI 3.0 schemas are JSON Schema with a few differences; ``_to_jsonschema`` handles ``nullable`` and keeps
``$ref``s pointing into the spec's own components, so the whole document serves as the resolver's root.
"""

from __future__ import annotations

import copy
import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema


@cache
def load_spec(path: Path) -> dict[str, Any]:
    if path.suffix in (".yml", ".yaml"):
        import yaml

        # libyaml's loader when built in: the Walmart orders spec loads in ~1 s instead of ~25 s
        return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if path.suffix == ".gz":
        with gzip.open(path, "rt") as fh:
            return json.load(fh)
    return json.loads(path.read_text())


def component(spec: dict[str, Any], name: str) -> dict[str, Any]:
    """A named schema: OpenAPI 3 ``components/schemas`` or Swagger 2 ``definitions``."""
    if "components" in spec and name in spec["components"].get("schemas", {}):
        return {"$ref": f"#/components/schemas/{name}"}
    if name in spec.get("definitions", {}):
        return {"$ref": f"#/definitions/{name}"}
    raise KeyError(f"schema {name!r} not in spec")


def response_schema(spec: dict[str, Any], path: str, method: str, status: str = "200",
                    media: str | None = None) -> dict[str, Any]:
    """The body schema of one operation's response (OpenAPI 3 content or Swagger 2 schema)."""
    op = spec["paths"][path][method.lower()]
    response = op["responses"][status]
    if "$ref" in response:
        response = _resolve(spec, response["$ref"])
    if "schema" in response:  # Swagger 2
        return response["schema"]
    content = response["content"]
    key = media or next((k for k in content if "json" in k), next(iter(content)))
    return content[key]["schema"]


def _resolve(spec: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = spec
    for part in ref.lstrip("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 -> JSON Schema: ``nullable: true`` becomes a type that also allows null."""
    if isinstance(node, dict):
        out = {k: _to_jsonschema(v) for k, v in node.items() if k not in ("example", "examples", "xml")}
        if out.pop("nullable", False):
            if "type" in out:
                out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else [*out["type"], "null"]
            elif "$ref" in out or "allOf" in out or "oneOf" in out or "anyOf" in out:
                out = {"anyOf": [out, {"type": "null"}]}
        return out
    if isinstance(node, list):
        return [_to_jsonschema(v) for v in node]
    return node


@cache
def _converted(spec_id: int) -> dict[str, Any]:
    return _to_jsonschema(_SPECS[spec_id])


_SPECS: dict[int, dict[str, Any]] = {}


def validate(spec: dict[str, Any], schema: dict[str, Any], instance: Any) -> None:
    """Raise AssertionError naming the JSON path and reason when ``instance`` does not fit ``schema``."""
    _SPECS[id(spec)] = spec
    root = copy.copy(_converted(id(spec)))
    root = {**root, **_to_jsonschema(schema)}
    validator = jsonschema.Draft4Validator(root) if "swagger" in spec else jsonschema.Draft7Validator(root)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "(root)"
        raise AssertionError(f"{where}: {e.message[:300]} ({len(errors)} error(s))")
