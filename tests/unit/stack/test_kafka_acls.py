"""Kafka principals and ACLs come from the declared topology: a new service needs no edit."""

from __future__ import annotations

from pathlib import Path

import pytest

from annals.stack import kafka_auth, kafka_compose
from annals.stack.kafka_auth import LITERAL, PREFIXED, TOPIC, WRITE, Acl
from annals.stack.settings import StackSettings
from annals.topology import Service, Source, Topology, topology

RETURNS = Service(
    name="returns",
    app="returns.app:create_app",
    settings="returns.settings:ReturnsSettings",
    stream_types=("return",),
    events="returns.events:EVENTS",
)
WAREHOUSE = Source(
    name="warehouse", connector="postgresql", database="wms", owner_role="wms_owner", prefix="wms"
)


@pytest.fixture
def with_returns(monkeypatch: pytest.MonkeyPatch) -> Topology:
    installed = topology()
    declared = Topology(
        {**installed.services, "returns": RETURNS},
        {**installed.sources, "warehouse": WAREHOUSE},
    )
    monkeypatch.setattr(kafka_auth, "topology", lambda: declared)
    return declared


def _writers(rules: list[Acl], topic: str) -> set[str]:
    return {a.principal for a in rules if a.operation == WRITE and a.resource == TOPIC
            and a.pattern == LITERAL and a.name == topic}  # fmt: skip


def test_the_installed_services_get_their_relay_principals(tmp_path: Path) -> None:
    settings = StackSettings(dir=tmp_path, kafka_auth="scram")
    users = kafka_auth.principals(settings)
    assert {"relay-orders", "relay-customers"} <= set(users)
    assert not any(user.startswith("relay-query") for user in users)  # a query API has no topic
    rules = kafka_auth.acls(settings)
    assert _writers(rules, "orders.events") == {"relay-orders", "connect"}
    assert _writers(rules, "customers.events") == {"relay-customers", "connect"}


def test_a_declared_service_gets_its_relay_and_acls_with_no_edit(
    tmp_path: Path, with_returns: Topology
) -> None:
    settings = StackSettings(dir=tmp_path, kafka_auth="scram")
    assert "relay-returns" in kafka_auth.principals(settings)
    rules = kafka_auth.acls(settings)
    assert _writers(rules, "returns.events") == {"relay-returns", "connect"}
    assert "returns.events" not in {a.name for a in rules if a.principal == "relay-orders"}
    connect_prefixes = {a.name for a in rules if a.principal == "connect" and a.pattern == PREFIXED}
    assert {"returns-outbox", "wms.", "legacy."} <= connect_prefixes


def test_a_new_service_gets_its_credential_and_acls_at_the_next_stack_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = StackSettings(dir=tmp_path, kafka_auth="scram")
    (tmp_path / "kafka").mkdir()
    kafka_auth.mark_formatted(settings)
    kafka_auth.mark_acls(settings)
    assert kafka_auth.acls_current(settings) and not kafka_auth.missing_users(settings)
    declared = Topology({**topology().services, "returns": RETURNS}, topology().sources)
    monkeypatch.setattr(kafka_auth, "topology", lambda: declared)
    assert not kafka_auth.acls_current(settings)
    assert kafka_auth.missing_users(settings) == ["relay-returns"]


def test_compose_setup_lines_carry_every_principal_and_acl(tmp_path: Path) -> None:
    settings = StackSettings(dir=tmp_path, kafka_auth="scram")
    users = dict(entry.split(" ") for entry in kafka_compose.users(settings).split(";"))
    assert set(users) == set(kafka_auth.principals(settings))
    assert users["relay-orders"] == kafka_auth.password(settings, "relay-orders")
    lines = kafka_compose.acl_lines(settings).split(";")
    assert (
        "User:relay-orders --topic orders.events literal Write,Read,Describe,Create,"
        "DescribeConfigs,AlterConfigs" in lines
    )
    assert (
        "User:connect --cluster kafka-cluster literal Describe,DescribeConfigs,"
        "IdempotentWrite" in lines
    )
    assert all(len(line.split(" ")) == 5 for line in lines)


def test_connect_may_write_the_cdc_sandboxes_topics_unless_turned_off(tmp_path: Path) -> None:
    def prefixes(settings: StackSettings) -> set[str]:
        rules = kafka_auth.acls(settings)
        return {a.name for a in rules if a.principal == "connect" and a.pattern == PREFIXED}

    assert "sandbox" in prefixes(StackSettings(dir=tmp_path))
    assert "sandbox" not in prefixes(StackSettings(dir=tmp_path, kafka_sandbox_prefix=""))


@pytest.mark.parametrize("reader", ["projector", "subscriber", "billing"])
def test_readers_create_nothing_and_write_only_their_own_dead_letters(
    tmp_path: Path, reader: str
) -> None:
    settings = StackSettings(dir=tmp_path, kafka_subscribers="subscriber,billing")
    rules = [a for a in kafka_auth.acls(settings) if a.principal == reader]
    assert rules
    operations = {a.operation for a in rules}
    assert not operations & {kafka_auth.CREATE, kafka_auth.ALTER_CONFIGS, kafka_auth.ALL}
    writes = {(a.resource, a.name, a.pattern) for a in rules if a.operation == WRITE}
    assert writes == {(TOPIC, f"{reader}.", PREFIXED)}
    read = {a.name for a in rules if a.resource == TOPIC and a.operation == kafka_auth.READ}
    assert read == {*kafka_auth.relayed().values(), "legacy.", f"{reader}."}  # no "*"
    groups = {a.name for a in rules if a.resource == kafka_auth.GROUP}
    assert groups == {f"{reader}."}


def test_acls_an_older_version_granted_are_deleted_at_the_next_stack_up(tmp_path: Path) -> None:
    settings = StackSettings(dir=tmp_path)
    wanted = kafka_auth.acls(settings)
    old = Acl("projector", TOPIC, "projector.", PREFIXED, kafka_auth.CREATE)
    stranger = Acl("someone-else", TOPIC, "*", LITERAL, kafka_auth.READ)
    assert old not in wanted
    assert kafka_auth.stale([*wanted, old, stranger], settings) == [old]
