"""Benchmarks (`make bench`); they run the services in explicit development mode (loopback)."""

import os

from annals.collector import tune_collector

os.environ.setdefault("ANNALS_DEV_MODE", "1")
# Benchmarks' sandboxes namespace their topics and groups (t<id>.*), outside the components'
# ACLs (annals.stack.kafka_auth): their Kafka clients log in as the stack's admin.
os.environ.setdefault("ANNALS_KAFKA_PRINCIPAL", "admin")
# The benchmarks measure the library as the platform's processes run it, reference paths too.
tune_collector()
