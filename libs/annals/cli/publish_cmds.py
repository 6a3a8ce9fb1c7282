"""`annals publish <service>` and `annals publishers up|down|status`: event store -> Kafka."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Annotated

import asyncpg
import typer
from rich.console import Console
from rich.table import Table

from annals.connect import access, slots
from annals.connect.client import ConnectClient
from annals.connect.configs import load_spec
from annals.connect.errors import ConnectError, ConnectUnavailable
from annals.eventstore.settings import ServiceDatabase
from annals.messaging import health, workers
from annals.messaging.errors import MessagingError
from annals.messaging.runner import serve
from annals.messaging.settings import KafkaSettings, PublisherSettings
from annals.stack.settings import StackSettings

console = Console(highlight=False, width=max(Console().width, 120))
publishers_app = typer.Typer(
    help="Publishers of every service (ANNALS_KAFKA_SERVICES): relay workers or Debezium outbox.",
    no_args_is_help=True,
)
FAILURES = (OSError, asyncpg.PostgresError, MessagingError, ConnectError)


def register(app: typer.Typer) -> None:
    """Add `annals publish` and `annals publishers ...` to app."""
    app.command("publish")(publish)
    app.add_typer(publishers_app, name="publishers")


def publish(
    service: Annotated[str, typer.Argument(help="service whose events to publish (orders, ...)")],
    detach: Annotated[
        bool, typer.Option(help="run in the background (.stack/ pid and log)")
    ] = False,
) -> None:
    """Relay the service's events to `<service>.events` (runs until SIGTERM/SIGINT)."""
    settings = PublisherSettings.for_service(service)
    if settings.publisher != "relay":
        console.print(
            f"{service} publishes through Debezium (ANNALS_{service.upper()}_PUBLISHER="
            f"{settings.publisher}): run `annals publishers up` to apply its outbox connector"
        )
        raise typer.Exit(2)
    if detach:
        _fail_on(_prepare, service)
        pid = workers.start(service)
        console.print(f"[green]✓[/green] publisher {service}: pid {pid}, log "
                      f"{StackSettings().log(workers.component(service))}")  # fmt: skip
        return
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(serve(service))


def _prepare(service: str) -> None:
    asyncio.run(workers.prepare(service))


def _fail_on(action: Callable[[str], object], service: str) -> None:
    try:
        action(service)
    except FAILURES as exc:
        console.print(f"[red]error[/red] {type(exc).__name__}: {exc}", soft_wrap=True)
        raise typer.Exit(1) from exc


@publishers_app.command()
def up() -> None:
    """Prepare each service (migrations, topic); start its relay or apply its outbox connector."""
    for service in KafkaSettings().service_names:
        mode = PublisherSettings.for_service(service).publisher
        _fail_on(_prepare, service)
        if mode == "relay":
            _fail_on(_remove_outbox, service)
            pid = workers.start(service)
            console.print(f"[green]✓[/green] publisher {service}: relay, pid {pid}")
        else:
            workers.stop(service)
            _fail_on(_apply_outbox, service)
            console.print(f"[green]✓[/green] publisher {service}: Debezium outbox connector")


def _apply_outbox(service: str) -> None:
    stack = StackSettings()
    spec = load_spec(workers.outbox_config(service, stack), stack)
    access.allow(stack, spec.config)
    with ConnectClient(stack.connect_url) as client:
        client.apply(spec)


def _remove_outbox(service: str) -> None:
    """Relay mode: an outbox connector left from Debezium mode would publish twice."""
    stack = StackSettings()
    path = workers.outbox_config(service, stack)
    if not path.exists():
        return
    spec = load_spec(path, stack)
    try:
        with ConnectClient(stack.connect_url) as client:
            if client.config(spec.name) is None:
                return
            client.delete(spec.name)
    except ConnectUnavailable as exc:
        console.print(f"[yellow]warning[/yellow] cannot check for connector {spec.name}: {exc}")
        return
    asyncio.run(slots.drop_connector_slot(spec.config))
    access.disallow(stack, spec.config)
    console.print(f"  removed connector {spec.name}, its slot and its CONNECT (relay mode)")


@publishers_app.command()
def down() -> None:
    """Stop every detached relay worker."""
    for service in KafkaSettings().service_names:
        if workers.stop(service):
            console.print(f"[green]✓[/green] publisher {service} stopped")


@publishers_app.command()
def status() -> None:
    """Each service's publisher: mode, pid, checkpoint, unpublished events, lock holder, state."""
    table = Table(title="annals publishers")
    columns = ("service", "mode", "topic", "pid", "checkpoint", "unpublished", "holder", "state")
    for column in columns:
        table.add_column(column)
    ok = True
    notes: list[str] = []
    for row in workers.statuses(KafkaSettings().service_names):
        pid = str(row.pid) if row.pid else ("-" if row.mode != "relay" else "[red]down[/red]")
        ok = ok and (row.pid is not None or row.mode != "relay") and not row.error
        lag = row.error[:60] if row.error else str(row.lag) if row.mode == "relay" else "-"
        holder, state = "-", "-"
        if row.mode == "relay":
            lead = asyncio.run(_leadership(row.service))
            holder = _holder(lead)
            state, note = _state(lead)
            ok = ok and lead.holder is not None
            if lead.holder is not None:
                notes.append(
                    f"{row.service}: lock holder {lead.holder} since {lead.holder_since} "
                    f"({lead.detail})"
                )
            if note:
                notes.append(f"{row.service}: {note}")
        table.add_row(row.service, row.mode, row.topic, pid, row.checkpoint, lag, holder, state)
    console.print(table)
    for note in notes:
        console.print(f"  {note}", soft_wrap=True)
    if not ok:
        raise typer.Exit(1)


async def _leadership(service: str) -> health.Leadership:
    settings = PublisherSettings.for_service(service)
    folder = health.status_dir(settings.publisher_status_dir)
    return await health.leadership(
        ServiceDatabase.for_service(service).dsn, settings.publisher_name, folder
    )


def _holder(lead: health.Leadership) -> str:
    if lead.holder is None:
        return "[red]none[/red]" if not lead.error else "[red]?[/red]"
    return lead.holder


def _state(lead: health.Leadership) -> tuple[str, str]:
    """The active process's state and a note on the last error or publish."""
    now = time.time()
    mine = lead.active or max(lead.processes, key=lambda h: h.updated_at, default=None)
    if mine is None:
        return "-", lead.error
    if mine.stale(now):
        return (
            "[red]no report[/red]",
            f"status of pid {mine.pid} is {now - mine.updated_at:.0f}s old",
        )
    state = mine.state if mine.state == "active" else f"[yellow]{mine.state}[/yellow]"
    note = f"last publish {mine.seconds_since_publish(now):.0f}s ago"
    if mine.last_error and mine.last_error_at is not None:
        note += f"; last error {now - mine.last_error_at:.0f}s ago: {mine.last_error[:200]}"
    if lead.error:
        note += f"; {lead.error}"
    return state, note
