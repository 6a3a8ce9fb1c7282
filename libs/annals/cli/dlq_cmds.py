"""`annals dlq list|show|replay <group>`: a consumer group's dead letters, and their repair.

Reading a DLQ uses no consumer group, so nobody's position moves. Replay is for projector
groups (`projector.<name>`): each record goes through the projection's normal apply path,
once per (stream, version) — replaying twice changes nothing — and the projector's own
positions never move (annals.projections.repair). A subscriber's dead letters are replayed by
its own process (`Subscriber.replay_dead_letters`), which holds its handler.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from annals.messaging.dlq import dlq_topic, read_dead_letters, read_dlq_headers
from annals.projections.settings import ProjectorSettings

console = Console(highlight=False, soft_wrap=True)
dlq_app = typer.Typer(help="Dead letters of a consumer group: list, show, replay.",
                      no_args_is_help=True)  # fmt: skip
Group = Annotated[str, typer.Argument(help="consumer group, e.g. projector.order_summary")]


def register(app: typer.Typer) -> None:
    """Add `annals dlq ...` to app."""
    app.add_typer(dlq_app, name="dlq")


def _letters(group: str, offsets: list[int] | None = None) -> list[Any]:
    settings = ProjectorSettings()
    try:
        return asyncio.run(read_dead_letters(settings.bootstrap, dlq_topic(group), offsets))
    except Exception as exc:
        console.print(f"[red]error[/red] cannot read {dlq_topic(group)}: {exc}")
        raise typer.Exit(1) from None


@dlq_app.command("list")
def list_(
    group: Group,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """Every dead letter of the group: offset, when, why, from where, which stream version."""
    letters = _letters(group)
    if as_json:
        for letter in letters:
            headers = read_dlq_headers(list(letter.headers or ()))
            print(json.dumps({"offset": letter.offset, **headers}))
        return
    table = Table("offset", "time", "reason", "error", "from", "stream@version",
                  title=f"{dlq_topic(group)}: {len(letters)} dead letters")  # fmt: skip
    for letter in letters:
        h = read_dlq_headers(list(letter.headers or ()))
        stream = h.get("stream_id", "-") + (
            f"@{h['stream_version']}" if "stream_version" in h else ""
        )
        table.add_row(
            str(letter.offset), h.get("timestamp", "-"), h.get("reason", "-"),
            f"{h.get('error_class', '-').rsplit('.', 1)[-1]}: {h.get('error_message', '')[:60]}",
            f"{h.get('original_topic', '?')}:{h.get('original_partition', '?')}"
            f"@{h.get('original_offset', '?')}", stream,
        )  # fmt: skip
    console.print(table)


@dlq_app.command()
def show(group: Group, offset: Annotated[int, typer.Argument(help="offset in the DLQ")]) -> None:
    """One dead letter: every header, the key and the original value."""
    found = _letters(group, [offset])
    if not found:
        console.print(f"[red]error[/red] no dead letter at offset {offset} of {dlq_topic(group)}")
        raise typer.Exit(1)
    letter = found[0]
    for name, value in read_dlq_headers(list(letter.headers or ())).items():
        console.print(f"[bold]{name}[/bold]: {value}")
    console.print(f"[bold]key[/bold]: {_text(letter.key)}")
    console.print("[bold]value[/bold]:")
    console.print(_text(letter.value, pretty=True))


def _text(raw: bytes | None, pretty: bool = False) -> str:
    if raw is None:
        return "(null)"
    try:
        return json.dumps(json.loads(raw), indent=2 if pretty else None, ensure_ascii=False)
    except ValueError:
        return raw.decode(errors="replace")


@dlq_app.command()
def replay(
    group: Group,
    offset: Annotated[
        list[int] | None, typer.Option("--offset", help="replay the dead letter at this offset")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="replay every dead letter, in order")] = False,
) -> None:
    """Apply a projector group's dead letters again (after fixing their cause).

    Each goes through the projection's normal apply path: applied once per (stream, version),
    skipped when already applied; the parked versions behind it follow. A record that still
    fails changes nothing and stays in the DLQ. The projector's positions do not move.
    """
    if bool(offset) == all_:
        raise typer.BadParameter("give --offset N (one or more) or --all")
    projection = _projection_of(group)
    letters = _letters(group, None if all_ else offset)
    if not letters:
        console.print("no dead letters to replay")
        return
    result = asyncio.run(_replay(projection, letters))
    console.print(
        f"[green]✓[/green] {len(result.applied)} applied, {len(result.skipped)} already applied "
        f"or waiting, {result.unparked} parked versions followed, "
        f"{len(result.failed)} still failing"
    )
    for where, why in result.failed:
        console.print(f"  [red]offset {where}[/red]: {why}")
    if result.failed:
        raise typer.Exit(1)


def _projection_of(group: str) -> Any:
    from annals.projections.process import pick
    from annals.projections.worker import group_of

    settings = ProjectorSettings()
    for projection in pick(None):
        if group_of(projection, settings) == group:
            return projection
    raise typer.BadParameter(
        f"{group} is not a projector group (projector.<name>); a subscriber replays its dead "
        "letters in its own process (Subscriber.replay_dead_letters)"
    )


async def _replay(projection: Any, letters: list[Any]) -> Any:
    from annals.projections.process import key_store, registries
    from annals.projections.repair import replay

    settings = ProjectorSettings()
    async with key_store(settings) as keys:
        return await replay(projection, settings, letters, registries=registries(), keys=keys)
