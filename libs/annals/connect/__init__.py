"""Kafka Connect over its REST API: connector configs from deploy/connect/, apply, status."""

from annals.connect.client import ConnectClient, ConnectorStatus, FieldError, TaskStatus
from annals.connect.configs import ConnectorSpec, discover, load_spec
from annals.connect.errors import (
    ConfigFileError,
    ConnectError,
    ConnectorFailed,
    ConnectorNotFound,
    ConnectUnavailable,
    InvalidConfig,
)

__all__ = [
    "ConfigFileError",
    "ConnectClient",
    "ConnectError",
    "ConnectUnavailable",
    "ConnectorFailed",
    "ConnectorNotFound",
    "ConnectorSpec",
    "ConnectorStatus",
    "FieldError",
    "InvalidConfig",
    "TaskStatus",
    "discover",
    "load_spec",
]
