"""Customer handlers: load, decide, append (with the email reservation in the same transaction)."""
