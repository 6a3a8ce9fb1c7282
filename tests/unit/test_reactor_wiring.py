"""Reactors as the platform runs them: on under `annals services up`, a group their principal
may use when Kafka checks ACLs."""

from __future__ import annotations

import pytest

from annals.messaging.settings import KafkaSettings
from annals.reactors import Reactor, ReactorRunner
from annals.reactors.subscribe import group_of
from annals.stack.kafka_auth import reader_acls
from annals.web import launcher

REACTOR = Reactor("shipper", ("orders.events",), {})


def _runner() -> ReactorRunner:
    return ReactorRunner.__new__(ReactorRunner)


def _group(principal: str = "") -> str:
    runner = _runner()
    runner.reactor = REACTOR
    return group_of(runner, KafkaSettings(principal=principal))


@pytest.mark.parametrize("principal", ["", "reactor-shipping"])
def test_group_is_under_the_principals_acl_prefix(principal: str) -> None:
    user = principal or "subscriber"
    group = _group(principal)
    assert group == f"{user}.reactor-shipper"
    prefixes = {acl.name for acl in reader_acls(user, f"{user}.") if acl.resource == 3}
    assert any(group.startswith(p) for p in prefixes)


def test_services_up_runs_reactors_unless_set_off(monkeypatch: pytest.MonkeyPatch) -> None:
    specs = launcher.specs()
    monkeypatch.delenv("ANNALS_SHIPPING_REACTORS", raising=False)
    shipping = specs["shipping"]
    assert launcher.reactors_on(shipping, shipping.settings()) == {
        "ANNALS_SHIPPING_REACTORS": "true"
    }
    monkeypatch.setenv("ANNALS_SHIPPING_REACTORS", "false")
    assert (
        launcher.reactors_on(shipping, shipping.settings())["ANNALS_SHIPPING_REACTORS"] == "false"
    )
    customers = specs["customers"]
    assert launcher.reactors_on(customers, customers.settings()) == {}
