import base64
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import BaseModel

from annals.cdc import (
    ChangeDecoder,
    DecodeError,
    Heartbeat,
    Op,
    RowChange,
    SchemaChange,
    Tombstone,
    decode,
)
from annals.cdc.decode import decimal_from_bytes
from tests.unit.cdc.samples import ROW, key, value


class Product(BaseModel):
    sku: str
    unit_price: Decimal
    active: bool
    updated_at: datetime


def test_create_has_after_key_and_source():
    change = decode(value("c", after=ROW), key())
    assert isinstance(change, RowChange)
    assert change.op is Op.CREATE
    assert change.key == {"sku": "SKU-000002"}
    assert change.before is None
    assert change.after == ROW
    assert change.table == "public.products"
    assert change.lsn == 268936552
    assert change.source.tx_id == 393257
    assert change.source.committed_at == datetime(2026, 11, 25, 20, 28, 7, 459000, tzinfo=UTC)
    assert not change.is_snapshot
    assert not change.source.is_snapshot


def test_update_carries_both_images():
    after = {**ROW, "unit_price": "917.17"}
    change = decode(value("u", before=ROW, after=after), key())
    assert isinstance(change, RowChange)
    assert change.op is Op.UPDATE
    assert change.before_as(Product).unit_price == Decimal("78.46")
    assert change.after_as(Product).unit_price == Decimal("917.17")


def test_delete_row_is_the_before_image():
    change = decode(value("d", before=ROW), key())
    assert isinstance(change, RowChange)
    assert change.op is Op.DELETE
    assert change.after is None
    assert change.row == ROW
    assert change.after_as(Product) is None


def test_snapshot_read():
    change = decode(value("r", after=ROW, snapshot="first"), key())
    assert isinstance(change, RowChange)
    assert change.op is Op.READ
    assert change.is_snapshot and change.source.is_snapshot


def test_tombstone_is_a_null_value():
    change = decode(None, key("SKU-9"))
    assert change == Tombstone({"sku": "SKU-9"})


def test_heartbeat_record():
    change = decode(b'{"ts_ms": 1795638482777}', b'{"serverName":"legacy"}')
    assert change == Heartbeat(1795638482777)


def test_typed_row_parses_decimal_strings_precisely():
    change = decode(value("c", after={**ROW, "unit_price": "0.10"}), key())
    assert isinstance(change, RowChange)
    product = change.after_as(Product)
    assert product is not None
    assert product.unit_price == Decimal("0.10")
    assert product.updated_at.tzinfo is not None


@pytest.mark.parametrize(
    "raw",
    [b"not json", b'{"before": null}', b'{"op": "x", "source": {}}', b"[1, 2]", b'{"op": "c"}'],
)
def test_garbage_is_a_decode_error(raw: bytes):
    with pytest.raises(DecodeError):
        decode(raw, key())


def test_schema_envelope_with_precise_decimals():
    unscaled = (-1234).to_bytes(2, "big", signed=True)
    decimal_field = {
        "type": "bytes",
        "name": "org.apache.kafka.connect.data.Decimal",
        "parameters": {"scale": "2"},
        "field": "unit_price",
    }
    row_schema = {"type": "struct", "fields": [{"type": "string", "field": "sku"}, decimal_field]}
    schema = {
        "type": "struct",
        "fields": [
            {**row_schema, "field": "before"},
            {**row_schema, "field": "after"},
            {"type": "struct", "fields": [], "field": "source"},
        ],
    }
    payload = json.loads(
        value("c", after={"sku": "S", "unit_price": base64.b64encode(unscaled).decode()})
    )
    record = json.dumps({"schema": schema, "payload": payload})
    keyed = json.dumps({"schema": {"type": "struct"}, "payload": {"sku": "S"}})
    change = decode(record, keyed)
    assert isinstance(change, RowChange)
    assert change.key == {"sku": "S"}
    assert change.after == {"sku": "S", "unit_price": Decimal("-12.34")}


def test_variable_scale_decimal():
    encoded = base64.b64encode((15).to_bytes(1, "big", signed=True)).decode()
    assert decimal_from_bytes(encoded, 3) == Decimal("0.015")


class _Record:
    def __init__(self, value: bytes | None, key: bytes, offset: int = 0, partition: int = 0):
        self.topic, self.partition, self.offset, self.timestamp = (
            "legacy.public.products",
            partition,
            offset,
            1,
        )
        self.key, self.value = key, value


def test_decoder_emits_schema_change_before_first_row_of_new_shape():
    decoder = ChangeDecoder()
    first = decoder.feed(_Record(value("c", after=ROW, lsn=10), key(), 0))
    wider = {**ROW, "weight_kg": "1.500"}
    second = decoder.feed(_Record(value("u", before=ROW, after=wider, lsn=30), key(), 1))
    assert len(first) == 1
    assert isinstance(second[0], SchemaChange)
    assert second[0].added == ("weight_kg",)
    assert second[0].removed == ()
    assert second[0].table == "public.products"
    assert isinstance(second[1], RowChange) and second[1].position is not None
    assert second[1].position.offset == 1


def test_older_change_read_late_does_not_flap_the_schema():
    decoder = ChangeDecoder()
    decoder.feed(_Record(value("c", after=ROW, lsn=10), key("A"), 0, partition=0))
    wider = {**ROW, "weight_kg": None}
    events = decoder.feed(_Record(value("u", before=wider, after=wider, lsn=50), key("A"), 1))
    assert isinstance(events[0], SchemaChange)
    # a change from another partition, committed before the ALTER, is read afterwards
    late = decoder.feed(
        _Record(value("u", before=ROW, after=ROW, lsn=40), key("B"), 0, partition=2)
    )
    assert [type(e) for e in late] == [RowChange]
    assert decoder.tracker.columns("public.products") == tuple(wider)


def test_dropped_column_is_reported_as_removed():
    decoder = ChangeDecoder()
    decoder.feed(_Record(value("c", after={**ROW, "old": 1}, lsn=1), key()))
    events = decoder.feed(_Record(value("c", after=ROW, lsn=2), key("B")))
    assert isinstance(events[0], SchemaChange)
    assert events[0].removed == ("old",)
