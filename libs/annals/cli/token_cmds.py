"""`annals token --scope ...`: mint a bearer token for local use (HS256, the shared secret).

Tokens name the services they are for (`--aud`) and live `--ttl` seconds, at most the services'
`jwt_max_lifetime`. With the development secret (or in development mode) `--aud` defaults to
every service; with a real secret the audience must be named.
"""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from annals.topology import resolve, topology
from annals.web.auth import audiences, mint_token, scopes
from annals.web.settings import ServiceSettings


def register(app: typer.Typer) -> None:
    """Add `annals token` to app."""
    app.command(name="token")(token)


def _split(values: list[str]) -> list[str]:
    return [v for item in values for v in item.replace(",", " ").split()]


def _audience(aud: list[str], settings: ServiceSettings) -> list[str]:
    names, known = _split(aud), audiences()
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise typer.BadParameter(f"unknown audiences {unknown}; known: {', '.join(known)}")
    if names:
        return names
    if settings.dev_mode or settings.uses_unsafe_secret:
        return list(known)
    raise typer.BadParameter(f"name the token's audience: --aud {' or '.join(known)}")


def token(
    scope: Annotated[
        list[str], typer.Option("--scope", "-s", help="repeatable: a declared scope, or admin")
    ],
    aud: Annotated[
        list[str] | None,
        typer.Option("--aud", "-a", help="repeatable: a declared service (default: all, dev)"),
    ] = None,
    subject: Annotated[str, typer.Option(help="the token's subject (the actor)")] = "local-dev",
    ttl: Annotated[
        int, typer.Option(min=1, help="lifetime in seconds (≤ jwt_max_lifetime)")
    ] = 3600,
) -> None:
    """Print a signed token for the local services, e.g. `annals token -s orders:write -s read`."""
    wanted, known = _split(scope), scopes()
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise typer.BadParameter(f"unknown scopes {unknown}; known: {', '.join(known)}")
    # The ANNALS_JWT_* settings every service shares, read through a declared service's class.
    settings_class = resolve(topology().of_kind("command")[0].settings)
    try:
        settings: ServiceSettings = settings_class()
    except ValidationError as exc:
        typer.echo(f"error: invalid token settings: {exc}", err=True)
        raise typer.Exit(1) from None
    if settings.jwt_algorithm != "HS256":
        typer.echo("error: tokens are minted only for HS256 (RS256/ES256 come from the issuer)")
        raise typer.Exit(1)
    if ttl > settings.jwt_max_lifetime:
        raise typer.BadParameter(f"--ttl exceeds jwt_max_lifetime ({settings.jwt_max_lifetime} s)")
    audience = _audience(aud or [], settings)
    typer.echo(mint_token(settings, wanted, subject=subject, ttl_seconds=ttl, audience=audience))
