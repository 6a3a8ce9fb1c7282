"""An AsyncAPI 3.0 document of every topic, generated from the topology and schemas/.

Each service topic `<service>.events` is a channel whose messages are its event types, one per
schema version found in schemas/<service>/<Type>.v<N>.json: a CloudEvents 1.0 structured-mode
envelope whose `data` is that schema, keyed by the stream id. Each CDC source's topics are one
channel `<prefix>.{schema}.{table}` of Debezium change records. `annals asyncapi export` writes
it, the query API serves it at /asyncapi.json.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from annals.messaging.cloudevents import dataschema_for, source_of
from annals.stack.settings import REPO_ROOT
from annals.topology import topology

VERSION = "3.0.0"
SCHEMAS = REPO_ROOT / "schemas"
SCHEMA_FILE = re.compile(r"^(?P<type>[A-Za-z][A-Za-z0-9]*)\.v(?P<version>[0-9]+)\.json$")
KAFKA = {"bindingVersion": "0.5.0"}
RETENTION = "unlimited (retention.ms = -1): topics are logs to replay"


def _attribute(description: str, kind: str = "string", **more: Any) -> dict[str, Any]:
    return {"type": kind, "description": description, **more}


def envelope(service: str, event_type: str, version: int, data: dict[str, Any]) -> dict[str, Any]:
    """The CloudEvents envelope of one event type and version, its data schema inlined."""
    data = {k: v for k, v in data.items() if k not in ("$id", "$schema")}
    return {
        "type": "object",
        "required": ["specversion", "id", "source", "type", "subject", "data"],
        "properties": {
            "specversion": _attribute("CloudEvents version", const="1.0"),
            "id": _attribute("the event id (a UUID), unique in the store", format="uuid"),
            "source": _attribute("the producer", const=source_of(service)),
            "type": _attribute("<service>.<EventType>", const=f"{service}.{event_type}"),
            "subject": _attribute("the stream id, also the record key"),
            "time": _attribute("when it was recorded", format="date-time"),
            "datacontenttype": _attribute("the data's media type", const="application/json"),
            "dataschema": _attribute(
                "the data's schema", const=dataschema_for(service, event_type, version)
            ),
            "streamversion": _attribute("the event's version in its stream", "integer"),
            "schemaversion": _attribute("the data's schema version", "integer", const=version),
            "correlationid": _attribute("the request or flow it belongs to"),
            "causationid": _attribute("what caused it (a request or another event's id)"),
            "data": data,
        },
    }


def service_schemas(service: str, root: Path = SCHEMAS) -> list[tuple[str, int, dict[str, Any]]]:
    """(event type, version, JSON Schema) of every schema file of a service, sorted."""
    found = []
    for path in sorted((root / service).glob("*.json")):
        match = SCHEMA_FILE.match(path.name)
        if match:
            schema = json.loads(path.read_text())
            found.append((match["type"], int(match["version"]), schema))
    return found


def _message(service: str, event_type: str, version: int, schema: dict[str, Any]) -> dict:
    return {
        "name": f"{service}.{event_type}",
        "title": f"{event_type} v{version}",
        "summary": schema.get("description", ""),
        "contentType": "application/cloudevents+json",
        "headers": {
            "type": "object",
            "properties": {
                "ce_id": _attribute("repeats the envelope's id"),
                "ce_type": _attribute("repeats the envelope's type"),
            },
        },
        "payload": envelope(service, event_type, version, schema),
        "bindings": {
            "kafka": {**KAFKA, "key": _attribute("the stream id (one stream, one partition)")}
        },
    }


def _service_channel(service: str, topic: str, root: Path) -> tuple[dict, dict, list[str]]:
    messages, ids = {}, []
    for event_type, version, schema in service_schemas(service, root):
        message_id = f"{event_type}.v{version}"
        messages[message_id] = _message(service, event_type, version, schema)
        ids.append(message_id)
    channel = {
        "address": topic,
        "title": topic,
        "description": f"Events of the {service} service. Producer: {service} (its relay, "
        f"principal relay-{service}). Key: the stream id. Retention: {RETENTION}.",
        "messages": messages,
        "bindings": {
            "kafka": {**KAFKA, "partitions": 6, "topicConfiguration": {"retention.ms": -1}}
        },
    }
    return channel, {"producer": service}, ids


def _cdc_channel(name: str, prefix: str) -> dict[str, Any]:
    change = {
        "name": f"{name}.change",
        "title": "Debezium row change",
        "contentType": "application/json",
        "payload": {
            "type": "object",
            "description": "Debezium's change record (JSON without schemas): before, after, op, "
            "source, ts_ms",
        },
        "bindings": {"kafka": {**KAFKA, "key": _attribute("the row's primary key (JSON)")}},
    }
    return {
        "address": f"{prefix}.{{schema}}.{{table}}",
        "title": f"{prefix}.<schema>.<table>",
        "description": f"Change data capture of the {name} database (Debezium). "
        f"Retention: {RETENTION}.",
        "parameters": {
            "schema": {"description": "the table's schema"},
            "table": {"description": "the table"},
        },
        "messages": {"change": change},
    }


def document(root: Path = SCHEMAS) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the declared topology's topics."""
    declared = topology()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for service in declared.services.values():
        if not service.topic:
            continue
        channel, _, ids = _service_channel(service.name, service.topic, root)
        channels[service.topic] = channel
        operations[f"{service.name}.publish"] = {
            "action": "send",
            "title": f"{service.name} publishes its events",
            "channel": {"$ref": f"#/channels/{service.topic}"},
            "messages": [{"$ref": f"#/channels/{service.topic}/messages/{i}"} for i in ids],
        }
    for source in declared.sources.values():
        channels[f"{source.prefix}.cdc"] = _cdc_channel(source.name, source.prefix)
        operations[f"{source.name}.capture"] = {
            "action": "send",
            "title": f"Debezium captures {source.database}",
            "channel": {"$ref": f"#/channels/{source.prefix}.cdc"},
        }
    return {
        "asyncapi": VERSION,
        "info": {
            "title": "Annals events",
            "version": "1.0.0",
            "description": "Every topic of the platform: one a producing service, records keyed "
            "by stream id, CloudEvents 1.0 structured mode; delivery at least once "
            "(docs/rules.md#delivery).",
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
    }
