import json
from pathlib import Path

import pytest

from annals.connect import ConfigFileError, discover, load_spec
from annals.connect.secrets import debezium_password, resolve, write_provider_file
from annals.connect.slots import slot_dsn
from annals.stack.settings import StackSettings

REPO = Path(__file__).resolve().parents[3]
LEGACY = REPO / "deploy" / "connect" / "legacy-erp.json"


def test_legacy_connector_file_holds_no_secret_and_no_address():
    raw = LEGACY.read_text()
    assert "annals-local" not in raw
    assert "55432" not in raw
    config = json.loads(raw)["config"]
    assert config["database.password"] == "${annals:debezium_password}"


def test_rendering_fills_the_address_and_a_provider_reference_never_the_password(
    tmp_path: Path,
):
    settings = StackSettings(dir=tmp_path, host="10.0.0.5", pg_port=56432, pg_password="local-pw")
    spec = load_spec(LEGACY, settings, env={"ANNALS_DEBEZIUM_PASSWORD": "from-env"})
    assert spec.name == "legacy-erp"
    assert spec.config["database.hostname"] == "10.0.0.5"
    assert spec.config["database.port"] == "56432"
    provider = tmp_path / "secrets" / "connect-provider.properties"
    assert spec.config["database.password"] == f"${{file:{provider}:debezium_password}}"
    assert "local-pw" not in json.dumps(spec.config)
    assert "from-env" not in json.dumps(spec.config)
    assert spec.masked()["database.password"] == "***"
    compose = load_spec(LEGACY, settings, env={"ANNALS_CONNECT_SECRETS": "env"})
    assert compose.config["database.password"] == "${env:ANNALS_DEBEZIUM_PASSWORD}"


def test_provider_file_holds_the_password_the_reference_resolves_to(tmp_path: Path):
    settings = StackSettings(
        dir=tmp_path, pg_password="pw with \\ and = and :", pg_least_privilege=False
    )
    path = write_provider_file(settings)
    spec = load_spec(LEGACY, settings, env={})
    assert path.stat().st_mode & 0o777 == 0o600
    assert resolve(spec.config["database.password"]) == debezium_password(settings, env={})
    assert slot_dsn(spec.config) is not None
    assert "pw%20with" in str(slot_dsn(spec.config))


def test_legacy_connector_contract():
    config = load_spec(LEGACY, StackSettings(), env={}).config
    assert config["plugin.name"] == "pgoutput"
    assert config["topic.prefix"] == "legacy"
    assert config["publication.autocreate.mode"] == "disabled"
    assert config["snapshot.mode"] == "initial"
    assert config["decimal.handling.mode"] == "string"
    assert int(config["heartbeat.interval.ms"]) > 0
    assert "debezium_heartbeat" in config["heartbeat.action.query"]
    assert "public.debezium_heartbeat" in config["table.include.list"].split(",")
    assert config["slot.name"] != "debezium"


def test_discover_finds_the_deploy_configs():
    assert LEGACY in discover(LEGACY.parent)


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(document))
    return path


def test_unknown_placeholder_is_a_clear_error(tmp_path: Path):
    path = _write(tmp_path, {"name": "x", "config": {"a": "${annals:nope}"}})
    with pytest.raises(ConfigFileError, match=r"unknown placeholder \$\{annals:nope\}"):
        load_spec(path, StackSettings(), env={})


def test_other_config_providers_are_left_for_the_worker(tmp_path: Path):
    path = _write(tmp_path, {"name": "x", "config": {"p": "${file:/s.properties:pw}", "n": 3}})
    spec = load_spec(path, StackSettings(), env={})
    assert spec.config == {"p": "${file:/s.properties:pw}", "n": "3"}


@pytest.mark.parametrize(
    "document, message",
    [
        ([], "JSON object"),
        ({"config": {"a": "b"}}, "name"),
        ({"name": "x"}, "config"),
        ({"name": "x", "config": {"a": {"b": 1}}}, "must be a string"),
        ({"name": "x", "config": {"name": "y"}}, "differs"),
    ],
)
def test_malformed_files(tmp_path: Path, document: object, message: str):
    with pytest.raises(ConfigFileError, match=message):
        load_spec(_write(tmp_path, document), StackSettings(), env={})


def test_unreadable_and_invalid_json(tmp_path: Path):
    with pytest.raises(ConfigFileError, match="cannot read"):
        load_spec(tmp_path / "missing.json", StackSettings(), env={})
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ConfigFileError, match="not valid JSON"):
        load_spec(bad, StackSettings(), env={})


def test_enabled_when_gates_a_config_on_the_environment(tmp_path: Path):
    document = {
        "name": "orders-outbox",
        "annals": {"enabled_when": {"ANNALS_ORDERS_PUBLISHER": "debezium"}},
        "config": {"connector.class": "x", "transforms.r.replacement": "orders.${routedByValue}"},
    }
    spec = load_spec(_write(tmp_path, document), StackSettings(), env={})
    assert not spec.enabled({})
    assert spec.enabled({"ANNALS_ORDERS_PUBLISHER": "debezium"})
    assert spec.config["transforms.r.replacement"] == "orders.${routedByValue}"
    assert "annals" not in spec.config
    assert load_spec(LEGACY, StackSettings(), env={}).enabled({})


def test_legacy_connector_leaves_out_every_personal_column():
    from legacy.schema import LegacySchema

    config = json.loads(LEGACY.read_text())["config"]
    assert config["column.exclude.list"] == LegacySchema().excluded_columns
    assert "public.legacy_customers.email" in config["column.exclude.list"].split(",")


def test_with_split_stores_an_outbox_connector_reaches_its_stores_own_server(tmp_path: Path):
    settings = StackSettings(dir=tmp_path, pg_port=56432, pg_split_stores=True, pg_store_port=56500)
    outbox = REPO / "deploy" / "connect"
    orders = load_spec(outbox / "orders-outbox.json", settings)
    customers = load_spec(outbox / "customers-outbox.json", settings)
    legacy = load_spec(LEGACY, settings)
    ports = [s.config["database.port"] for s in (customers, orders, legacy)]
    assert ports == ["56500", "56501", "56432"]  # stores in name order, legacy on the main one
    assert slot_dsn(orders.config) is not None and ":56501/orders" in str(slot_dsn(orders.config))
    assert settings.dsn("orders").endswith(":56501/orders")
    assert settings.dsn("readmodels").endswith(":56432/readmodels")
