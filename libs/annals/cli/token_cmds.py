"""`annals token --scope ...`: mint a local bearer token (HS256, the service's secret)."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from annals.web.auth import SCOPES, mint_token
from annals.web.settings import ServiceSettings


def register(app: typer.Typer) -> None:
    """Add `annals token` to app."""
    app.command(name="token")(token)


def _settings(service: str) -> ServiceSettings:
    from customers.settings import CustomersSettings
    from orders.settings import OrdersSettings

    kinds: dict[str, type[ServiceSettings]] = {
        "orders": OrdersSettings,
        "customers": CustomersSettings,
    }
    if service not in kinds:
        raise typer.BadParameter(f"unknown service {service!r}; choose orders or customers")
    return kinds[service]()


def token(
    scope: Annotated[
        list[str], typer.Option("--scope", "-s", help=f"repeatable: {', '.join(SCOPES)}")
    ],
    subject: Annotated[str, typer.Option(help="the token's subject (the actor)")] = "local-dev",
    ttl: Annotated[int, typer.Option(help="lifetime in seconds")] = 3600,
    service: Annotated[str, typer.Option(help="whose secret: orders or customers")] = "orders",
) -> None:
    """Print a signed token for the local services, e.g. `annals token -s orders:write -s read`."""
    scopes = [s for item in scope for s in item.replace(",", " ").split()]
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise typer.BadParameter(f"unknown scopes {unknown}; known: {', '.join(SCOPES)}")
    try:
        settings = _settings(service)
    except ValidationError as exc:
        typer.echo(f"error: invalid {service} settings: {exc}", err=True)
        raise typer.Exit(1) from None
    if settings.jwt_algorithm != "HS256":
        typer.echo("error: tokens are minted only for HS256 (RS256 tokens come from the issuer)")
        raise typer.Exit(1)
    typer.echo(mint_token(settings, scopes, subject=subject, ttl_seconds=ttl))
