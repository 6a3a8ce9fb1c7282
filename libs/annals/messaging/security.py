"""How aiokafka clients authenticate: one place for SASL options, one principal per component.

With `ANNALS_STACK_KAFKA_AUTH=scram` (or `ANNALS_KAFKA_AUTH=scram`) the broker only accepts
SASL/SCRAM-SHA-512 clients and checks ACLs per principal (annals.stack.kafka_auth). Every
AIOKafka* construction passes `**client_security("<component>")`: the principal is
`ANNALS_KAFKA_PRINCIPAL` when set, else the component's default (relay-<service>, projector,
subscriber, admin); the password is `ANNALS_KAFKA_PASSWORD`, else the stack secret
`kafka-<principal>`. Without auth the options are empty and clients connect as before.
"""

from __future__ import annotations

from typing import Any

from annals.messaging.settings import KafkaSettings
from annals.stack.kafka_auth import relay_principal, sasl_options
from annals.stack.secrets import secret
from annals.stack.settings import StackSettings

__all__ = ["client_security", "relay_principal"]


def client_security(component: str = "admin", kafka: KafkaSettings | None = None) -> dict[str, Any]:
    """Options for an aiokafka client of `component` (its default principal), from settings."""
    kafka = kafka or KafkaSettings()
    if kafka.auth != "scram":
        return {}
    principal = kafka.principal or component
    password = kafka.password or secret(StackSettings(), f"kafka-{principal}")
    return sasl_options(principal, password)
