"""HTTP entrypoint of the shipping service."""
