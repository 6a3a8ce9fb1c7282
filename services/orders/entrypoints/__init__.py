"""HTTP entrypoint of the orders service."""
