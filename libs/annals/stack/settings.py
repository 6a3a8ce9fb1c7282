"""Where the local stack lives and how its parts are reached (env prefix ANNALS_STACK_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from annals.topology import topology

REPO_ROOT = Path(__file__).resolve().parents[3]

_DECLARED = topology()
# The declared services' and CDC sources' databases and the roles that own them (each owner
# runs its database's migrations).
DATABASE_OWNERS: dict[str, str] = {
    **{s.database: s.owner_role for s in _DECLARED.services.values()},
    **{s.database: s.owner_role for s in _DECLARED.sources.values()},
    "registry": "registry_owner",  # the schema registry's (annals.registry)
}
# Least-privilege login roles: which databases each may connect to (the services' own and the
# CDC role's, which reads the sources, come from the declarations). The CDC role reaches a
# service's database only while its outbox connector runs: `annals connectors apply` (and
# `annals publishers up`) grant that CONNECT, `annals stack up` revokes it
# (annals.connect.access).
APP_ROLES: dict[str, tuple[str, ...]] = {
    **{s.app_role: (s.database, *s.connects) for s in _DECLARED.services.values()},
    **{s.cdc_role: (s.database,) for s in _DECLARED.sources.values()},
    **{f"{database}_projector": (database,) for database in _DECLARED.read_model_databases},
    "keys_reader": (_DECLARED.key_holder.database,),
    "registry_app": ("registry",),
}
REPLICATION_ROLES = frozenset({"debezium"})
# The projector's role in each database it writes: CREATE on that database, so it owns the
# schemas it makes (projections, <name>_v<N>, view schemas) and has no right on any other.
PROJECTOR_ROLES: dict[str, str] = {
    database: f"{database}_projector" for database in _DECLARED.read_model_databases
}
# The event stores' databases: with split stores each runs on a PostgreSQL server of its own.
STORE_DATABASES: tuple[str, ...] = tuple(sorted(s.database for s in _DECLARED.of_kind("command")))
# Read-only role of the projector's key lookups: SELECT on eventstore.subject_keys, nothing else.
KEYS_READER = "keys_reader"


class StackSettings(BaseSettings):
    """Settings of the native stack; every value can be overridden with ANNALS_STACK_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="ANNALS_STACK_", extra="ignore")

    dir: Path = Field(default=REPO_ROOT / ".stack", description="state, jars, logs and pids")
    secrets_dir: Path | None = Field(
        default=None, description="the servers' secrets when not in dir/secrets (a second dir)"
    )
    repo: Path = Field(default=REPO_ROOT, description="checkout holding deploy/local")
    host: str = "127.0.0.1"
    pg_port: int = 55432
    pg_superuser: str = "postgres"
    pg_password: str = Field(
        default="annals-local",
        description="the old shared password: every role's without pg_least_privilege, else "
        "only the fallback that lets `annals stack up` reach a cluster made before role secrets",
    )
    pg_least_privilege: bool = Field(
        default=True,
        description="each role (the superuser too) has its own secret pg-<role> under "
        ".stack/secrets, and the projector writes through PROJECTOR_ROLES, not the owners",
    )
    pg_bin: Path | None = Field(default=None, description="PostgreSQL 15 bin folder")
    pg_split_stores: bool = Field(
        default=False,
        description="each event store on its own server (pg_stores.py); kept once made",
    )
    pg_store_port: int = Field(
        default=0, description="port of the first store server when split (0: pg_port + 1)"
    )
    pg_shared_buffers: str = "512MB"
    kafka_port: int = 9092
    controller_port: int = 9093
    kafka_brokers: int = Field(
        default=0, ge=0, le=5,
        description="KRaft nodes (broker and controller each) of a new stack; 3: replication "
        "factor 3, min.insync.replicas 2; 0: as the stack was formatted, 1 for a new one",
    )  # fmt: skip
    kafka_port_step: int = Field(
        default=2, description="node n listens on kafka_port and controller_port + step*(n-1)"
    )
    kafka_cluster_heap: str = Field(
        default="-Xms192m -Xmx512m", description="heap of each node of a cluster"
    )
    connect_port: int = 8083
    kafka_auth: Literal["none", "scram"] = Field(
        default="scram",
        description="SASL/SCRAM-SHA-512 listeners and ACLs per component (kafka_auth.py); "
        "none: plaintext, anyone who reaches the port may read and write (opt-out)",
    )
    kafka_sandbox_prefix: str = Field(
        default="sandbox",
        description="topics Connect may also write: the CDC sandboxes' `sandbox<id>.*` of tests "
        "and benchmarks (empty: none)",
    )
    kafka_subscribers: str = Field(
        default="subscriber", description="Kafka principals with subscriber rights (comma list)"
    )
    prometheus: bool = Field(
        default=True, description="run Prometheus (Debian's binary) scraping the platform"
    )
    prometheus_bin: str | None = Field(default=None, description="prometheus executable")
    prometheus_port: int = Field(default=0, description="0: connect_port + 1007 (9090)")
    prometheus_scrape_s: int = Field(default=5, ge=1, le=60, description="scrape interval")
    publisher_metrics_base: int = Field(
        default=0, description="publisher n's metrics on base+n (0: Prometheus's port + 10)"
    )
    connect_metrics_port: int = Field(
        default=0, description="Connect's JMX exporter port (0: Prometheus's port + 10)"
    )
    kafka_version: str = "4.3.1"
    debezium_version: str = "3.6.1.Final"
    jmx_exporter_version: str = "1.0.1"
    java: str | None = Field(default=None, description="java executable; else JAVA_HOME, PATH")
    mvn: str = "mvn"
    kafka_heap: str = "-Xms256m -Xmx768m"
    connect_heap: str = "-Xms256m -Xmx768m"
    start_timeout: float = 120.0

    @property
    def deploy_dir(self) -> Path:
        """deploy/local of the checkout: poms and config templates."""
        return self.repo / "deploy" / "local"

    @property
    def kafka_bootstrap(self) -> str:
        """Kafka bootstrap servers for clients (every node of a cluster)."""
        if self.kafka_brokers <= 1 and not (self.dir / "kafka" / "brokers").exists():
            return f"{self.host}:{self.kafka_port}"
        from annals.stack.kafka_nodes import bootstrap  # kafka_nodes imports this module

        return bootstrap(self)

    @property
    def connect_url(self) -> str:
        """Base URL of the Kafka Connect REST API."""
        return f"http://{self.host}:{self.connect_port}"

    def pg_password_of(self, role: str | None = None) -> str:
        """The password of `role` (the superuser by default): its own secret, or the shared one."""
        if not self.pg_least_privilege:
            return self.pg_password
        from annals.stack.secrets import secret  # secrets imports this module

        return secret(self, f"pg-{role or self.pg_superuser}")

    def dsn(self, database: str = "postgres", role: str | None = None) -> str:
        """The one DSN of `database` as `role` (the superuser by default), with its password."""
        user = role or self.pg_superuser
        password = quote(self.pg_password_of(user), safe="")
        return f"postgresql://{user}:{password}@{self.host}:{self.pg_port_of(database)}/{database}"

    @property
    def split_stores(self) -> bool:
        """True when each event store has a server of its own (set, or made so before)."""
        return self.pg_split_stores or (self.dir / "stores").is_dir()

    def pg_port_of(self, database: str) -> int:
        """The port of the server holding `database` (its own one for a split store)."""
        if database not in STORE_DATABASES or not self.split_stores:
            return self.pg_port
        first = self.pg_store_port or self.pg_port + 1
        return first + STORE_DATABASES.index(database)

    @property
    def logs_dir(self) -> Path:
        """Logs of every component."""
        return self.dir / "logs"

    @property
    def run_dir(self) -> Path:
        """Pid files and rendered configs."""
        return self.dir / "run"

    @property
    def jars_dir(self) -> Path:
        """Resolved jars: kafka/, connect/ and plugins/ kept apart."""
        return self.dir / "jars"

    def log(self, component: str) -> Path:
        """Log file of a component."""
        return self.logs_dir / f"{component}.log"

    def pid_file(self, component: str) -> Path:
        """Pid file of a component started by the stack."""
        return self.run_dir / f"{component}.pid"
