"""`annals tail <topic>`: follow a topic and pretty-print its events.

Following survives a Kafka restart: the consumer is rebuilt with back-off (annals.backoff) and
goes on after the last record it printed, so nothing is shown twice or skipped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition
from rich.console import Console
from rich.json import JSON

from annals.backoff import Backoff
from annals.messaging.cloudevents import CloudEvent, from_kafka
from annals.messaging.errors import MalformedEvent, MessagingError
from annals.messaging.security import client_security
from annals.messaging.settings import KafkaSettings
from annals.messaging.topics import describe_topics

console = Console(highlight=False)
log = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    """Add `annals tail` to app."""
    app.command("tail")(tail)


def tail(
    topic: Annotated[str, typer.Argument(help="topic to follow, e.g. orders.events")],
    from_beginning: Annotated[bool, typer.Option("--from-beginning")] = False,
    event_type: Annotated[
        str | None,
        typer.Option("--type", help="only this type (orders.OrderPlaced or OrderPlaced)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    max_records: Annotated[int | None, typer.Option("--max", help="stop after N events")] = None,
    timeout: Annotated[float | None, typer.Option(help="stop after N quiet seconds")] = None,
) -> None:
    """Follow a topic (from its end unless --from-beginning) and print each event."""
    try:
        asyncio.run(_tail(topic, from_beginning, event_type, as_json, max_records, timeout))
    except KafkaError as exc:
        console.print(f"[red]error[/red] {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from exc
    except KeyboardInterrupt:
        pass


@dataclass
class _Follow:
    """What the tail printed so far and where each partition goes on after a reconnect."""

    shown: int = 0
    quiet_since: float = field(default_factory=time.monotonic)
    partitions: list[TopicPartition] = field(default_factory=list)
    positions: dict[TopicPartition, int] = field(default_factory=dict)


async def _tail(
    topic: str,
    from_beginning: bool,
    event_type: str | None,
    as_json: bool,
    max_records: int | None,
    timeout: float | None,
) -> None:
    bootstrap = KafkaSettings().bootstrap
    try:
        [info] = await asyncio.wait_for(describe_topics(bootstrap, [topic]), 30)
    except MessagingError:
        console.print(f"[red]error[/red] topic {topic!r} does not exist")
        raise typer.Exit(1) from None
    state, backoff = _Follow(), Backoff(base=0.5, cap=10.0)
    state.partitions = [TopicPartition(topic, p) for p in sorted(info.leaders)]
    while True:
        try:
            if await _follow(bootstrap, topic, from_beginning, state, backoff,
                             (event_type, as_json, max_records, timeout)):  # fmt: skip
                return
        except (KafkaError, OSError) as exc:
            delay = backoff.next_delay()
            console.print(f"[yellow]Kafka unreachable ({type(exc).__name__}: {exc}), "
                          f"reconnecting in {delay:.1f}s[/yellow]", soft_wrap=True)  # fmt: skip
            await asyncio.sleep(delay)


async def _follow(
    bootstrap: str,
    topic: str,
    from_beginning: bool,
    state: _Follow,
    backoff: Backoff,
    options: tuple[str | None, bool, int | None, float | None],
) -> bool:
    """Print records until done (True) or Kafka fails (raises); resumes after `positions`."""
    event_type, as_json, max_records, timeout = options
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        **client_security("admin"),
        enable_auto_commit=False,
        request_timeout_ms=15_000,
    )
    await consumer.start()
    try:
        if not state.positions:  # the first connection fixes where the tail starts
            starts = consumer.beginning_offsets if from_beginning else consumer.end_offsets
            state.positions.update(await starts(state.partitions))
        consumer.assign(list(state.positions))
        for tp, position in state.positions.items():
            consumer.seek(tp, position)
        while max_records is None or state.shown < max_records:
            batches = await consumer.getmany(timeout_ms=500)
            backoff.reset()
            quiet = time.monotonic() - state.quiet_since
            if not batches and timeout is not None and quiet > timeout:
                return True
            for tp, records in batches.items():
                state.quiet_since = time.monotonic()
                for record in records:
                    state.positions[tp] = record.offset + 1
                    if _show(record, event_type, as_json):
                        state.shown += 1
                        if max_records is not None and state.shown >= max_records:
                            return True
        return True
    finally:
        await consumer.stop()


def _show(record: ConsumerRecord, event_type: str | None, as_json: bool) -> bool:
    try:
        event: CloudEvent | None = from_kafka(record.value, list(record.headers or ()))
    except MalformedEvent:
        event = None
    if event_type and (event is None or event_type not in (event.type, event.event_type)):
        return False
    where = f"{record.topic}/{record.partition}@{record.offset}"
    key = record.key.decode(errors="replace") if record.key is not None else None
    if as_json:
        line: dict[str, Any] = {"where": where, "key": key}
        if event is None:
            line["value"] = _raw(record.value)
        else:
            attributes = event.attributes()
            if event.time is not None:
                attributes["time"] = event.time.isoformat()
            line.update(attributes=attributes, data=event.data)
        print(json.dumps(line, default=str), flush=True)
        return True
    if event is None:
        console.print(f"[dim]{where}[/dim] key={key} (not a CloudEvent)")
        value = _raw(record.value)
        console.print(JSON.from_data(value) if not isinstance(value, str) else value)
        return True
    moment = event.time.isoformat(timespec="milliseconds") if event.time else "-"
    console.print(
        f"[cyan]{moment}[/cyan] [bold]{event.type}[/bold] {event.subject}"
        f"@{event.streamversion} [dim]{where} id={event.id}"
        f"{' corr=' + event.correlationid if event.correlationid else ''}[/dim]"
    )
    console.print(JSON.from_data(event.data))
    return True


def _raw(value: bytes | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return value.decode(errors="replace")
