"""HTTP entrypoint of the customers service."""
