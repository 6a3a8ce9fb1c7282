"""Order handlers: load, decide, append."""
