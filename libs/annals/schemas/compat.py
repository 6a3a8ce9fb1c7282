"""Backward compatibility of a schema version: nothing removed, retyped, or newly required."""

from __future__ import annotations

import json
from typing import Any

# Keywords that document but do not constrain.
_ANNOTATIONS = {"title", "description", "examples", "example", "default", "$comment"}


def _resolve(node: Any, defs: dict[str, Any], seen: frozenset[str] = frozenset()) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in seen:
                return {"$ref": name}
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return _resolve({**defs.get(name, {}), **rest}, defs, seen | {name})
        return {
            k: _resolve(v, defs, seen)
            for k, v in node.items()
            if k not in _ANNOTATIONS and not k.startswith("x-")
        }
    if isinstance(node, list):
        return [_resolve(v, defs, seen) for v in node]
    return node


def _signature(schema: dict[str, Any], prop: dict[str, Any]) -> str:
    return json.dumps(_resolve(prop, schema.get("$defs", {})), sort_keys=True)


def incompatibilities(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why `new` cannot read what writers of `old` wrote (empty: backward compatible)."""
    problems: list[str] = []
    old_props: dict[str, Any] = old.get("properties", {})
    new_props: dict[str, Any] = new.get("properties", {})
    for name, prop in old_props.items():
        if name not in new_props:
            problems.append(f"field {name!r} was removed")
        elif _signature(old, prop) != _signature(new, new_props[name]):
            problems.append(f"field {name!r} changed its type or constraints")
    old_required = set(old.get("required", []))
    for name in sorted(set(new.get("required", [])) - old_required):
        if name not in old_props:
            problems.append(f"new field {name!r} is required and has no default")
        else:
            problems.append(f"field {name!r} became required")
    return problems
