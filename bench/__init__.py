"""Benchmarks (`make bench`); they run the services in explicit development mode (loopback)."""

import os

os.environ.setdefault("ANNALS_DEV_MODE", "1")
