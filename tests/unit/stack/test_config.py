"""The stack's configuration agrees with itself: templates, compose file, roles, jar sets."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from annals.stack import jvm
from annals.stack.errors import StackError
from annals.stack.jars import jar_sets
from annals.stack.settings import APP_ROLES, DATABASE_OWNERS, REPO_ROOT, StackSettings


def test_templates_render_without_leftover_placeholders(tmp_path: Path):
    settings = StackSettings(dir=tmp_path, kafka_port=19092, connect_port=18083)
    for template in ("server.properties", "connect-distributed.properties"):
        text = jvm.render(
            settings,
            template,
            tmp_path / template,
            data_dir="/d",
            plugin_path="/p",
            secrets_dir="/s",
        ).read_text()
        assert "${" not in text
        assert "127.0.0.1:19092" in text
    connect = (tmp_path / "connect-distributed.properties").read_text()
    assert "listeners=http://127.0.0.1:18083" in connect
    assert "plugin.path=/p" in connect
    assert "config.providers.file.param.allowed.paths=/s" in connect
    assert "rest.extension.classes=org.apache.kafka.connect.rest.basic.auth" in connect


def test_every_component_binds_loopback_only():
    server = (REPO_ROOT / "deploy/local/config/server.properties").read_text()
    assert re.search(r"^listeners=PLAINTEXT://\$\{host\}", server, re.M)
    assert StackSettings.model_fields["host"].default == "127.0.0.1"


def test_compose_init_creates_the_same_roles_and_databases_as_the_native_stack():
    sql = (REPO_ROOT / "deploy/docker/postgres-init/10-annals.sh").read_text()
    for database, owner in DATABASE_OWNERS.items():
        assert f"CREATE DATABASE {database} OWNER {owner};" in sql
    for role in {*DATABASE_OWNERS.values(), *APP_ROLES}:
        assert re.search(rf"CREATE ROLE {role} LOGIN", sql), role
    for role, databases in APP_ROLES.items():
        for database in databases:
            assert f"GRANT CONNECT ON DATABASE {database} TO {role};" in sql
    assert "CREATE ROLE debezium LOGIN REPLICATION" in sql


def test_compose_services_are_healthchecked_loopback_and_ordered():
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) >= {"postgres", "kafka", "connect"}
    for name, service in services.items():
        one_shot = service.get("restart") == "no"
        assert one_shot or "healthcheck" in service, name
        assert all(port.startswith("127.0.0.1:") for port in service.get("ports", [])), name
    assert services["kafka-setup"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    setup = services["connect"]["depends_on"]["kafka-setup"]["condition"]
    assert setup == "service_completed_successfully"
    assert "wal_level=logical" in services["postgres"]["command"]
    defaults = StackSettings.model_fields
    stack = {n: s for n, s in services.items() if "platform" not in s.get("profiles", [])}
    published = {p.split(":")[1] for s in stack.values() for p in s.get("ports", [])}
    assert published == {
        str(defaults[name].default) for name in ("pg_port", "kafka_port", "connect_port")
    }
    # The platform profile publishes the services' own ports (8001-8004), Prometheus's (9090)
    # and the schema registry's (8081), on loopback too.
    platform = {p.split(":")[1] for s in services.values() for p in s.get("ports", [])}
    assert platform - published == {"8001", "8002", "8003", "8004", "8081", "9090"}
    for service in ("orders", "customers"):  # they refuse to start before their schemas are in
        after = services[service]["depends_on"]["schemas-register"]["condition"]
        assert after == "service_completed_successfully"


def test_jar_sets_are_separate_folders_and_re_resolve_when_a_version_changes(tmp_path: Path):
    sets = jar_sets(StackSettings(dir=tmp_path))
    targets = [s.target for s in sets]
    assert len(set(targets)) == 4
    assert targets[2].parent.name == "plugins" and targets[3].name == "jmx"
    pom = REPO_ROOT / "deploy/local/maven/kafka.pom.xml"
    other = jar_sets(StackSettings(dir=tmp_path, kafka_version="4.3.0"))[0]
    assert sets[0].fingerprint(pom) != other.fingerprint(pom)
    assert sets[0].fingerprint(pom) == jar_sets(StackSettings(dir=tmp_path))[0].fingerprint(pom)


def test_stack_error_is_one_line_with_cause_and_way_out():
    error = StackError("kafka", "port 127.0.0.1:9092 is taken", "set ANNALS_STACK_KAFKA_PORT")
    assert error.line() == "kafka: port 127.0.0.1:9092 is taken -> set ANNALS_STACK_KAFKA_PORT"
    assert "\n" not in error.line()


def test_dsn_names_role_and_database():
    settings = StackSettings(pg_port=1234, pg_password="pw", pg_least_privilege=False)
    assert (
        settings.dsn("orders", "orders_app") == "postgresql://orders_app:pw@127.0.0.1:1234/orders"
    )


def test_compose_broker_authenticates_and_authorizes_like_the_native_one():
    kafka = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]["kafka"]
    env = kafka["environment"]
    sasl = (REPO_ROOT / "deploy/local/config/server-sasl.properties").read_text()
    native = dict(line.split("=", 1) for line in sasl.split("\n") if line and line[0] != "#")
    for key in ("authorizer.class.name", "super.users", "allow.everyone.if.no.acl.found",
                "sasl.enabled.mechanisms", "sasl.mechanism.controller.protocol"):  # fmt: skip
        assert str(env["KAFKA_" + key.upper().replace(".", "_")]) == native[key], key
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(protocols.values()) == {"SASL_PLAINTEXT"}
    connect = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]["connect"]
    for client in ("", "PRODUCER_", "CONSUMER_", "ADMIN_"):
        assert connect["environment"][f"CONNECT_{client}SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert 'username="connect"' in connect["environment"][f"CONNECT_{client}SASL_JAAS_CONFIG"]
