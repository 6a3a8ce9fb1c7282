"""What docker-compose.yml's broker needs from the declarations: SCRAM users and ACL lines.

deploy/docker/kafka-secrets.sh prints them as environment variables; the compose file's one-shot
`kafka-setup` service gives each principal its SCRAM credential and creates the ACLs with Kafka's
own tools, logged in as admin with PLAIN, as `annals stack up` does for a broker formatted
without them. Entries are separated by `;`, fields by spaces (passwords are URL-safe tokens).
"""

from __future__ import annotations

from itertools import groupby

from annals.stack import kafka_auth as ka
from annals.stack.settings import StackSettings

RESOURCES = {
    ka.TOPIC: "--topic", ka.GROUP: "--group", ka.CLUSTER: "--cluster",
    ka.TRANSACTIONAL_ID: "--transactional-id",
}  # fmt: skip
PATTERNS = {ka.LITERAL: "literal", ka.PREFIXED: "prefixed"}
OPERATIONS = {
    ka.ALL: "All", ka.READ: "Read", ka.WRITE: "Write", ka.CREATE: "Create",
    ka.DESCRIBE: "Describe", ka.DESCRIBE_CONFIGS: "DescribeConfigs",
    ka.ALTER_CONFIGS: "AlterConfigs", ka.IDEMPOTENT_WRITE: "IdempotentWrite",
}  # fmt: skip


def users(settings: StackSettings) -> str:
    """`<principal> <password>` of every SCRAM principal, `;`-separated."""
    return ";".join(f"{u} {ka.password(settings, u)}" for u in ka.principals(settings))


def acl_lines(settings: StackSettings) -> str:
    """`User:<p> <--resource> <name> <pattern> <Op,Op>` per resource, `;`-separated."""

    def key(acl: ka.Acl) -> tuple[str, int, str, int]:
        return acl.principal, acl.resource, acl.name, acl.pattern

    lines = []
    for (principal, resource, name, pattern), rules in groupby(ka.acls(settings), key):
        operations = ",".join(OPERATIONS[rule.operation] for rule in rules)
        lines.append(
            f"User:{principal} {RESOURCES[resource]} {name} {PATTERNS[pattern]} {operations}"
        )
    return ";".join(lines)
