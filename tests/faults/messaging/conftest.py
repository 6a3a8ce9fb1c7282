"""The messaging fixtures (scratch database, store, topic) for the fault tests."""

from tests.integration.messaging.conftest import msg_db, store, topic

__all__ = ["msg_db", "store", "topic"]
