"""The shipping domain: events, commands and the Shipment decider (no I/O)."""
