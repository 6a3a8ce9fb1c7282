"""The `annals` command line."""
