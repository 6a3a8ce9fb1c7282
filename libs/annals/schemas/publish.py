"""Registering schemas/ in a schema registry (Confluent API): one subject per type and version.

Subjects follow docs/schema-registry.md: `<topic>-<Type>.v<N>` (TopicRecordNameStrategy with the
version in the record name), so a breaking change is a new version, i.e. a new subject.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from annals.messaging.cloudevents import subject_of
from annals.topology import topology

__all__ = ["Registered", "register_all", "schema_files", "subject_of"]


def schema_files(root: Path, service: str) -> list[tuple[str, int, Path]]:
    """Each schema file of a service: (event type, version, path), sorted by file name."""
    found = []
    for path in sorted((root / service).glob("*.json")):
        event_type, _, version = path.name.removesuffix(".json").rpartition(".v")
        found.append((event_type, int(version), path))
    return found


@dataclass
class Registered:
    """What `register_all` did: subject -> id, and each refusal with the registry's message."""

    ids: dict[str, int] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)


def _topics() -> dict[str, str]:
    return {s.name: s.topic for s in topology().services.values() if s.topic}


def register_all(
    client: httpx.Client, root: Path, topics: dict[str, str] | None = None
) -> Registered:
    """Register every schema file of each service with a topic (client: the registry's base URL)."""
    done = Registered()
    for service, topic in (topics or _topics()).items():
        for event_type, version, path in schema_files(root, service):
            subject = subject_of(topic, event_type, version)
            body = {"schema": json.dumps(json.loads(path.read_text())), "schemaType": "JSON"}
            answer = client.post(f"/subjects/{subject}/versions", json=body)
            if answer.status_code == 200:
                done.ids[subject] = int(answer.json()["id"])
            else:
                done.refused.append(f"{subject}: {answer.json().get('message', answer.text)}")
    return done
