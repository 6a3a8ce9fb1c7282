"""Publisher settings per service from ANNALS_<SERVICE>_*."""

from __future__ import annotations

import pytest

from annals.connect.configs import load_spec
from annals.messaging.leadership import lock_key
from annals.messaging.settings import KafkaSettings, PublisherSettings
from annals.stack.settings import REPO_ROOT


def test_defaults_follow_the_service_name():
    settings = PublisherSettings.for_service("orders")
    assert (settings.publisher, settings.topic, settings.publisher_name) == (
        "relay",
        "orders.events",
        "orders.events",
    )


def test_environment_chooses_mode_and_topic(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ANNALS_CUSTOMERS_PUBLISHER", "debezium")
    monkeypatch.setenv("ANNALS_CUSTOMERS_TOPIC", "test.customers")
    settings = PublisherSettings.for_service("customers")
    assert (settings.publisher, settings.topic) == ("debezium", "test.customers")


def test_unknown_mode_is_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ANNALS_ORDERS_PUBLISHER", "carrier-pigeon")
    with pytest.raises(ValueError):
        PublisherSettings.for_service("orders")


def test_services_list_and_lock_keys(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ANNALS_KAFKA_SERVICES", "orders, customers ,")
    assert KafkaSettings().service_names == ["orders", "customers"]
    assert lock_key("orders.events") == lock_key("orders.events") != lock_key("x.events")
    assert -(2**63) <= lock_key("orders.events") < 2**63


def test_outbox_connector_files_apply_only_in_debezium_mode():
    for service in ("orders", "customers"):
        spec = load_spec(REPO_ROOT / "deploy" / "connect" / f"{service}-outbox.json")
        variable = f"ANNALS_{service.upper()}_PUBLISHER"
        assert not spec.enabled({})
        assert not spec.enabled({variable: "relay"})
        assert spec.enabled({variable: "debezium"})
