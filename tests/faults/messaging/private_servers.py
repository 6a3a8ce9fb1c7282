"""Private PostgreSQL and Kafka servers for fault tests that stop and start them (not shared)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from annals.eventstore.migrations import migrate
from annals.eventstore.settings import ServiceDatabase
from annals.messaging.checkpoints import migrate_messaging
from annals.stack import kafka, postgres
from annals.stack.settings import StackSettings

SMALL = "shared_buffers = 32MB\nmax_connections = 60\nmax_wal_size = 256MB\n"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivatePostgres:
    """initdb, start, stop -m immediate and start again, in a folder of its own under /tmp."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="annals-pg-"))
        self.root.chmod(0o755)  # user postgres (when tests run as root) must reach it
        self.settings = StackSettings(dir=self.root, pg_port=free_port())

    def up(self, also_listen: str | None = None) -> PrivatePostgres:
        """Create the cluster, start it and bootstrap the stack's databases and roles.

        `also_listen` (an address/prefix such as 10.1.2.1/24) adds a listen address and lets
        clients of that network in with passwords.
        """
        postgres.initdb(self.settings)
        postgres.write_config(self.settings)
        data = postgres.data_dir(self.settings)
        conf = data / "annals.conf"
        extra = SMALL
        if also_listen:
            address, _, bits = also_listen.partition("/")
            extra += f"listen_addresses = '{self.settings.host},{address}'\n"
            with open(data / "pg_hba.conf", "a") as hba:
                hba.write(f"host all all {address}/{bits or 32} scram-sha-256\n")
        conf.write_text(conf.read_text() + extra)
        postgres.start(self.settings)
        postgres.bootstrap(self.settings)
        return self

    def database(self, service: str = "orders") -> ServiceDatabase:
        """The service's event store on this server."""
        s = self.settings
        return ServiceDatabase(
            service=service,
            dsn=s.dsn(service, f"{service}_app"),
            owner_dsn=s.dsn(service, f"{service}_owner"),
        )

    async def migrate(self, service: str = "orders") -> ServiceDatabase:
        """Migrate the service's event store and messaging tables; its settings."""
        db = self.database(service)
        await migrate(db.owner_dsn, db.app_role)
        await migrate_messaging(db.owner_dsn, db.app_role)
        return db

    def crash(self) -> None:
        """pg_ctl stop -m immediate: every session dies without a goodbye."""
        self._pg_ctl("stop", "-m", "immediate", "-w", "-t", "30")

    def start(self) -> None:
        """Start the stopped server again."""
        postgres.start(self.settings)

    def destroy(self) -> None:
        """Stop the server (if it runs) and delete its folder."""
        if postgres.is_running(self.settings):
            self._pg_ctl("stop", "-m", "immediate", "-w", "-t", "30")
        shutil.rmtree(self.root, ignore_errors=True)

    def _pg_ctl(self, *args: str) -> None:
        command = [
            str(postgres.bin_dir(self.settings) / "pg_ctl"),
            *args[:1],
            "-D",
            str(postgres.data_dir(self.settings)),
            *args[1:],
        ]
        if os.geteuid() == 0:
            command = ["runuser", "-u", postgres.RUN_AS, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)


class PrivateKafka:
    """A private KRaft broker on free ports (the shared stack's jars), to stop and start at will.

    Its principals' passwords are the shared stack's (`secrets`), so this process's Kafka clients,
    which read those (annals.messaging.security), log in to it as they do to the shared broker.
    """

    def __init__(self, jars: Path, secrets: Path | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="annals-kafka-"))
        (self.root / "jars").symlink_to(jars)
        self.settings = StackSettings(
            dir=self.root,
            secrets_dir=secrets,
            kafka_port=free_port(),
            controller_port=free_port(),
            kafka_heap="-Xms128m -Xmx384m",
            start_timeout=90,
        )

    @property
    def bootstrap(self) -> str:
        """Its bootstrap address."""
        return self.settings.kafka_bootstrap

    def start(self) -> None:
        """Start (formatting its storage the first time) and wait until healthy."""
        kafka.start(self.settings)

    def stop(self) -> None:
        """Controlled shutdown."""
        kafka.stop(self.settings)

    def destroy(self) -> None:
        """Stop it and delete its folder."""
        kafka.stop(self.settings)
        shutil.rmtree(self.root, ignore_errors=True)
