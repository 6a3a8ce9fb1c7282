"""Whether a JSON Schema reader can read what a writer schema allows (docs/schema-registry.md).

One rule set serves `annals schemas check` and the registry (annals.registry): `readable(reader,
writer)` lists why some data valid under `writer` may be refused by `reader`. Backward
compatibility is "the new schema reads data written under the old one", forward the other way
round; the levels of annals.schemas.levels combine the two over one or all earlier versions.
Checks are conservative: a change the rules cannot prove safe counts as a problem.
"""

from __future__ import annotations

import json
from typing import Any

# Keywords that document but do not constrain.
_ANNOTATIONS = {"title", "description", "examples", "example", "default", "$comment", "$id"}
_STRUCTURE = {"type", "properties", "required", "additionalProperties", "items", "enum", "const"}
_STRUCTURE |= {"anyOf", "oneOf", "$defs", "$schema"}
# Bounds a reader may loosen: an upper bound may grow, a lower bound may shrink.
_UPPER = {"maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties"}
_LOWER = {"minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties"}
_ALL_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})


def _resolve(node: Any, defs: dict[str, Any], seen: frozenset[str] = frozenset()) -> Any:
    """The node with local `$ref`s inlined and annotations dropped (recursive refs kept)."""
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


def normalize(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema without annotations, its local references inlined."""
    resolved: dict[str, Any] = _resolve(schema, schema.get("$defs", {}))
    resolved.pop("$defs", None)
    resolved.pop("$schema", None)
    return resolved


def readable(reader: dict[str, Any], writer: dict[str, Any]) -> list[str]:
    """Why data valid under `writer` may be invalid under `reader` (empty: always readable)."""
    return _node(normalize(reader), normalize(writer), "")


def incompatibilities(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why `new` cannot read what writers of `old` wrote (empty: backward compatible)."""
    return readable(new, old)


def _branches(node: Any) -> list[Any]:
    if isinstance(node, dict) and set(node) <= {"anyOf", "oneOf"} and len(node) == 1:
        return [b for branch in next(iter(node.values())) for b in _branches(branch)]
    return [node]


def _node(reader: Any, writer: Any, at: str) -> list[str]:
    if reader is True or reader == {}:
        return []
    if writer is False:
        return []
    if reader is False:
        return [f"{_where(at)} accepts nothing any more"]
    if writer is True:
        writer = {}
    readers, writers = _branches(reader), _branches(writer)
    if len(readers) > 1 or len(writers) > 1:
        return _union(readers, writers, at)
    return _single(reader, writer, at)


def _union(readers: list[Any], writers: list[Any], at: str) -> list[str]:
    problems = []
    for branch in writers:
        attempts = [_single_or_bool(r, branch, at) for r in readers]
        if not any(not a for a in attempts):
            problems.append(min(attempts, key=len)[0])
    return problems


def _single_or_bool(reader: Any, writer: Any, at: str) -> list[str]:
    if not isinstance(reader, dict) or not isinstance(writer, dict):
        return _node(reader, writer, at)
    return _single(reader, writer, at)


def _single(reader: dict[str, Any], writer: dict[str, Any], at: str) -> list[str]:
    problems = _types(reader, writer, at) + _enum(reader, writer, at)
    problems += _constraints(reader, writer, at)
    if "object" in _type_set(reader) & _type_set(writer):
        problems += _object(reader, writer, at)
    if "array" in _type_set(reader) & _type_set(writer) and "items" in reader:
        problems += _node(reader["items"], writer.get("items", {}), f"{at}[]")
    return problems


def _type_set(node: dict[str, Any]) -> frozenset[str]:
    kind = node.get("type")
    if kind is None:
        return _ALL_TYPES
    names = frozenset([kind] if isinstance(kind, str) else kind)
    return names | {"integer"} if "number" in names else names


def _types(reader: dict[str, Any], writer: dict[str, Any], at: str) -> list[str]:
    lost = _type_set(writer) - _type_set(reader)
    if not lost:
        return []
    was, now = _show(writer.get("type", "any")), _show(reader.get("type", "any"))
    return [f"{_where(at)} changed its type from {was} to {now} (narrowed)"]


def _enum(reader: dict[str, Any], writer: dict[str, Any], at: str) -> list[str]:
    allowed = _values(reader)
    if allowed is None:
        return []
    written = _values(writer)
    if written is None:
        return [f"{_where(at)} is now limited to {_show(allowed)}"]
    lost = [v for v in written if v not in allowed]
    return [f"{_where(at)} no longer accepts {_show(lost)}"] if lost else []


def _values(node: dict[str, Any]) -> list[Any] | None:
    if "const" in node:
        return [node["const"]]
    enum = node.get("enum")
    return list(enum) if isinstance(enum, list) else None


def _constraints(reader: dict[str, Any], writer: dict[str, Any], at: str) -> list[str]:
    problems = []
    for key, limit in reader.items():
        if key in _STRUCTURE or writer.get(key) == limit:
            continue
        had = writer.get(key)
        numbers = _is_number(limit) and _is_number(had)
        loosened = numbers and (
            (key in _UPPER and limit >= had) or (key in _LOWER and limit <= had)
        )
        if not loosened:
            problems.append(f"{_where(at)} has a new or tighter {key} ({_show(limit)})")
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _object(reader: dict[str, Any], writer: dict[str, Any], at: str) -> list[str]:
    problems = []
    r_props: dict[str, Any] = reader.get("properties", {})
    w_props: dict[str, Any] = writer.get("properties", {})
    r_extra = reader.get("additionalProperties", True)
    w_extra = writer.get("additionalProperties", True)
    for name, prop in w_props.items():
        if name in r_props:
            problems += _node(r_props[name], prop, _join(at, name))
        elif r_extra is False:
            problems.append(f"{_where(_join(at, name))} was removed")
        else:
            problems += _node(r_extra, prop, _join(at, name))
    for name, prop in r_props.items():
        if name not in w_props and w_extra is not False:
            problems += _node(prop, w_extra, _join(at, name))
    problems += _required(reader, writer, w_props, at)
    if not (w_extra is False or r_extra is True or r_extra == {}):
        problems += _extra(r_extra, w_extra, at)
    return problems


def _required(
    reader: dict[str, Any], writer: dict[str, Any], w_props: dict[str, Any], at: str
) -> list[str]:
    problems = []
    for name in sorted(set(reader.get("required", [])) - set(writer.get("required", []))):
        field = _where(_join(at, name))
        if name in w_props:
            problems.append(f"{field} became required")
        else:
            problems.append(f"new {field} is required and has no default")
    return problems


def _extra(r_extra: Any, w_extra: Any, at: str) -> list[str]:
    if r_extra is False:
        return [f"{_where(at)} no longer allows additional properties"]
    found = _node(r_extra, w_extra, f"{_join(at, '*')}")
    return [f"{_where(at)} narrowed its additionalProperties: {p}" for p in found][:1]


def _join(at: str, name: str) -> str:
    return f"{at}.{name}" if at else name


def _where(at: str) -> str:
    return f"field {at!r}" if at else "the schema"


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
