"""The rendered chart against the declared topology: topics, Kafka users and their ACLs,
connectors, PostgreSQL clusters and the workloads (helm template, as `make lint` renders it)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from annals.connect.configs import PLACEHOLDER
from annals.deploy import chart, lint
from annals.stack import kafka_auth
from annals.stack.settings import StackSettings
from annals.topology import describe, topology

RESOURCE = {v: k for k, v in chart.RESOURCES.items()}
PATTERN = {v: k for k, v in chart.PATTERNS.items()}
OPERATION = {v: k for k, v in chart.OPERATIONS.items()}


@pytest.fixture(scope="module", autouse=True)
def _tools() -> None:
    if missing := lint.missing_tools():
        if os.environ.get("CI"):
            pytest.fail(f"missing {missing}: `make install` runs deploy/helm/schemas/fetch.sh")
        pytest.skip(f"missing {missing}: run `annals helm fetch` (make install does)")


def objects(*values: str, sets: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The chart's objects rendered with these values files."""
    return [d for d in yaml.safe_load_all(lint.render(*values, sets=sets)) if d]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def unpack(user: dict[str, Any]) -> Iterator[kafka_auth.Acl]:
    """A KafkaUser's rules back as the stack's Acl records."""
    for rule in user["spec"].get("authorization", {}).get("acls", []):
        target = rule["resource"]
        resource = RESOURCE[target["type"]]
        name = target.get("name", "kafka-cluster")
        pattern = PATTERN[target.get("patternType", "literal")]
        for operation in rule["operations"]:
            yield kafka_auth.Acl(user["metadata"]["name"], resource, name, pattern,
                                 OPERATION[operation])  # fmt: skip


@pytest.fixture(scope="module")
def default() -> list[dict[str, Any]]:
    return objects()


def test_topology_file_is_current() -> None:
    assert chart.TOPOLOGY_FILE.read_text() == chart.render()


def test_a_kafka_topic_per_event_topic_and_projector_dlq(default: list[dict[str, Any]]) -> None:
    topics = {t["spec"]["topicName"]: t for t in of_kind(default, "KafkaTopic")}
    dead_letters = {f"projector.{name}.dlq" for name in topology().projections}  # none may create
    assert set(topics) == {t["name"] for t in describe()["topics"]} | dead_letters
    for topic in topics.values():
        assert topic["spec"]["replicas"] == 3
        assert topic["spec"]["config"]["min.insync.replicas"] == 2


def test_kafka_users_carry_the_stacks_acls(default: list[dict[str, Any]]) -> None:
    settings = StackSettings(kafka_sandbox_prefix="")  # the local stack's test sandboxes only
    users = {u["metadata"]["name"]: u for u in of_kind(default, "KafkaUser")}
    assert set(users) == set(kafka_auth.principals(settings)) - chart.INTERNAL
    rendered = {acl for user in users.values() for acl in unpack(user)}
    assert rendered == set(kafka_auth.acls(settings))
    for user in users.values():
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
    [kafka] = of_kind(default, "Kafka")
    assert kafka["spec"]["kafka"]["authorization"]["superUsers"] == ["admin"]
    assert "authorization" not in users["admin"]["spec"]


def connectors(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["metadata"]["name"]: c for c in of_kind(docs, "KafkaConnector")}


def test_connectors_follow_deploy_connect_and_the_publishers(
    default: list[dict[str, Any]],
) -> None:
    files = {p.stem: json.loads(p.read_text()) for p in chart.CONNECT_DIR.glob("*.json")}
    sources = {c for c, raw in files.items() if not raw.get("annals", {}).get("enabled_when")}
    assert set(connectors(default)) == sources  # every service publishes with its relay
    commands = [s.name for s in topology().of_kind("command")]
    sets = tuple(f"publishers.{name}=debezium" for name in commands)
    debezium = objects(sets=sets)
    assert set(connectors(debezium)) == set(files)
    relays = {d["metadata"]["name"] for d in of_kind(debezium, "Deployment")}
    assert not any(name.startswith("annals-relay-") for name in relays)
    for name, rendered in connectors(debezium).items():
        config = files[name]["config"]
        spec = rendered["spec"]
        assert spec["class"] == config["connector.class"]
        assert set(spec["config"]) == set(config) - {"connector.class", "tasks.max"}
        assert not any(PLACEHOLDER.search(v) for v in spec["config"].values())
        assert spec["config"]["database.password"] == "${env:ANNALS_DEBEZIUM_PASSWORD}"
        assert spec["config"]["topic.creation.default.replication.factor"] == "3"


def test_connector_hosts_are_the_clusters_of_their_databases() -> None:
    docs = objects("values-dev.yaml", sets=("publishers.orders=debezium",))
    hosts = {c["metadata"]["name"]: c["spec"]["config"]["database.hostname"]
             for c in of_kind(docs, "KafkaConnector")}  # fmt: skip
    assert hosts == {"orders-outbox": "annals-orders-rw", "legacy-erp": "annals-legacy-erp-rw"}


def test_three_kraft_nodes_replication_three_min_insync_two(
    default: list[dict[str, Any]],
) -> None:
    [pool] = of_kind(default, "KafkaNodePool")
    assert pool["spec"]["replicas"] == 3
    assert sorted(pool["spec"]["roles"]) == ["broker", "controller"]
    [kafka] = of_kind(default, "Kafka")
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3
    assert config["min.insync.replicas"] == 2
    [connect] = of_kind(default, "KafkaConnect")
    plugins = connect["spec"]["build"]["plugins"]
    assert plugins[0]["artifacts"][0]["artifact"] == "debezium-connector-postgres"


def test_a_postgres_cluster_per_event_store_and_for_the_read_models(
    default: list[dict[str, Any]],
) -> None:
    databases = {c["metadata"]["labels"]["annals/database"] for c in of_kind(default, "Cluster")}
    stores = {s.database for s in topology().of_kind("command")}
    assert databases == stores | {"readmodels", "registry"}  # registry: annals.registry
    dev = objects("values-dev.yaml")
    managed = {c["metadata"]["labels"]["annals/database"] for c in of_kind(dev, "Cluster")}
    assert managed == databases | {s.database for s in topology().sources.values()}


def test_workloads_probe_scale_and_reference_secrets(default: list[dict[str, Any]]) -> None:
    deployments = {d["metadata"]["name"]: d for d in of_kind(default, "Deployment")}
    web = [f"annals-{s.name}" for s in topology().services.values()] + ["annals-console"]
    for name in web:
        [container] = deployments[name]["spec"]["template"]["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["resources"]["requests"]
    autoscalers = of_kind(default, "HorizontalPodAutoscaler")
    scaled = {h["spec"]["scaleTargetRef"]["name"] for h in autoscalers}
    assert scaled == {f"annals-{s.name}" for s in topology().services.values()}
    budgets = {p["metadata"]["name"] for p in of_kind(default, "PodDisruptionBudget")}
    assert set(web) <= budgets
    projectors = {n for n in deployments if n.startswith("annals-projector-")}
    assert projectors == {f"annals-projector-{p.replace('_', '-')}" for p in topology().projections}
    for name in projectors:
        [container] = deployments[name]["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["ANNALS_PROJECTOR_BOOTSTRAP"]["value"] == "annals-kafka-bootstrap:9092"
        assert env["ANNALS_KAFKA_PRINCIPAL"]["value"] == "projector"
    relays = {n for n in deployments if n.startswith("annals-relay-")}
    assert relays == {f"annals-relay-{s.name}" for s in topology().of_kind("command")}
    assert not of_kind(default, "Secret")


def test_no_password_is_inlined_nor_set_twice(default: list[dict[str, Any]]) -> None:
    for deployment in of_kind(default, "Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        for container in spec["containers"] + spec.get("initContainers", []):
            names = [env["name"] for env in container["env"]]
            assert len(names) == len(set(names)), (deployment["metadata"]["name"], names)
            for env in container["env"]:
                if "PASSWORD" in env["name"] or env["name"].endswith("SECRET"):
                    assert "valueFrom" in env, (deployment["metadata"]["name"], env["name"])


@pytest.mark.parametrize("values", lint.VALUES)
def test_every_values_file_validates(values: str) -> None:
    checked = lint.check(values)
    assert checked.ok, checked.report


def test_tracing_is_off_unless_a_collector_is_named(default: list[dict[str, Any]]) -> None:
    def endpoints(docs: list[dict[str, Any]]) -> set[str]:
        return {
            env.get("value", "")
            for d in of_kind(docs, "Deployment")
            for c in d["spec"]["template"]["spec"]["containers"]
            for env in c["env"]
            if env["name"] == "ANNALS_TRACES_OTLP_ENDPOINT"
        }

    assert endpoints(default) == set()
    url = "http://otel:4318/v1/traces"
    traced = objects(sets=(f"tracing.otlpEndpoint={url}",))
    assert endpoints(traced) == {url}
    assert all(
        any(e["name"] == "ANNALS_TRACES_OTLP_ENDPOINT" for e in c["env"])
        for d in of_kind(traced, "Deployment")
        for c in d["spec"]["template"]["spec"]["containers"]
    )


def _registry_urls(docs: list[dict[str, Any]]) -> dict[str, str]:
    """Deployment -> the ANNALS_REGISTRY_URL of its main container."""
    return {
        d["metadata"]["name"]: env.get("value", "")
        for d in of_kind(docs, "Deployment")
        for env in d["spec"]["template"]["spec"]["containers"][0]["env"]
        if env["name"] == "ANNALS_REGISTRY_URL"
    }


def test_the_schema_registry_is_the_releases_or_an_external_one(
    default: list[dict[str, Any]],
) -> None:
    deployments = {d["metadata"]["name"]: d for d in of_kind(default, "Deployment")}
    registry = deployments["annals-registry"]["spec"]["template"]["spec"]
    assert registry["containers"][0]["args"] == ["registry", "serve"]
    assert registry["initContainers"][0]["args"] == ["registry", "migrate"]
    urls = _registry_urls(default)
    assert urls["annals-orders"] == urls["annals-relay-orders"] == "http://annals-registry:8081"
    orders = deployments["annals-orders"]["spec"]["template"]["spec"]["initContainers"]
    assert [c["args"] for c in orders] == [["services", "migrate", "orders"],
                                           ["schemas", "register"]]  # fmt: skip
    external = objects(sets=("schemaRegistry.enabled=false", "schemaRegistry.url=https://sr:8081",
                             "schemaRegistry.tokenSecret=sr-tokens"))  # fmt: skip
    assert "annals-registry" not in {d["metadata"]["name"] for d in of_kind(external, "Deployment")}
    assert set(_registry_urls(external).values()) == {"https://sr:8081"}


def test_the_cdc_role_is_on_a_service_cluster_only_in_debezium_mode() -> None:
    def roles(docs: list[dict[str, Any]]) -> dict[str, set[str]]:
        return {c["metadata"]["labels"]["annals/database"]:
                {r["name"] for r in c["spec"]["managed"]["roles"]}
                for c in of_kind(docs, "Cluster")}  # fmt: skip

    relay = roles(objects("values-dev.yaml"))
    debezium = roles(objects("values-dev.yaml", sets=("publishers.orders=debezium",)))
    assert "debezium" not in relay["orders"] and "debezium" not in relay["customers"]
    assert "debezium" in debezium["orders"] and "debezium" not in debezium["customers"]
