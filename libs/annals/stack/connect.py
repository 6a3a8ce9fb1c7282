"""Kafka Connect 4.3 (distributed worker) with the Debezium PostgreSQL plugin on plugin.path.

Its REST API requires Basic auth (a JAAS login from annals.connect.secrets) and its connectors
read their passwords through a FileConfigProvider limited to .stack/secrets. It runs with
Prometheus' JMX exporter agent, its metrics on Prometheus's port + 10 (9100 by default,
annals.stack.prometheus.connect_port).
"""

from __future__ import annotations

import httpx

from annals.connect import secrets
from annals.stack import jars, jvm, prometheus
from annals.stack.errors import StackError
from annals.stack.procs import ensure_port_free, read_pid, stop_pid
from annals.stack.secrets import secrets_dir
from annals.stack.settings import StackSettings

NAME = "connect"
DEBEZIUM_CLASS = "io.debezium.connector.postgresql.PostgresConnector"


def start(settings: StackSettings) -> None:
    """Start the worker unless it runs already, then wait until REST and the plugin answer."""
    if read_pid(settings.pid_file(NAME)) is None:
        ensure_port_free(NAME, settings.host, settings.connect_port, "ANNALS_STACK_CONNECT_PORT")
        metrics = prometheus.connect_port(settings)
        ensure_port_free(NAME, settings.host, metrics, "ANNALS_STACK_CONNECT_METRICS_PORT")
        jaas = secrets.write_rest_login(settings)
        secrets.write_provider_file(settings)
        config = jvm.render(
            settings,
            "connect-distributed.properties",
            settings.run_dir / "connect-distributed.properties",
            plugin_path=settings.jars_dir / "plugins",
            secrets_dir=secrets_dir(settings),
        )
        command = jvm.java_command(
            settings, NAME, settings.jars_dir / "connect", settings.connect_heap,
            "org.apache.kafka.connect.cli.ConnectDistributed", str(config),
        )  # fmt: skip
        command[1:1] = [f"-Djava.security.auth.login.config={jaas}", agent(settings)]
        jvm.launch(settings, NAME, command)
    jvm.wait_healthy(
        settings, NAME, lambda: healthy(settings), f"GET /connectors and {DEBEZIUM_CLASS}"
    )


def agent(settings: StackSettings) -> str:
    """The -javaagent option of the JMX exporter, serving on metrics_port."""
    found = sorted(jars.jmx_dir(settings).glob("jmx_prometheus_javaagent-*.jar"))
    if not found:
        raise StackError(NAME, "the JMX exporter agent is not resolved", "run `annals stack up`")
    config = settings.deploy_dir / "config" / "connect-jmx.yml"
    metrics = prometheus.connect_port(settings)
    return f"-javaagent:{found[-1]}={settings.host}:{metrics}:{config}"


def healthy(settings: StackSettings) -> bool:
    """True when GET /connectors answers and the Debezium connector class is loaded."""
    try:
        auth = secrets.rest_auth(settings)
        with httpx.Client(base_url=settings.connect_url, timeout=5, auth=auth) as client:
            if client.get("/connectors").status_code != 200:
                return False
            plugins = client.get("/connector-plugins")
    except httpx.HTTPError:
        return False
    return plugins.status_code == 200 and any(
        p.get("class") == DEBEZIUM_CLASS for p in plugins.json()
    )


def stop(settings: StackSettings) -> bool:
    """Stop the worker; True when it was running."""
    return stop_pid(settings.pid_file(NAME), grace=60)
