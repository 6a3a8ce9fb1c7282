"""Connector config files (deploy/connect/*.json) rendered for one stack.

A file is Connect's own format, `{"name": ..., "config": {...}}`. Values may hold
`${annals:<variable>}` placeholders, filled in by `annals connectors apply` from StackSettings
and the environment, so no secret or address is written in the file:

| placeholder | value |
|---|---|
| `${annals:pg_host}`, `${annals:pg_port}` | PostgreSQL of the stack (ANNALS_STACK_HOST/PG_PORT) |
| `${annals:kafka_bootstrap}` | Kafka bootstrap servers |
| `${annals:connect_secrets}` | the worker's FileConfigProvider file (annals.connect.secrets) |
| `${annals:debezium_password}` | a reference to the password, never the password: |
| | `${file:<that file>:debezium_password}`, or `${env:ANNALS_DEBEZIUM_PASSWORD}` with |
| | ANNALS_CONNECT_SECRETS=env (compose's worker) |

Secrets are never rendered: a password setting holds a config-provider reference that the
worker resolves when a task starts, so `apply` sends, and Connect stores, no password.

An optional `"annals": {"enabled_when": {"ENV_VAR": "value"}}` block makes `annals connectors
apply` (without file arguments) skip the connector unless the environment matches; Connect
never sees that block.

Other `${provider:...}` references (Kafka's FileConfigProvider, EnvVarConfigProvider) are left
untouched for the worker to resolve, which keeps secrets out of Connect's config topic.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from annals.connect import secrets
from annals.connect.errors import ConfigFileError
from annals.stack.settings import STORE_DATABASES, StackSettings

PLACEHOLDER = re.compile(r"\$\{annals:([A-Za-z0-9_]+)\}")
SECRET_WORDS = ("password", "secret", "token", "credential")


def deploy_dir(settings: StackSettings | None = None) -> Path:
    """deploy/connect/ of the checkout."""
    return (settings or StackSettings()).repo / "deploy" / "connect"


def variables(settings: StackSettings, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Values of the `${annals:...}` placeholders for this stack and environment."""
    env = os.environ if env is None else env
    return {
        "pg_host": settings.host,
        "pg_port": str(settings.pg_port),
        **{f"pg_port:{db}": str(settings.pg_port_of(db)) for db in STORE_DATABASES},
        "kafka_bootstrap": settings.kafka_bootstrap,
        "connect_secrets": secrets.provider_file(settings),
        "debezium_password": secrets.reference(settings, secrets.DEBEZIUM_KEY, env),
    }


@dataclass(frozen=True)
class ConnectorSpec:
    """A connector's name and rendered config (every value a string, as Connect stores them)."""

    name: str
    config: dict[str, str]
    source: Path | None = None
    enabled_when: Mapping[str, str] = field(default_factory=dict)

    def enabled(self, env: Mapping[str, str] | None = None) -> bool:
        """True unless an `enabled_when` condition does not hold in the environment."""
        env = os.environ if env is None else env
        return all(env.get(name) == value for name, value in self.enabled_when.items())

    def masked(self) -> dict[str, str]:
        """The config with secret values replaced by `***`, for printing."""
        return {key: "***" if is_secret(key) else value for key, value in self.config.items()}

    def with_overrides(
        self, overrides: Mapping[str, str], name: str | None = None
    ) -> ConnectorSpec:
        """A copy with settings replaced, optionally under another name."""
        config = {**self.config, **overrides}
        return ConnectorSpec(name or self.name, config, self.source, self.enabled_when)


def is_secret(key: str) -> bool:
    """True for settings whose values must not be printed."""
    return any(word in key.lower() for word in SECRET_WORDS)


def render(value: str, values: Mapping[str, str], where: str) -> str:
    """Fill the `${annals:...}` placeholders of one value."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            known = ", ".join(sorted(values))
            raise ConfigFileError(
                f"{where}: unknown placeholder ${{annals:{name}}} (known: {known})"
            )
        return values[name]

    return PLACEHOLDER.sub(fill, value)


def parse_spec(
    document: object, values: Mapping[str, str], where: str = "<config>"
) -> ConnectorSpec:
    """A ConnectorSpec from a parsed `{"name", "config"}` document."""
    if not isinstance(document, dict):
        raise ConfigFileError(f"{where}: expected a JSON object with `name` and `config`")
    name, config = document.get("name"), document.get("config")
    if not isinstance(name, str) or not name:
        raise ConfigFileError(f"{where}: `name` must be a non-empty string")
    if not isinstance(config, dict) or not config:
        raise ConfigFileError(f"{where}: `config` must be a non-empty object")
    rendered: dict[str, str] = {}
    # ${annals:pg_port} is the port of the server holding the connector's database (split stores).
    own_port = values.get(f"pg_port:{config.get('database.dbname')}")
    if own_port is not None:
        values = {**values, "pg_port": own_port}
    for key, raw in config.items():
        if isinstance(raw, dict | list) or raw is None:
            raise ConfigFileError(f"{where}: {key} must be a string, number or boolean")
        text = str(raw).lower() if isinstance(raw, bool) else str(raw)
        rendered[str(key)] = render(text, values, f"{where}: {key}")
    if "name" in rendered and rendered["name"] != name:
        raise ConfigFileError(f"{where}: config.name {rendered['name']!r} differs from {name!r}")
    rendered.pop("name", None)
    return ConnectorSpec(name, rendered, enabled_when=_enabled_when(document, where))


def _enabled_when(document: Mapping[str, object], where: str) -> dict[str, str]:
    extra = document.get("annals") or {}
    conditions = extra.get("enabled_when", {}) if isinstance(extra, dict) else None
    if not isinstance(conditions, dict):
        raise ConfigFileError(f"{where}: annals.enabled_when must be an object of env values")
    return {str(k): str(v) for k, v in conditions.items()}


def load_spec(
    path: Path,
    settings: StackSettings | None = None,
    env: Mapping[str, str] | None = None,
) -> ConnectorSpec:
    """Read and render one connector config file."""
    settings = settings or StackSettings()
    try:
        document = json.loads(path.read_text())
    except OSError as error:
        raise ConfigFileError(f"{path}: cannot read ({error.strerror or error})") from None
    except json.JSONDecodeError as error:
        raise ConfigFileError(f"{path}: not valid JSON ({error})") from None
    spec = parse_spec(document, variables(settings, env), str(path))
    return ConnectorSpec(spec.name, spec.config, path, spec.enabled_when)


def discover(folder: Path | None = None) -> list[Path]:
    """The connector config files of a folder (deploy/connect/ by default), sorted."""
    folder = folder or deploy_dir()
    if not folder.is_dir():
        raise ConfigFileError(f"{folder}: no such folder of connector configs")
    return sorted(folder.glob("*.json"))
