"""`annals token --scope ...`: mint a bearer token for local use (HS256, the shared secret).

Tokens name the services they are for (`--aud`) and live `--ttl` seconds, at most the services'
`jwt_max_lifetime`. With the development secret (or in development mode) `--aud` defaults to
every service; with a real secret the audience must be named.
"""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from annals.web.auth import SCOPES, mint_token
from annals.web.settings import AUDIENCES, ServiceSettings


def register(app: typer.Typer) -> None:
    """Add `annals token` to app."""
    app.command(name="token")(token)


def _split(values: list[str]) -> list[str]:
    return [v for item in values for v in item.replace(",", " ").split()]


def _audience(aud: list[str], settings: ServiceSettings) -> list[str]:
    names = _split(aud)
    unknown = sorted(set(names) - set(AUDIENCES))
    if unknown:
        raise typer.BadParameter(f"unknown audiences {unknown}; known: {', '.join(AUDIENCES)}")
    if names:
        return names
    if settings.dev_mode or settings.uses_unsafe_secret:
        return list(AUDIENCES)
    raise typer.BadParameter("name the token's audience: --aud orders, customers or query")


def token(
    scope: Annotated[
        list[str], typer.Option("--scope", "-s", help=f"repeatable: {', '.join(SCOPES)}")
    ],
    aud: Annotated[
        list[str] | None,
        typer.Option(
            "--aud", "-a", help="repeatable: orders, customers, query (default: all, dev)"
        ),
    ] = None,
    subject: Annotated[str, typer.Option(help="the token's subject (the actor)")] = "local-dev",
    ttl: Annotated[
        int, typer.Option(min=1, help="lifetime in seconds (≤ jwt_max_lifetime)")
    ] = 3600,
) -> None:
    """Print a signed token for the local services, e.g. `annals token -s orders:write -s read`."""
    scopes = _split(scope)
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise typer.BadParameter(f"unknown scopes {unknown}; known: {', '.join(SCOPES)}")
    from orders.settings import OrdersSettings  # the shared ANNALS_JWT_* settings

    try:
        settings: ServiceSettings = OrdersSettings()
    except ValidationError as exc:
        typer.echo(f"error: invalid token settings: {exc}", err=True)
        raise typer.Exit(1) from None
    if settings.jwt_algorithm != "HS256":
        typer.echo("error: tokens are minted only for HS256 (RS256/ES256 come from the issuer)")
        raise typer.Exit(1)
    if ttl > settings.jwt_max_lifetime:
        raise typer.BadParameter(f"--ttl exceeds jwt_max_lifetime ({settings.jwt_max_lifetime} s)")
    audience = _audience(aud or [], settings)
    typer.echo(mint_token(settings, scopes, subject=subject, ttl_seconds=ttl, audience=audience))
