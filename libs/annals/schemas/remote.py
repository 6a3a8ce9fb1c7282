"""A service's schemas in the schema registry (ANNALS_REGISTRY_URL): checked before it starts.

With a registry configured, a service (and its relay) starts only when every schema file of its
events is registered under its subject (`<topic>-<Type>.v<N>`, docs/schema-registry.md): records
name the schema by its URI in the registry (messaging's SchemaLocation), and that URI must answer.
A schema that is missing, or differs from what is registered, is a clear refusal naming the
subject and the fix, never a record whose `dataschema` does not resolve. Without the setting
nothing is checked and records name schemas/<service>/<Type>.v<N>.json as before.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from annals.messaging.cloudevents import subject_of
from annals.schemas.publish import schema_files
from annals.schemas.wire import DEFAULT_ROOT
from annals.topology import topology
from annals.web.auth import mint_token
from annals.web.settings import ServiceSettings

AUDIENCE = "registry"
REGISTER = "run `annals schemas register`"


class SchemasNotRegistered(RuntimeError):
    """The registry lacks (or contradicts) a schema of the service: it must not start."""


class RegistryLink(BaseSettings):
    """How a service reaches the registry: ANNALS_REGISTRY_URL, _PUBLIC_URL, _TOKEN."""

    model_config = SettingsConfigDict(env_prefix="ANNALS_REGISTRY_", extra="ignore")

    url: str = Field(default="", description="the registry's base URL (empty: no registry)")
    public_url: str = Field(default="", description="the base URL records name (default: url)")
    token: SecretStr | None = Field(default=None, description="a `read` token of audience registry")
    timeout: float = Field(default=5.0, gt=0, le=60)

    @property
    def public(self) -> str | None:
        """The base URL that goes into records' `dataschema`, or None without a registry."""
        return (self.public_url or self.url).rstrip("/") or None

    def bearer(self, settings: ServiceSettings) -> str:
        """The configured token, else a short `read` token signed with the platform's HS256
        secret (which the service holds to verify its own callers)."""
        if self.token is not None and self.token.get_secret_value():
            return self.token.get_secret_value()
        if settings.jwt_algorithm != "HS256":
            raise SchemasNotRegistered(
                "ANNALS_REGISTRY_URL is set but ANNALS_REGISTRY_TOKEN is not: with "
                f"{settings.jwt_algorithm} tokens the registry needs a `read` token of audience "
                "registry"
            )
        return mint_token(
            settings, ["read"], subject=f"service:{settings.service}", audience=AUDIENCE,
            ttl_seconds=300,
        )  # fmt: skip


def missing_schemas(
    client: httpx.Client, service: str, topic: str, root: Path = DEFAULT_ROOT
) -> list[str]:
    """Each schema file of `service` the registry lacks or contradicts, with why and the fix."""
    problems = []
    for event_type, version, path in schema_files(root, service):
        subject = subject_of(topic, event_type, version)
        body = {"schema": json.dumps(json.loads(path.read_text())), "schemaType": "JSON"}
        answer = client.post(f"/subjects/{subject}", json=body)
        if answer.status_code == 200:
            continue
        problems.append(f"{subject}: {_why(client, subject, body, answer)}")
    return problems


def _why(client: httpx.Client, subject: str, body: dict[str, str], answer: httpx.Response) -> str:
    code = _error_code(answer)
    if code == 40401:
        return f"not registered ({REGISTER})"
    if code != 40403:
        return f"the registry answered {answer.status_code}: {answer.text[:200]}"
    test = client.post(f"/compatibility/subjects/{subject}/versions/latest", json=body)
    if test.status_code == 200 and test.json().get("is_compatible") is False:
        return (
            f"schemas/{_file(subject)} is incompatible with the registered schema (the registry "
            "refuses it with 409): bump the event's schema_version and add an upcaster"
        )
    return f"schemas/{_file(subject)} differs from the registered schema ({REGISTER})"


def _file(subject: str) -> str:
    return subject.partition("-")[2] + ".json"


def _error_code(answer: httpx.Response) -> int | None:
    try:
        code = answer.json().get("error_code")
    except (json.JSONDecodeError, AttributeError):
        return None
    return code if isinstance(code, int) else None


def require_registered(
    service: str,
    settings: ServiceSettings,
    link: RegistryLink | None = None,
    root: Path = DEFAULT_ROOT,
) -> None:
    """Raise SchemasNotRegistered unless the registry (if configured) has each of its schemas."""
    link = link or RegistryLink()
    declared = topology().services.get(service)
    if not link.url or declared is None or not declared.topic:
        return
    headers = {"Authorization": f"Bearer {link.bearer(settings)}"}
    try:
        with httpx.Client(base_url=link.url, headers=headers, timeout=link.timeout) as client:
            problems = missing_schemas(client, service, declared.topic, root)
    except httpx.HTTPError as exc:
        raise SchemasNotRegistered(
            f"{service} does not start: the schema registry at {link.url} does not answer ({exc!r})"
        ) from None
    if problems:
        raise SchemasNotRegistered(
            f"{service} does not start: its event schemas are not in the registry at "
            f"{link.url}:\n  " + "\n  ".join(problems)
        )
