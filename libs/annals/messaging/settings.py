"""Settings of publishers and topics: ANNALS_<SERVICE>_* per service, ANNALS_KAFKA_* shared."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from annals.stack import kafka_nodes
from annals.stack.settings import StackSettings
from annals.topology import topology

PublisherMode = Literal["relay", "debezium"]


class KafkaSettings(BaseSettings):
    """Where Kafka is and how event topics are made (ANNALS_KAFKA_*)."""

    model_config = SettingsConfigDict(env_prefix="ANNALS_KAFKA_", extra="ignore")

    bootstrap: str = ""
    partitions: int = 6
    replication_factor: int = 0  # 0: the stack's (3 on a cluster of three nodes, else 1)
    services: str = Field(
        default_factory=lambda: ",".join(s.name for s in topology().of_kind("command")),
        description="services that publish events (default: the declared command services)",
    )
    auth: Literal["", "none", "scram"] = ""  # default: the stack's (ANNALS_STACK_KAFKA_AUTH)
    principal: str = ""  # SASL user of this process; default: the component's own (security.py)
    password: str = ""  # default: secret `kafka-<principal>` of the stack (.stack/secrets)

    @model_validator(mode="after")
    def _defaults(self) -> KafkaSettings:
        stack = StackSettings()
        self.bootstrap = self.bootstrap or stack.kafka_bootstrap
        self.auth = self.auth or stack.kafka_auth
        self.replication_factor = self.replication_factor or kafka_nodes.replication(stack)
        return self

    @property
    def service_names(self) -> list[str]:
        """Services that publish events (each gets `<service>.events`)."""
        return [name.strip() for name in self.services.split(",") if name.strip()]


class PublisherSettings(BaseSettings):
    """How one service's events reach Kafka.

    Build with `PublisherSettings.for_service("orders")`; fields come from ANNALS_ORDERS_PUBLISHER
    (relay|debezium), ANNALS_ORDERS_TOPIC, ANNALS_ORDERS_PUBLISHER_BATCH_SIZE, ... .
    """

    model_config = SettingsConfigDict(extra="ignore")

    service: str
    publisher: PublisherMode = "relay"
    topic: str = ""
    publisher_name: str = ""
    publisher_batch_size: int = 2000
    publisher_standby_poll: float = 1.0
    publisher_max_poll: float = 0.5
    publisher_linger_ms: int = 0  # batches are built whole; lingering only adds latency
    publisher_request_timeout_ms: int = 30_000
    publisher_publish_timeout: float = 60.0  # bound of one batch, acknowledgements included
    publisher_restart_cap: float = 10.0  # longest back-off between restarts after errors
    publisher_metrics_port: int = 0  # Prometheus port of the process (0: none)
    publisher_metrics_host: str = "127.0.0.1"  # 0.0.0.0 where Prometheus runs elsewhere (compose)
    publisher_status_dir: str = ""  # where the process writes its status (default .stack/run)
    registry_url: str = Field(
        default="",
        validation_alias=AliasChoices("ANNALS_REGISTRY_PUBLIC_URL", "ANNALS_REGISTRY_URL"),
        description="records' dataschema: the schema's URI in this registry (empty: schemas/)",
    )

    @model_validator(mode="after")
    def _defaults(self) -> PublisherSettings:
        declared = topology().services.get(self.service)
        self.topic = self.topic or (declared.topic if declared else f"{self.service}.events")
        self.publisher_name = self.publisher_name or self.topic
        return self

    @property
    def declared_topic(self) -> str:
        """The service's declared topic (its schemas' subjects), whatever `topic` it writes to."""
        declared = topology().services.get(self.service)
        return declared.topic if declared and declared.topic else self.topic

    @classmethod
    def for_service(cls, service: str) -> PublisherSettings:
        """Settings of `service` from ANNALS_<SERVICE>_* over the defaults."""
        return cls(service=service, _env_prefix=env_prefix(service))


def env_prefix(service: str) -> str:
    """ANNALS_<SERVICE>_ of a service name."""
    return f"ANNALS_{service.upper().replace('-', '_')}_"
