"""The native local stack: PostgreSQL 15, Kafka (KRaft), Kafka Connect with Debezium."""

from annals.stack.errors import StackError
from annals.stack.settings import StackSettings

__all__ = ["StackError", "StackSettings"]
