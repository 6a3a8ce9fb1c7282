"""Shipment handlers: load, decide, append."""
