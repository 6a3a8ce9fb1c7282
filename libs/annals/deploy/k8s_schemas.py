"""Offline JSON schemas for kubeconform: Kubernetes' own kinds and the operators' CRDs.

Kubernetes' schemas come from the kubernetes-validate package (PyPI), one file per kind whose
`$ref`s point into a shared `_definitions.json`; kubeconform wants one self-contained file per
kind, so each is written with the definitions it reaches copied into its own `$defs`. The CRDs
(Strimzi's, generated from its published API classes, and CloudNativePG's, from the
k8s-crds-cloud-native-pg crate; deploy/helm/schemas/fetch.sh) become one schema per kind and
version, made strict: an object that lists its properties accepts no others, so a misspelt field
of a custom resource fails `make lint` as it would fail the API server.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

KUBERNETES_VERSION = "1.34.0"
# Where each kind's file lands; kubeconform's -schema-location templates for them.
KUBERNETES_DIR = "kubernetes"
CRD_DIR = "crds"
KUBERNETES_TEMPLATE = "{{ .ResourceKind }}{{ .KindSuffix }}.json"
CRD_TEMPLATE = "{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"
# Strimzi's API classes carry one fabric8 version (the storage one) while the operator serves the
# same schema under each of these (io.strimzi.api's @Crd versions).
SERVED = {"kafka.strimzi.io": ("v1", "v1beta2")}
DEFINITIONS = "/api/_definitions.json#/$defs/"
LOCAL = "#/$defs/"


def kubernetes_source(version: str = KUBERNETES_VERSION) -> Path:
    """The strict per-kind schemas kubernetes-validate ships for `version`."""
    import kubernetes_validate

    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    return root / f"v{version}-local-strict"


def _name(ref: object) -> str | None:
    if not isinstance(ref, str):
        return None
    for prefix in (DEFINITIONS, LOCAL):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return None


def _reached(node: Any, definitions: dict[str, Any], found: set[str]) -> None:
    if isinstance(node, dict):
        name = _name(node.get("$ref"))
        if name is not None and name not in found:
            found.add(name)
            _reached(definitions[name], definitions, found)
        for value in node.values():
            _reached(value, definitions, found)
    elif isinstance(node, list):
        for value in node:
            _reached(value, definitions, found)


def _local_refs(node: Any) -> Any:
    if isinstance(node, dict):
        name = _name(node.get("$ref"))
        out = {k: _local_refs(v) for k, v in node.items() if k != "$id"}
        if name is not None:
            out["$ref"] = LOCAL + name
        return out
    if isinstance(node, list):
        return [_local_refs(v) for v in node]
    return node


def standalone(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """`schema` with every definition it reaches copied into its own `$defs`."""
    found: set[str] = set()
    _reached(schema, definitions, found)
    out: dict[str, Any] = _local_refs(schema)
    out["$defs"] = {name: _local_refs(definitions[name]) for name in sorted(found)}
    return out


def write_kubernetes(source: Path, out: Path) -> int:
    """Write a self-contained schema per kind of `source` into `out`; how many."""
    definitions = json.loads((source / "_definitions.json").read_text())["$defs"]
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(source.glob("*.json")):
        if path.name.startswith("_") or path.name == "all.json":
            continue
        schema = standalone(json.loads(path.read_text()), definitions)
        (out / path.name).write_text(json.dumps(schema, separators=(",", ":")))
        count += 1
    return count


def strict(node: Any) -> Any:
    """A CRD's openAPIV3Schema closed where it lists properties.

    Left open: objects that preserve unknown fields, and polymorphic ones whose only listed
    property is their `type` discriminator (the generator knows not their subtypes' fields).
    A bare `{type: object}` (a Java Object or any JSON value) accepts any value.
    """
    if isinstance(node, list):
        return [strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict(v) if k != "properties" else v for k, v in node.items()}
    props = node.get("properties")
    if isinstance(props, dict):
        out["properties"] = {k: strict(v) for k, v in props.items()}
        preserves = node.get("x-kubernetes-preserve-unknown-fields") is True
        if not preserves and set(props) != {"type"} and "additionalProperties" not in node:
            out["additionalProperties"] = False
    elif node.get("type") == "object" and "additionalProperties" not in node:
        return {k: v for k, v in out.items() if k != "type"}
    return out


def crd_schemas(crd: dict[str, Any]) -> Iterable[tuple[str, str, str, dict[str, Any]]]:
    """(group, kind, version, JSON schema) for each served version of a CRD."""
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"]
    for version in spec["versions"]:
        for name in sorted({version["name"], *SERVED.get(group, ())}):
            yield group, kind, name, _document(version["schema"]["openAPIV3Schema"])


def _document(openapi: dict[str, Any]) -> dict[str, Any]:
    """A kubeconform schema of one custom resource: strict, with its type fields."""
    schema: dict[str, Any] = strict(dict(openapi))
    schema.setdefault("type", "object")
    schema["properties"] = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        **schema.get("properties", {}),
    }
    schema.setdefault("additionalProperties", False)
    return schema


def write_crds(crds: Iterable[dict[str, Any]], out: Path) -> list[Path]:
    """Write each CRD's schemas as `<group>/<kind>_<version>.json` under `out`."""
    written = []
    for crd in crds:
        for group, kind, version, schema in crd_schemas(crd):
            path = out / group / f"{kind.lower()}_{version}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(schema, separators=(",", ":")))
            written.append(path)
    return written


def locations(root: Path) -> list[str]:
    """kubeconform -schema-location arguments for the schemas written under `root`."""
    return [
        str(root / KUBERNETES_DIR / KUBERNETES_TEMPLATE),
        str(root / CRD_DIR / CRD_TEMPLATE),
    ]


def read_crds(src: Path) -> list[dict[str, Any]]:
    """The CRDs fetch.sh generated: Strimzi's YAML files and CloudNativePG's JSON lines."""
    import yaml  # a development dependency: only the chart's checks need it

    crds = [yaml.safe_load(p.read_text()) for p in sorted((src / "strimzi").glob("*.yml"))]
    lines = (src / "cnpg.jsonl").read_text().splitlines()
    return crds + [json.loads(line) for line in lines if line.strip()]


def build(src: Path, out: Path) -> None:
    """Every schema kubeconform needs for the chart, under `out`."""
    count = write_kubernetes(kubernetes_source(), out / KUBERNETES_DIR)
    written = write_crds(read_crds(src), out / CRD_DIR)
    print(f"{count} Kubernetes schema files, {len(written)} custom resource kind versions")


if __name__ == "__main__":
    import sys

    build(Path(sys.argv[1]), Path(sys.argv[2]))
