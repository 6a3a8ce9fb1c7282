"""Event topics: create them with their partitions and unlimited retention, and describe them."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.structs import TopicPartition

from annals.messaging.errors import MessagingError
from annals.messaging.security import client_security

log = logging.getLogger(__name__)
TOPIC_EXISTS, TOPIC_AUTHORIZATION_FAILED = 36, 29
UNLIMITED = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}
SHOWN_CONFIGS = ("retention.ms", "retention.bytes", "cleanup.policy", "min.insync.replicas")


@dataclass(frozen=True)
class TopicSpec:
    """A topic as it should be: partitions, replication and configs."""

    name: str
    partitions: int = 6
    replication_factor: int = 1
    config: Mapping[str, str] = field(default_factory=lambda: dict(UNLIMITED))


@dataclass(frozen=True)
class TopicInfo:
    """A topic as it is: partitions with leaders, end offsets and the configs that matter."""

    name: str
    partitions: int
    leaders: dict[int, int]
    end_offsets: dict[int, int]
    config: dict[str, str]

    @property
    def records(self) -> int:
        """Sum of end offsets (records ever written, when nothing was deleted)."""
        return sum(self.end_offsets.values())


@dataclass(frozen=True)
class EnsureResult:
    """What ensure did to one topic."""

    name: str
    action: str  # created | updated | unchanged
    note: str = ""


async def ensure_topics(
    bootstrap: str, specs: Sequence[TopicSpec], principal: str = "admin", *, reconcile: bool = True
) -> list[EnsureResult]:
    """Create missing topics; set retention/config on existing ones; never add partitions.

    Adding partitions would move keys to other partitions and break per-stream order, so a
    topic with other partitions than wanted is only reported. `principal` is the component
    logging in (a relay ensures its own topic, which its ACLs allow). Readers (projectors,
    subscribers) pass `reconcile=False`: they may not create or alter topics, so they only
    check theirs exist, which the admin step made (docs/kafka-acls.md); logged in as admin
    (tests) they create them too.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_security(principal))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        results: list[EnsureResult] = []
        missing = [s for s in specs if s.name not in existing]
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(
                        s.name, s.partitions, s.replication_factor, topic_configs=dict(s.config)
                    )
                    for s in missing
                ]
            )
            for error in response.to_object()["topic_errors"]:
                if error["error_code"] not in (0, TOPIC_EXISTS):
                    raise MessagingError(_create_failed(error, principal))
            results.extend(EnsureResult(s.name, "created") for s in missing)
        for spec in specs:
            if spec.name in existing:
                done = await _reconcile(admin, spec) if reconcile else None
                results.append(done or EnsureResult(spec.name, "unchanged"))
        return results
    finally:
        await admin.close()


def _create_failed(error: Mapping[str, object], principal: str) -> str:
    topic, message = error["topic"], error["error_message"] or "error " + str(error["error_code"])
    if error["error_code"] != TOPIC_AUTHORIZATION_FAILED:
        return f"creating {topic} failed: {message}"
    return (
        f"topic {topic} does not exist and {principal!r} may not create it: the admin step "
        f"creates it (`annals projectors up`, `annals services up`, `annals topics ensure {topic}`)"
    )


async def _reconcile(admin: AIOKafkaAdminClient, spec: TopicSpec) -> EnsureResult:
    [described] = await admin.describe_topics([spec.name])
    partitions = len(described["partitions"])
    note = ""
    if partitions != spec.partitions:
        note = f"has {partitions} partitions, not {spec.partitions} (left as is)"
    config = (await _configs(admin, [spec.name]))[spec.name]
    wanted = {k: v for k, v in spec.config.items() if config.get(k) != v}
    if not wanted:
        return EnsureResult(spec.name, "unchanged", note)
    resource = ConfigResource(ConfigResourceType.TOPIC, spec.name, dict(spec.config))
    await admin.alter_configs([resource])
    return EnsureResult(spec.name, "updated", note or f"set {wanted}")


async def _configs(admin: AIOKafkaAdminClient, topics: Sequence[str]) -> dict[str, dict[str, str]]:
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in topics]
    out: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.to_object()["resources"]:
            out[resource["resource_name"]] = {
                entry["config_names"]: entry["config_value"] for entry in resource["config_entries"]
            }
    return out


async def describe_topics(
    bootstrap: str, topics: Sequence[str] | None = None, principal: str = "admin"
) -> list[TopicInfo]:
    """Partitions, leaders, end offsets and retention of topics (all non-internal by default)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_security(principal))
    await admin.start()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, **client_security(principal), enable_auto_commit=False
    )
    await consumer.start()
    try:
        names = (
            list(topics)
            if topics
            else sorted(t for t in await admin.list_topics() if not t.startswith("_"))
        )
        described = {d["topic"]: d for d in await admin.describe_topics(names)}
        configs = await _configs(admin, names) if names else {}
        infos: list[TopicInfo] = []
        for name in names:
            d = described.get(name)
            if d is None or d["error_code"]:
                raise MessagingError(f"topic {name} does not exist")
            leaders = {p["partition"]: p["leader"] for p in d["partitions"]}
            ends = await consumer.end_offsets([TopicPartition(name, p) for p in leaders])
            infos.append(
                TopicInfo(
                    name,
                    len(leaders),
                    leaders,
                    {tp.partition: offset for tp, offset in ends.items()},
                    {k: v for k, v in configs.get(name, {}).items() if k in SHOWN_CONFIGS},
                )
            )
        return infos
    finally:
        await consumer.stop()
        await admin.close()


async def delete_topics(bootstrap: str, topics: Sequence[str]) -> None:
    """Delete topics (tests and benchmarks clean up with it)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_security("admin"))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [t for t in topics if t in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


def event_topic_specs(
    topics: Sequence[str], partitions: int = 6, replication_factor: int = 1
) -> list[TopicSpec]:
    """Specs of event topics: unlimited retention (they are replayable logs)."""
    return [TopicSpec(t, partitions, replication_factor) for t in topics]
