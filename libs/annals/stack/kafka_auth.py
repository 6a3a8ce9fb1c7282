"""Kafka principals, SCRAM credentials and ACLs of the stack (ANNALS_STACK_KAFKA_AUTH=scram).

Each component logs in as its own principal (docs/rules.md#trust): `relay-<service>` alone writes
`<service>.events`, `connect` writes its internal topics, the CDC sources' `<prefix>.*` and
(Debezium outbox mode) the event topics, `projector` and every subscriber principal read the
declared event and CDC topics, use their own groups and write their own dead-letter topics (named
`<principal>.*`: `projector.<name>`, `subscriber.<name>`, a reactor's `subscriber.reactor-<name>`,
their `.dlq`) but create no topic: the admin step does (docs/kafka-acls.md); `admin` (the CLI,
the stack, tests) is a super user.
Services, topics and sources are the declared ones (annals.topology): a new service gets its
relay principal and ACLs with no edit here. Passwords come from annals.stack.secrets
(`kafka-<principal>`). Credentials are written at format time (`kafka-storage format
--add-scram`); a stack formatted without them, or a principal added later, gets them on the
next `annals stack up` (Kafka's ConfigCommand, logged in as admin with PLAIN, which the broker
accepts for the admin alone). The marker files under .stack/kafka make both steps run once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest

from annals.stack.errors import StackError
from annals.stack.secrets import secret
from annals.stack.settings import StackSettings
from annals.topology import Topology, topology

NAME = "kafka"
MECHANISM = "SCRAM-SHA-512"
CONNECT_GROUP = "annals-connect"

# aiokafka warns on every PLAIN login; the stack's own one is on loopback by design.
logging.getLogger("aiokafka.conn").addFilter(lambda r: "in the clear" not in r.getMessage())

# Kafka protocol codes (org.apache.kafka.common.acl / resource).
ANY = 1  # a filter matching every resource type, pattern type, operation or permission
TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID = 2, 3, 4, 5
LITERAL, PREFIXED = 3, 4
ALL, READ, WRITE, CREATE, DESCRIBE = 2, 3, 4, 5, 8
DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, ALLOW = 10, 11, 12, 3


@dataclass(frozen=True)
class Acl:
    """One ALLOW rule: principal may do operation on a resource (literal name or prefix)."""

    principal: str
    resource: int
    name: str
    pattern: int
    operation: int


def relay_principal(service: str) -> str:
    """The principal of a service's relay: the only one that may write `<service>.events`."""
    return f"relay-{service}"


def relayed(declared: Topology | None = None) -> dict[str, str]:
    """Service -> its event topic, for every declared service that publishes one."""
    return {s.name: s.topic for s in (declared or topology()).services.values() if s.topic}


def connect_topics(declared: Topology | None = None) -> list[str]:
    """Prefixes of the topics Connect alone writes.

    Its own, each CDC source's (`<prefix>.`), Debezium heartbeats, and the outbox connectors'
    (topic.prefix `<service>-outbox`, routed to `<service>.events`).
    """
    declared = declared or topology()
    sources = [f"{s.prefix}." for s in declared.sources.values()]
    outboxes = [f"{service}-outbox" for service in relayed(declared)]
    return ["_annals_connect_", *sources, "__debezium", *outboxes]


def subscribers(settings: StackSettings) -> list[str]:
    """Principals with subscriber rights (ANNALS_STACK_KAFKA_SUBSCRIBERS)."""
    return [n.strip() for n in settings.kafka_subscribers.split(",") if n.strip()]


def principals(settings: StackSettings) -> list[str]:
    """Every SCRAM principal of the stack (the broker's own included)."""
    relays = [relay_principal(service) for service in relayed()]
    return ["broker", "admin", *relays, "connect", "projector", *subscribers(settings)]


def password(settings: StackSettings, principal: str) -> str:
    """The SCRAM password of `principal` (secret `kafka-<principal>`)."""
    return secret(settings, f"kafka-{principal}")


def sasl_options(principal: str, secret_value: str) -> dict[str, Any]:
    """aiokafka keyword arguments that log in as `principal` with SCRAM-SHA-512."""
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": MECHANISM,
        "sasl_plain_username": principal,
        "sasl_plain_password": secret_value,
    }


def stack_security(settings: StackSettings) -> dict[str, Any]:
    """Options of the stack's own admin client (health, ACLs): PLAIN, before SCRAM exists."""
    if settings.kafka_auth != "scram":
        return {}
    return {**sasl_options("admin", password(settings, "admin")), "sasl_mechanism": "PLAIN"}


def admin_properties(settings: StackSettings) -> Path:
    """Java client config (0600) of the stack's admin login, for the Kafka tools."""
    path = settings.run_dir / "admin-client.properties"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="admin" password="{password(settings, "admin")}";\n'
    )
    return path


def template_values(settings: StackSettings) -> dict[str, str]:
    """Placeholders of server-sasl.properties: the broker's passwords (none without auth)."""
    if settings.kafka_auth != "scram":
        return {}
    return {
        "broker_password": password(settings, "broker"),
        "controller_password": password(settings, "controller"),
        "admin_password": password(settings, "admin"),
    }


def connect_block(settings: StackSettings) -> str:
    """Connect worker lines logging its own, its producers', consumers' and admins' clients in."""
    if settings.kafka_auth != "scram":
        return ""
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="connect" password="{password(settings, "connect")}";'
    )
    lines = []
    for prefix in ("", "producer.", "consumer.", "admin."):
        lines += [
            f"{prefix}security.protocol=SASL_PLAINTEXT",
            f"{prefix}sasl.mechanism={MECHANISM}",
            f"{prefix}sasl.jaas.config={jaas}",
        ]
    return "\n".join(lines)


def format_args(settings: StackSettings) -> list[str]:
    """`kafka-storage format` arguments adding every principal's SCRAM credential."""
    if settings.kafka_auth != "scram":
        return []
    args: list[str] = []
    for user in principals(settings):
        args += ["--add-scram", f"{MECHANISM}=[name={user},password={password(settings, user)}]"]
    return args


def _acls(principal: str, *rules: tuple[int, str, int, tuple[int, ...]]) -> Iterator[Acl]:
    for resource, name, pattern, operations in rules:
        for operation in operations:
            yield Acl(principal, resource, name, pattern, operation)


def reader_acls(principal: str, prefix: str, declared: Topology | None = None) -> Iterator[Acl]:
    """Read the event and CDC topics; own groups and `<group>.dlq` topics under `prefix`.

    No Create anywhere: a reader's dead-letter topics are made by the admin step. It reads and
    describes its own (a subscriber restores parked streams from its DLQ) and writes them.
    """
    declared = declared or topology()
    read = (READ, DESCRIBE)
    yield from _acls(
        principal,
        *((TOPIC, topic, LITERAL, read) for topic in relayed(declared).values()),
        *((TOPIC, f"{s.prefix}.", PREFIXED, read) for s in declared.sources.values()),
        (GROUP, prefix, PREFIXED, read),
        (TOPIC, prefix, PREFIXED, (READ, WRITE, DESCRIBE, DESCRIBE_CONFIGS)),
    )


def acls(settings: StackSettings) -> list[Acl]:
    """Every ACL of the stack's principals (admin, broker and controller are super users)."""
    rules: list[Acl] = []
    event_ops = (WRITE, READ, DESCRIBE, CREATE, DESCRIBE_CONFIGS, ALTER_CONFIGS)
    for service, topic in relayed().items():
        rules += _acls(relay_principal(service), (TOPIC, topic, LITERAL, event_ops))
        rules += _acls("connect", (TOPIC, topic, LITERAL, (WRITE, DESCRIBE, CREATE)))
    sandbox = [settings.kafka_sandbox_prefix] if settings.kafka_sandbox_prefix else []
    for prefix in [*connect_topics(), *sandbox]:
        rules += _acls("connect", (TOPIC, prefix, PREFIXED, (ALL,)))
    rules += _acls(
        "connect",
        (GROUP, CONNECT_GROUP, LITERAL, (ALL,)),
        (GROUP, "connect-", PREFIXED, (ALL,)),
        (TRANSACTIONAL_ID, CONNECT_GROUP, PREFIXED, (ALL,)),
        (CLUSTER, "kafka-cluster", LITERAL, (DESCRIBE, DESCRIBE_CONFIGS, IDEMPOTENT_WRITE)),
    )
    rules += reader_acls("projector", "projector.")
    for user in subscribers(settings):
        rules += reader_acls(user, f"{user}.")
    return rules


def _marker(settings: StackSettings, name: str) -> Path:
    return settings.dir / "kafka" / name


def _digest(items: object) -> str:
    return hashlib.sha256(json.dumps(items, sort_keys=True, default=str).encode()).hexdigest()


def mark_formatted(settings: StackSettings) -> None:
    """Record that format_args' credentials exist (the storage was formatted with them)."""
    if settings.kafka_auth == "scram":
        path = _marker(settings, "scram-users")
        path.write_text("\n".join(principals(settings)) + "\n")


def missing_users(settings: StackSettings) -> list[str]:
    """Principals without a SCRAM credential yet (by the marker file)."""
    path = _marker(settings, "scram-users")
    known = set(path.read_text().split()) if path.exists() else set()
    return [user for user in principals(settings) if user not in known]


def record_user(settings: StackSettings, user: str) -> None:
    """Record that `user` has its SCRAM credential."""
    with open(_marker(settings, "scram-users"), "a") as out:
        out.write(user + "\n")


def acls_current(settings: StackSettings) -> bool:
    """True when the ACLs recorded as applied are the ones acls() wants."""
    path = _marker(settings, "acls.sha256")
    return path.exists() and path.read_text().strip() == _digest(acls(settings))


def mark_acls(settings: StackSettings) -> None:
    """Record that acls() is applied."""
    _marker(settings, "acls.sha256").write_text(_digest(acls(settings)) + "\n")


async def apply_acls(settings: StackSettings) -> None:
    """Make the stack's principals' ACLs those of acls(), as admin.

    Creating an existing ACL changes nothing; an ACL a principal of ours holds beyond acls()
    (a right an older version granted) is deleted, so narrowing a right takes effect.
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=10_000,
        **stack_security(settings),
    )  # fmt: skip
    await admin.start()
    try:
        wanted = acls(settings)
        for acl in wanted:
            # aiokafka 0.14 has the CreateAcls request but no public create_acls().
            request = CreateAclsRequest(
                acl.resource, acl.name, acl.pattern, f"User:{acl.principal}", "*",
                acl.operation, ALLOW,
            )  # fmt: skip
            response = await admin._send_request(request)
            for result in response.creation_responses:
                if result[0] != 0:
                    raise StackError(NAME, f"creating ACL {acl} failed: {result}", "see kafka.log")
        for acl in stale(await granted(admin), settings):
            await _delete(admin, acl)
    finally:
        await admin.close()


def stale(held: list[Acl], settings: StackSettings) -> list[Acl]:
    """The ACLs our principals hold beyond acls() (others' ACLs are not ours to delete)."""
    ours, wanted = set(principals(settings)), set(acls(settings))
    return [acl for acl in held if acl.principal in ours and acl not in wanted]


async def granted(admin: AIOKafkaAdminClient) -> list[Acl]:
    """Every ALLOW ACL of a `User:` principal the broker holds."""
    request = DescribeAclsRequest(ANY, None, ANY, None, None, ANY, ALLOW)
    response = await admin._send_request(request)
    if response.error_code:
        raise StackError(NAME, f"listing ACLs failed: {response.error_message}", "see kafka.log")
    return [
        Acl(who.removeprefix("User:"), resource, name, pattern, operation)
        for resource, name, pattern, entries in response.resources
        for who, _host, operation, _permission in entries
        if who.startswith("User:")
    ]


async def _delete(admin: AIOKafkaAdminClient, acl: Acl) -> None:
    request = DeleteAclsRequest(
        acl.resource, acl.name, acl.pattern, f"User:{acl.principal}", "*", acl.operation, ALLOW
    )
    response = await admin._send_request(request)
    for error_code, message, _matching in response.filter_responses:
        if error_code:
            raise StackError(NAME, f"deleting ACL {acl} failed: {message}", "see kafka.log")
