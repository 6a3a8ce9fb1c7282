"""The AsyncAPI document validates against AsyncAPI 3.0's JSON Schema (npm @asyncapi/specs, from
deploy/asyncapi/package-lock.json) and lists every declared topic and every event type."""

from __future__ import annotations

import json

import jsonschema_rs
from typer.testing import CliRunner

from annals.cli.main import app
from annals.schemas.asyncapi import SCHEMAS, document, service_schemas
from annals.schemas.catalog import event_models
from annals.stack.settings import REPO_ROOT
from annals.topology import topology

SPEC = REPO_ROOT / "deploy/asyncapi/node_modules/@asyncapi/specs/schemas/3.0.0-without-$id.json"


def test_the_document_is_valid_asyncapi_3() -> None:
    assert SPEC.is_file(), "run `make asyncapi-spec` (make install does)"
    validator = jsonschema_rs.validator_for(json.loads(SPEC.read_text()))
    doc = document()
    errors = [f"{list(e.instance_path)}: {e.message[:200]}" for e in validator.iter_errors(doc)]
    assert errors == []
    assert not validator.is_valid({**doc, "asyncapi": "2.6.0"})  # the validator does check


def test_every_topic_and_event_type_is_listed() -> None:
    channels = document()["channels"]
    addresses = {c["address"] for c in channels.values()}
    declared = topology()
    assert {s.topic for s in declared.services.values() if s.topic} <= addresses
    assert {f"{s.prefix}.{{schema}}.{{table}}" for s in declared.sources.values()} <= addresses
    for service, models in event_models().items():
        channel = channels[declared.service(service).topic]
        listed = {m["name"] for m in channel["messages"].values()}
        assert {f"{service}.{m.event_type}" for m in models} == listed
        on_disk = {(t, v) for t, v, _ in service_schemas(service, SCHEMAS)}
        assert {(m.event_type, m.schema_version) for m in models} <= on_disk
        assert len(channel["messages"]) == len(on_disk)  # one message a type and version


def test_the_cli_exports_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "asyncapi.json"
    done = CliRunner().invoke(app, ["asyncapi", "export", "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert json.loads(out.read_text())["asyncapi"] == "3.0.0"


def test_the_query_api_serves_it() -> None:
    from query.app import create_app

    assert "/asyncapi.json" in create_app().openapi()["paths"]
