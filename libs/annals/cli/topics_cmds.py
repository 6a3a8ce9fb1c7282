"""`annals topics ensure|describe`: the event topics and their retention."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.table import Table

from annals.messaging.errors import MessagingError
from annals.messaging.settings import KafkaSettings, PublisherSettings
from annals.messaging.topics import describe_topics, ensure_topics, event_topic_specs

console = Console(highlight=False)
TIMEOUT = 60.0  # a one-shot command never waits longer on Kafka
topics_app = typer.Typer(help="Kafka topics of the platform.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `annals topics ...` to app."""
    app.add_typer(topics_app, name="topics")


def _event_topics(kafka: KafkaSettings) -> list[str]:
    return [PublisherSettings.for_service(s).topic for s in kafka.service_names]


@topics_app.command()
def ensure(
    topics: Annotated[
        list[str] | None, typer.Argument(help="topics; default: every service's event topic")
    ] = None,
    partitions: Annotated[int | None, typer.Option(help="default ANNALS_KAFKA_PARTITIONS")] = None,
) -> None:
    """Create missing topics (unlimited retention); fix retention of existing ones."""
    kafka = KafkaSettings()
    names = topics or _event_topics(kafka)
    specs = event_topic_specs(names, partitions or kafka.partitions, kafka.replication_factor)
    try:
        results = asyncio.run(asyncio.wait_for(ensure_topics(kafka.bootstrap, specs), TIMEOUT))
    except (KafkaError, MessagingError, OSError) as exc:
        console.print(f"[red]error[/red] {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from exc
    for result in results:
        note = f" ({result.note})" if result.note else ""
        console.print(f"[green]✓[/green] {result.name}: {result.action}{note}")


@topics_app.command()
def describe(
    topics: Annotated[list[str] | None, typer.Argument(help="topics; default: all")] = None,
) -> None:
    """Partitions, leaders, records and retention of topics."""
    kafka = KafkaSettings()
    try:
        infos = asyncio.run(asyncio.wait_for(describe_topics(kafka.bootstrap, topics), TIMEOUT))
    except (KafkaError, MessagingError, OSError) as exc:
        console.print(f"[red]error[/red] {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from exc
    table = Table(title=f"topics at {kafka.bootstrap}")
    for column in ("topic", "partitions", "records", "leaders", "retention.ms", "config"):
        table.add_column(column, overflow="fold")
    for info in infos:
        leaders = ",".join(str(info.leaders[p]) for p in sorted(info.leaders))
        rest = " ".join(f"{k}={v}" for k, v in info.config.items() if k != "retention.ms")
        table.add_row(
            info.name,
            str(info.partitions),
            str(info.records),
            leaders,
            info.config.get("retention.ms", "?"),
            rest,
        )
    console.print(table)
