"""The conversion of Kubernetes' and the CRDs' schemas to kubeconform's self-contained files."""

from __future__ import annotations

from typing import Any

from annals.deploy import k8s_schemas


def test_standalone_copies_the_reached_definitions_only() -> None:
    definitions = {
        "a": {"properties": {"b": {"$ref": "#/$defs/b"}}},
        "b": {"type": "string"},
        "unused": {"type": "integer"},
    }
    schema = {"$id": "x", "properties": {"a": {"$ref": "/api/_definitions.json#/$defs/a"}}}
    out = k8s_schemas.standalone(schema, definitions)
    assert out["properties"]["a"] == {"$ref": "#/$defs/a"}
    assert set(out["$defs"]) == {"a", "b"}
    assert "$id" not in out


def crd(schema: dict[str, Any], group: str = "example.io") -> dict[str, Any]:
    version = {"name": "v1", "schema": {"openAPIV3Schema": schema}}
    return {"spec": {"group": group, "names": {"kind": "Thing"}, "versions": [version]}}


def test_crd_schemas_are_closed_where_they_list_properties() -> None:
    schema = {"properties": {"spec": {"type": "object", "properties": {
        "size": {"type": "integer"},
        "auth": {"type": "object", "properties": {"type": {"type": "string"}}},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                 "properties": {"a": {"type": "string"}}},
        "config": {"type": "object", "additionalProperties": {"type": "object"}},
    }}}}  # fmt: skip
    [(group, kind, version, out)] = list(k8s_schemas.crd_schemas(crd(schema)))
    assert (group, kind, version) == ("example.io", "Thing", "v1")
    assert out["additionalProperties"] is False
    assert {"apiVersion", "kind", "metadata", "spec"} <= set(out["properties"])
    spec = out["properties"]["spec"]
    assert spec["additionalProperties"] is False
    assert "additionalProperties" not in spec["properties"]["auth"]  # polymorphic: by `type`
    assert "additionalProperties" not in spec["properties"]["free"]
    assert spec["properties"]["config"]["additionalProperties"] == {}  # any value


def test_strimzi_schemas_serve_v1_and_v1beta2() -> None:
    out = k8s_schemas.crd_schemas(crd({"properties": {}}, group="kafka.strimzi.io"))
    assert sorted(version for _, _, version, _ in out) == ["v1", "v1beta2"]
