"""Settings of projector workers and rebuilds (ANNALS_PROJECTOR_*)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from annals.stack.settings import DATABASE_OWNERS, KEYS_READER, PROJECTOR_ROLES, StackSettings
from annals.topology import topology

# The declared event topics and the one service that produces each: records of another
# source are dead-lettered (admission.py), and the producer's store holds the topic's events
# (rebuild --from store reads them there). All of it comes from the declarations.
PRODUCER_OF_TOPIC = topology().producers
STORE_OF_TOPIC = PRODUCER_OF_TOPIC
# Debezium topics `<prefix>.<schema>.<table>`: the connector and database behind each prefix.
CDC_ORIGINS = topology().cdc_origins


def _readers() -> dict[str, list[str]]:
    """The service roles reading each database projections write (the query API's, ...)."""
    out: dict[str, list[str]] = {}
    for service in topology().services.values():
        if service.database in PROJECTOR_ROLES:
            out.setdefault(service.database, []).append(service.app_role)
    return out


class ProjectorSettings(BaseSettings):
    """Databases, Kafka, batching and metrics of the projector runtime."""

    model_config = SettingsConfigDict(env_prefix="ANNALS_PROJECTOR_", extra="ignore")

    bootstrap: str = ""
    batch_records: int = Field(default=2000, ge=1, description="records per batch at most")
    batch_ms: int = Field(default=10, ge=0, description="wait this long to fill a batch")
    # The broker answers a fetch when fetch_min_bytes are there or fetch_max_wait_ms passed.
    # A fetch round costs the same however little it brings (every partition's header, in
    # Python), so answering each record as it came cost a round per record per projection:
    # at 40-100 commands/s that was most of the projector's CPU. Holding fetches up to 50 ms
    # bounds the rounds at 20/s per consumer, at up to 50 ms of read-side freshness.
    fetch_max_wait_ms: int = Field(default=50, ge=1, description="a fetch waits at most ... ms")
    fetch_min_bytes: int = Field(
        default=64 * 1024, ge=1, description="or until this many bytes of records are there"
    )
    session_timeout_ms: int = Field(default=10_000, ge=6_000, description="group membership")
    switch_lag: int = Field(default=500, ge=0, description="records left when a rebuild switches")
    rebuild_batch: int = Field(default=5000, ge=1)
    check_records: bool = Field(
        default=True, description="dead-letter records of another source or off their schema"
    )
    metrics_port: int = Field(default=0, description="Prometheus port of a worker (0: none)")
    metrics_host: str = Field(default="127.0.0.1", description="its address (compose: 0.0.0.0)")
    stall_after_s: float = Field(
        default=10.0, gt=0, description="no batch applied and not caught up this long: stalled"
    )
    keep_retired_s: float = Field(
        default=7 * 86_400, gt=0,
        description="a version retired by rebuild --keep-old is dropped after ... s",
    )  # fmt: skip
    beat_interval_s: float = Field(default=2.0, gt=0, description="heartbeat row every ... s")
    hint_interval_s: float = Field(
        default=1.0, ge=0, description="Kafka offset commits (hints for tools) at most every ... s"
    )
    topic_prefix: str = Field(default="", description="prepended to every topic (tests)")
    topic_map: dict[str, str] = Field(default_factory=dict, description="logical -> Kafka topic")
    # DSN of each database projections write to; default: the stack's projector (or owner) roles.
    database_dsns: dict[str, str] = Field(default_factory=dict)
    # DSN of each service's event store, read by rebuild --from store.
    store_dsns: dict[str, str] = Field(default_factory=dict)
    # DSN of the customers key store: personal data is decrypted for read models.
    keys_dsn: str = ""
    readers: dict[str, list[str]] = Field(default_factory=_readers)

    @model_validator(mode="after")
    def _defaults(self) -> ProjectorSettings:
        stack = StackSettings()
        self.bootstrap = self.bootstrap or stack.kafka_bootstrap
        # Least privilege: the projector's own role per database and a read-only key lookup.
        writers = PROJECTOR_ROLES if stack.pg_least_privilege else DATABASE_OWNERS
        for database in PROJECTOR_ROLES:
            self.database_dsns.setdefault(database, stack.dsn(database, writers[database]))
        for service in topology().of_kind("command"):
            self.store_dsns.setdefault(service.name, stack.dsn(service.database, service.app_role))
        keys = topology().key_holder
        if stack.pg_least_privilege:
            self.keys_dsn = self.keys_dsn or stack.dsn(keys.database, KEYS_READER)
        self.keys_dsn = self.keys_dsn or self.store_dsns[keys.name]
        return self

    def topic(self, logical: str) -> str:
        """The Kafka topic of a logical topic name."""
        return self.topic_map.get(logical) or f"{self.topic_prefix}{logical}"

    def logical(self, topic: str) -> str:
        """The logical name of a Kafka topic."""
        for name, mapped in self.topic_map.items():
            if mapped == topic:
                return name
        prefix = self.topic_prefix
        return topic[len(prefix) :] if prefix and topic.startswith(prefix) else topic

    def dsn(self, database: str) -> str:
        """The writer's DSN of a projection database."""
        try:
            return self.database_dsns[database]
        except KeyError:
            raise ValueError(f"no DSN for projection database {database!r}") from None
