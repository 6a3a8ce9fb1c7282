"""The W3C trace context on the wire: stored traceparent -> CloudEvents attribute and header."""

from __future__ import annotations

import json

from annals.messaging.cloudevents import from_kafka, stored_traceparent, to_kafka
from annals.tracing import context_of, record_traceparent
from annals.tracing.setup import TraceSettings, configure, enabled
from tests.unit.messaging.test_cloudevents import recorded

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
OTHER = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"


def test_the_stored_traceparent_goes_into_the_envelope_and_a_header() -> None:
    event = recorded({"correlation_id": "c-1", "traceparent": PARENT})
    record = to_kafka(event, "orders")
    envelope = json.loads(record.value)
    assert envelope["traceparent"] == PARENT and envelope["correlationid"] == "c-1"
    assert ("traceparent", PARENT.encode()) in record.headers
    assert stored_traceparent(event) == PARENT
    read = from_kafka(record.value, record.headers)
    assert read.extensions["traceparent"] == PARENT


def test_the_publish_span_replaces_the_stored_parent() -> None:
    record = to_kafka(recorded({"traceparent": PARENT}), "orders", traceparent=OTHER)
    assert json.loads(record.value)["traceparent"] == OTHER
    assert record_traceparent(record.headers) == OTHER


def test_no_trace_context_no_attribute_nor_header() -> None:
    record = to_kafka(recorded({"correlation_id": "c-1"}), "orders")
    assert "traceparent" not in json.loads(record.value)
    assert record_traceparent(record.headers) is None


def test_binary_mode_reads_the_ce_traceparent_header() -> None:
    assert record_traceparent([("ce_traceparent", PARENT.encode())]) == PARENT


def test_a_traceparent_names_its_parent_span() -> None:
    from opentelemetry import trace

    parent = trace.get_current_span(context_of(PARENT)).get_span_context()
    assert format(parent.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert context_of(None) is None


def test_tracing_stays_off_without_a_collector_or_file() -> None:
    if not enabled():  # another test of the session may have installed a provider
        assert configure("test", TraceSettings(otlp_endpoint=None, file=None)) is False
        assert not enabled()


def test_the_traces_file_holds_one_readable_json_span_a_line(tmp_path) -> None:
    import subprocess
    import sys

    path = tmp_path / "traces.jsonl"
    script = (
        "from annals.tracing import configure, tracer\n"
        "assert configure('probe')\n"
        "with tracer().start_as_current_span('outer'):\n"
        "    with tracer().start_as_current_span('inner'): pass\n"
    )
    env = {"ANNALS_TRACES_FILE": str(path), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [span["name"] for span in lines] == ["inner", "outer"]
    assert lines[0]["context"]["trace_id"] == lines[1]["context"]["trace_id"]
    assert lines[1]["resource"]["attributes"]["service.name"] == "probe"
