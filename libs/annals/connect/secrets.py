"""Connect's credentials: the REST API's Basic-auth login and the secrets its connectors use.

Connect's REST API answers only with HTTP Basic credentials (Kafka's
`BasicAuthSecurityRestExtension` against a JAAS property-file login); every client takes them
from `rest_auth(settings)`. Connector configs never carry a password: they name it with a
`${file:<provider file>:<key>}` reference that the worker's FileConfigProvider resolves when a
task starts, so neither GET /connectors/<name>/config nor the config topic holds it. All files
live under .stack/secrets with mode 0600.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from annals.stack.secrets import secret, secrets_dir
from annals.stack.settings import StackSettings

REST_USER = "annals-admin"
JAAS_CONTEXT = "KafkaConnect"  # the login context BasicAuthSecurityRestExtension uses
LOGIN_MODULE = "org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule"
PROVIDER_FILE = "connect-provider.properties"
DEBEZIUM_KEY = "debezium_password"
REFERENCE = re.compile(r"^\$\{file:([^}:]+):([^}:]+)\}$")
ENV_REFERENCE = re.compile(r"^\$\{env:([A-Za-z0-9_]+)\}$")


def rest_auth(settings: StackSettings) -> tuple[str, str]:
    """User and password of Connect's REST API (secret `connect-admin`)."""
    return REST_USER, secret(settings, "connect-admin")


def debezium_password(settings: StackSettings, env: Mapping[str, str] | None = None) -> str:
    """The debezium role's password: ANNALS_DEBEZIUM_PASSWORD, else the stack's one for it."""
    env = os.environ if env is None else env
    given = env.get("ANNALS_DEBEZIUM_PASSWORD")
    if given:
        return given
    per_role = getattr(settings, "pg_password_of", None)  # per-role secrets when the stack has them
    return str(per_role("debezium")) if per_role is not None else settings.pg_password


def provider_file(settings: StackSettings) -> str:
    """The file the native worker's FileConfigProvider reads the connectors' secrets from."""
    return str(secrets_dir(settings) / PROVIDER_FILE)


def reference(settings: StackSettings, key: str, env: Mapping[str, str] | None = None) -> str:
    """The reference a connector config holds instead of the secret: `${file:<file>:key}`, or
    `${env:ANNALS_<KEY>}` when ANNALS_CONNECT_SECRETS=env (compose's EnvVarConfigProvider)."""
    env = os.environ if env is None else env
    if env.get("ANNALS_CONNECT_SECRETS") == "env":
        return "${env:ANNALS_" + key.upper() + "}"
    return "${file:" + provider_file(settings) + ":" + key + "}"


def write_provider_file(settings: StackSettings) -> Path:
    """Write the secrets the worker's FileConfigProvider reads (0600); return the file."""
    path = secrets_dir(settings) / PROVIDER_FILE
    _write_private(path, f"{DEBEZIUM_KEY}={_escape(debezium_password(settings))}\n")
    return path


def write_rest_login(settings: StackSettings) -> Path:
    """Write the JAAS file and its user file for the REST API's Basic auth; return the JAAS file."""
    folder = secrets_dir(settings)
    users = folder / "connect-rest-users.properties"
    user, password = rest_auth(settings)
    _write_private(users, f"{user}={_escape(password)}\n")
    jaas = folder / "connect-rest-jaas.conf"
    _write_private(jaas, f'{JAAS_CONTEXT} {{\n  {LOGIN_MODULE} required\n  file="{users}";\n}};\n')
    return jaas


def resolve(value: str) -> str:
    """The secret a `${file:path:key}` or `${env:NAME}` reference names, else value."""
    named = ENV_REFERENCE.match(value)
    if named is not None:
        return os.environ.get(named.group(1), value)
    match = REFERENCE.match(value)
    if match is None:
        return value
    path, key = match.groups()
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return value
    for line in lines:
        name, _, raw = line.partition("=")
        if name.strip() == key:
            return _unescape(raw.lstrip())
    return value


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def _escape(value: str) -> str:
    """A value for a Java properties line: backslashes and a leading blank escaped."""
    escaped = value.replace("\\", "\\\\")
    return "\\" + escaped if escaped[:1] in (" ", "\t") else escaped


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)
