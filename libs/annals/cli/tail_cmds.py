"""`annals tail <topic>`: follow a topic and pretty-print its events."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, Any

import typer
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from rich.console import Console
from rich.json import JSON

from annals.messaging.cloudevents import CloudEvent, from_kafka
from annals.messaging.errors import MalformedEvent
from annals.messaging.settings import KafkaSettings

console = Console(highlight=False)


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


async def _tail(
    topic: str,
    from_beginning: bool,
    event_type: str | None,
    as_json: bool,
    max_records: int | None,
    timeout: float | None,
) -> None:
    bootstrap = KafkaSettings().bootstrap
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        exists = topic in await admin.list_topics()
    finally:
        await admin.close()
    if not exists:
        console.print(f"[red]error[/red] topic {topic!r} does not exist")
        raise typer.Exit(1)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
    )
    await consumer.start()
    try:
        shown, quiet_since = 0, time.monotonic()
        while max_records is None or shown < max_records:
            batches = await consumer.getmany(timeout_ms=500)
            if not batches and timeout is not None and time.monotonic() - quiet_since > timeout:
                return
            for records in batches.values():
                quiet_since = time.monotonic()
                for record in records:
                    if _show(record, event_type, as_json):
                        shown += 1
                        if max_records is not None and shown >= max_records:
                            return
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
