"""The Helm chart's view of the declared topology (deploy/helm/annals/topology.yaml).

`annals helm topology` writes it from annals.topology.describe(), the stack's roles and Kafka
ACLs (annals.stack.kafka_auth) and deploy/connect/*.json, so the chart lists no service, topic,
principal or connector of its own; `annals helm topology --check` (in `make lint`) fails when
the file is stale.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from annals.connect.configs import PLACEHOLDER
from annals.messaging.dlq import dlq_topic
from annals.stack import kafka_auth
from annals.stack.settings import (
    APP_ROLES,
    DATABASE_OWNERS,
    KEYS_READER,
    PROJECTOR_ROLES,
    REPLICATION_ROLES,
    REPO_ROOT,
    StackSettings,
)
from annals.topology import describe, topology

CHART = REPO_ROOT / "deploy" / "helm" / "annals"
TOPOLOGY_FILE = CHART / "topology.yaml"
CONNECT_DIR = REPO_ROOT / "deploy" / "connect"
HEADER = (
    "# Written by `annals helm topology` from the declared topology (annals.topology.describe),\n"
    "# the Kafka principals and ACLs of annals.stack.kafka_auth and deploy/connect/*.json.\n"
    "# Do not edit: `make lint` fails when it differs from what the declarations give.\n"
)
# Principals Strimzi has no KafkaUser for: the brokers' and controllers' own.
INTERNAL = frozenset({"broker", "controller"})
SUPER_USERS = ("admin",)
RESOURCES = {
    kafka_auth.TOPIC: "topic",
    kafka_auth.GROUP: "group",
    kafka_auth.CLUSTER: "cluster",
    kafka_auth.TRANSACTIONAL_ID: "transactionalId",
}
PATTERNS = {kafka_auth.LITERAL: "literal", kafka_auth.PREFIXED: "prefix"}
OPERATIONS = {
    kafka_auth.ALL: "All",
    kafka_auth.READ: "Read",
    kafka_auth.WRITE: "Write",
    kafka_auth.CREATE: "Create",
    kafka_auth.DESCRIBE: "Describe",
    kafka_auth.DESCRIBE_CONFIGS: "DescribeConfigs",
    kafka_auth.ALTER_CONFIGS: "AlterConfigs",
    kafka_auth.IDEMPOTENT_WRITE: "IdempotentWrite",
}
PLACEHOLDERS = frozenset({"pg_host", "pg_port", "debezium_password"})


def strimzi_acls(principal: str, settings: StackSettings) -> list[dict[str, Any]]:
    """The ACLs of `principal` as Strimzi KafkaUser rules (one per resource, its operations)."""
    grouped: dict[tuple[int, str, int], list[str]] = defaultdict(list)
    for acl in kafka_auth.acls(settings):
        if acl.principal == principal:
            grouped[(acl.resource, acl.name, acl.pattern)].append(OPERATIONS[acl.operation])
    rules = []
    for (resource, name, pattern), operations in grouped.items():
        target: dict[str, Any] = {"type": RESOURCES[resource]}
        if resource != kafka_auth.CLUSTER:
            target |= {"name": name, "patternType": PATTERNS[pattern]}
        rules.append({"resource": target, "operations": sorted(set(operations))})
    return sorted(rules, key=lambda r: json.dumps(r, sort_keys=True))


def users(settings: StackSettings) -> list[dict[str, Any]]:
    """One KafkaUser per principal of the stack (super users carry no ACLs)."""
    out = []
    for principal in kafka_auth.principals(settings):
        if principal in INTERNAL:
            continue
        superuser = principal in SUPER_USERS
        out.append({"name": principal, "superUser": superuser,
                    "acls": [] if superuser else strimzi_acls(principal, settings)})  # fmt: skip
    return out


def clusters() -> list[dict[str, Any]]:
    """A PostgreSQL cluster per database: its owner and every login role that connects to it."""
    out = []
    for database, owner in DATABASE_OWNERS.items():
        roles = sorted({role for role, dbs in APP_ROLES.items() if database in dbs} - {owner})
        listed = [{"name": r, "replication": r in REPLICATION_ROLES} for r in roles]
        # the CDC role exists on a service's cluster only in Debezium publisher mode
        listed += [{"name": r, "replication": True, "publisherOf": s.name}
                   for s in topology().of_kind("command") if s.database == database
                   for r in sorted(REPLICATION_ROLES)]  # fmt: skip
        out.append({
            "name": database.replace("_", "-"),
            "database": database,
            "owner": owner,
            "roles": listed,
            "source": database in {s.database for s in topology().sources.values()},
        })  # fmt: skip
    return out


def _publisher_of(enabled_when: dict[str, str]) -> str | None:
    services = {f"ANNALS_{s.upper()}_PUBLISHER": s for s in topology().services}
    if not enabled_when:
        return None
    [(variable, value)] = enabled_when.items()
    if variable not in services or value != "debezium":
        raise ValueError(f"connector condition {variable}={value} has no chart equivalent")
    return services[variable]


def connector(path: Path) -> dict[str, Any]:
    """A deploy/connect/*.json connector: name, database, the service it publishes for, config."""
    raw = json.loads(path.read_text())
    config = dict(raw["config"])
    used = {m for value in config.values() for m in PLACEHOLDER.findall(str(value))}
    if used - PLACEHOLDERS:
        raise ValueError(f"{path.name}: placeholders {sorted(used - PLACEHOLDERS)} not in chart")
    return {
        "name": raw["name"],
        "database": config["database.dbname"],
        "publisherOf": _publisher_of(raw.get("annals", {}).get("enabled_when", {})),
        "class": config.pop("connector.class"),
        "tasksMax": int(config.pop("tasks.max", "1")),
        "config": config,
    }


def values(settings: StackSettings | None = None) -> dict[str, Any]:
    """The `topology` values of the chart (no CDC sandboxes there: Connect gets no sandbox ACL)."""
    settings = settings or StackSettings(kafka_sandbox_prefix="")
    described = describe()
    declared = topology()
    services = []
    for s in described["services"]:
        port = resolve_port(s["settings"])
        services.append({
            "name": s["name"], "kind": s["kind"], "port": port, "topic": s["topic"],
            "database": s["database"], "cluster": s["database"].replace("_", "-"),
            "ownerRole": s["owner_role"], "appRole": s["app_role"],
            "envPrefix": f"ANNALS_{s['name'].upper()}_", "subjectKeys": s["subject_keys"],
        })  # fmt: skip
    return {
        "services": services,
        "topics": described["topics"],
        "sources": [{"name": s["name"], "database": s["database"], "prefix": s["prefix"]}
                    for s in described["sources"]],
        "projections": [{"name": p["name"], "database": p["database"], "topics": p["topics"]}
                        for p in described["projections"]],
        "deadLetterTopics": dead_letter_topics(),
        "keysDatabase": declared.key_holder.database,
        "keysReader": KEYS_READER,
        "projectorRoles": dict(PROJECTOR_ROLES),
        "clusters": clusters(),
        "users": users(settings),
        "connectors": [connector(p) for p in sorted(CONNECT_DIR.glob("*.json"))],
    }  # fmt: skip


def dead_letter_topics() -> list[str]:
    """The projectors' dead-letter topics: a KafkaTopic each, for `projector` may create none."""
    from annals.projections.settings import ProjectorSettings
    from annals.projections.worker import group_of

    settings = ProjectorSettings(topic_prefix="")
    return sorted(dlq_topic(group_of(p, settings)) for p in topology().projections.values())


def resolve_port(ref: str) -> int:
    """The default port of a service's settings class (`module:Class`)."""
    from annals.topology import resolve

    field = resolve(ref).model_fields["port"]
    return int(field.default)


def render(settings: StackSettings | None = None) -> str:
    """topology.yaml's text."""
    import yaml  # a development dependency: only `annals helm` needs it

    body = yaml.safe_dump({"topology": values(settings)}, sort_keys=False, width=100)
    return HEADER + body


def write(path: Path = TOPOLOGY_FILE) -> bool:
    """Write topology.yaml; whether it changed."""
    text = render()
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True
