"""Debezium 3.6 records as the legacy connector writes them (JsonConverter, schemas disabled)."""

from __future__ import annotations

import json
from typing import Any

SOURCE: dict[str, Any] = {
    "version": "3.6.1.Final",
    "connector": "postgresql",
    "name": "legacy",
    "ts_ms": 1795638487459,
    "snapshot": "false",
    "db": "legacy_erp",
    "sequence": '["268913888","268936552"]',
    "schema": "public",
    "table": "products",
    "txId": 393257,
    "lsn": 268936552,
    "xmin": None,
}
ROW = {
    "sku": "SKU-000002",
    "name": "oak mug",
    "category": "office",
    "unit_price": "78.46",
    "active": True,
    "updated_at": "2026-11-25T20:28:07.453893Z",
}


def value(op: str, before: Any = None, after: Any = None, **source: Any) -> bytes:
    """A change event's value as the JsonConverter writes it."""
    body = {
        "before": before,
        "after": after,
        "source": {**SOURCE, **source},
        "transaction": None,
        "op": op,
        "ts_ms": 1795638487560,
    }
    return json.dumps(body).encode()


def key(sku: str = "SKU-000002") -> bytes:
    """The record key: the primary key columns."""
    return json.dumps({"sku": sku}).encode()
