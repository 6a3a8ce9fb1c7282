"""A scratch Kafka cluster beside the stack, for fault tests and the replication benchmark.

Its nodes live in a folder of their own, on 2 * nodes consecutive free ports, with the stack's
jars, secrets, auth mode and PostgreSQL, so clients of the usual principals work on it; the
folder is removed when the block ends.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from annals.stack import kafka
from annals.stack.procs import port_open
from annals.stack.secrets import secrets_dir
from annals.stack.settings import StackSettings


def free_base(host: str, nodes: int) -> int:
    """The first of 2 * nodes consecutive ports nobody listens on."""
    for _ in range(200):
        base = random.randrange(20_000, 40_000, 2)
        if not any(port_open(host, base + i, 0.05) for i in range(2 * nodes)):
            return base
    raise RuntimeError(f"no {2 * nodes} consecutive free ports")


@contextlib.contextmanager
def scratch_cluster(stack: StackSettings, nodes: int = 3, base: int = 0) -> Iterator[StackSettings]:
    """A running cluster of `nodes` KRaft nodes (ports from `base`, else free); stopped after."""
    root = Path(tempfile.mkdtemp(prefix="annals-cluster-"))
    (root / "jars").symlink_to(stack.jars_dir)
    first = base or free_base(stack.host, nodes)
    settings = stack.model_copy(update={
        "dir": root, "secrets_dir": secrets_dir(stack), "kafka_port": first,
        "controller_port": first + 1, "kafka_brokers": nodes, "kafka_port_step": 2,
        "start_timeout": 150.0,
    })  # fmt: skip
    try:
        kafka.start(settings)
        yield settings
    finally:
        kafka.stop(settings)
        shutil.rmtree(root, ignore_errors=True)
