"""`annals projections run|list|status|rebuild|unpark`, `annals projectors|query up|down`."""

from __future__ import annotations

import asyncio
import logging
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from annals.messaging.errors import MessagingError
from annals.projections import launcher
from annals.projections.settings import ProjectorSettings
from annals.stack.errors import StackError
from annals.stack.settings import StackSettings

if TYPE_CHECKING:
    from annals.web.launcher import ServiceSpec

console = Console(highlight=False, soft_wrap=True)
projections_app = typer.Typer(
    help="Read models: run, list, status, rebuild by replay.", no_args_is_help=True
)
projectors_app = typer.Typer(
    help="Detached projector workers (.stack/ pid and log).", no_args_is_help=True
)
query_app = typer.Typer(help="The query API (uvicorn on :8003, detached).", no_args_is_help=True)
Names = Annotated[list[str] | None, typer.Argument(help="projections (default: all)")]


class Source(StrEnum):
    """Where a rebuild replays events from."""

    store = "store"
    kafka = "kafka"


def register(app: typer.Typer) -> None:
    """Add `annals projections|projectors|query ...` to app."""
    app.add_typer(projections_app, name="projections")
    app.add_typer(projectors_app, name="projectors")
    app.add_typer(query_app, name="query")


def _pick(names: list[str] | None) -> list:
    from annals.projections.process import pick

    try:
        return pick(names or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@projections_app.command()
def run(names: Names = None) -> None:
    """Run a worker per projection in the foreground (until SIGTERM/SIGINT)."""
    from annals.projections.process import serve

    _pick(names)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    asyncio.run(serve(names or []))


@projections_app.command("list")
def list_(names: Names = None) -> None:
    """Every projection: database, topics, live version and its other versions."""
    from annals.projections.status import status

    settings = ProjectorSettings()
    table = Table(
        "projection",
        "database",
        "topics",
        "live",
        "other versions",
        "description",
        title="annals projections",
    )
    for projection in _pick(names):
        row = asyncio.run(status(projection, settings, ends={}))
        live = (
            f"v{row.live}" if row.live else (f"[red]{row.error[:40]}[/red]" if row.error else "-")
        )
        table.add_row(
            projection.name, projection.database, ", ".join(projection.topics), live,
            ", ".join(row.others) or "-", projection.description,
        )  # fmt: skip
    console.print(table)


@projections_app.command("status")
def status_(names: Names = None) -> None:
    """State (live only while applying), lag, stuck partitions, last error; exit 1 on trouble.

    `stalled`: records wait and nothing moves (no worker owns the partition, its worker fails,
    or no progress for ANNALS_PROJECTOR_STALL_AFTER_S); `stopped`: no worker runs.
    """
    from annals.projections.status import end_offsets, status

    settings = ProjectorSettings()
    projections = _pick(names)
    topics = sorted({t for p in projections for t in p.topics})
    try:
        ends = asyncio.run(end_offsets(settings, topics))
    except Exception as exc:
        console.print(f"[yellow]Kafka unreachable ({exc}): lag unknown[/yellow]")
        ends = None
    table = Table("projection", "version", "state", "workers", "lag (records)", "lag (s)",
                  "parked streams", "dead letters", "last progress", "stuck at", "last error",
                  title="annals projections status")  # fmt: skip
    trouble = False
    for projection in projections:
        row = asyncio.run(status(projection, settings, ends))
        trouble = trouble or bool(row.error) or row.state != "live" or row.parked_streams > 0
        colour = {"live": "green", "stalled": "red"}.get(row.state, "yellow")
        state = f"[{colour}]{row.state}[/{colour}]"
        table.add_row(
            row.name, f"v{row.live}" if row.live else "-",
            state if not row.error else f"[red]{row.error[:50]}[/red]",
            str(row.workers), "?" if row.lag_records is None else f"{row.lag_records:,}",
            "?" if row.lag_seconds is None else f"{row.lag_seconds:.1f}",
            str(row.parked_streams), str(row.dead_letters),
            row.progress_at.isoformat(timespec="seconds") if row.progress_at else "-",
            ", ".join(row.stuck[:3]) or "-", row.last_error[:60] or "-",
        )  # fmt: skip
    console.print(table)
    workers = launcher.running(StackSettings())
    pids = ", ".join(
        f"projector-{i} pid {p} (metrics :{launcher.METRICS_BASE + i})" for i, p in workers.items()
    )
    console.print(f"workers: {pids or 'none running (annals projectors up)'}")
    if trouble:
        raise typer.Exit(1)


@projections_app.command()
def unpark(
    name: Annotated[str, typer.Argument(help="the projection")],
    stream: Annotated[str, typer.Argument(help="the parked stream id, e.g. order-o1")],
) -> None:
    """Skip a parked stream's missing versions and apply its parked versions, in order.

    A stream parks when a version is missing or was dead-lettered; it unparks by itself when
    that version arrives (or `annals dlq replay` applies it). Use this when it never will:
    the gap is skipped for good (a later replay of a skipped version changes nothing), the
    parked versions are applied through the normal path, and a further gap among them is
    skipped too. A parked version that fails now goes back to waiting (dead letter).
    """
    from annals.projections.process import key_store
    from annals.projections.repair import UnparkResult
    from annals.projections.repair import unpark as unpark_stream

    [projection] = _pick([name])
    settings = ProjectorSettings()

    async def go() -> UnparkResult:
        async with key_store(settings) as keys:
            return await unpark_stream(projection, settings, stream, keys)

    try:
        result = asyncio.run(go())
    except (LookupError, OSError) as exc:
        console.print(f"[red]error[/red] {exc}")
        raise typer.Exit(1) from None
    if not result.parked:
        console.print(f"{stream} is not parked in {name}")
        return
    console.print(
        f"[green]✓[/green] {stream}: {result.gaps_skipped} missing versions skipped, "
        f"{result.applied} parked versions applied"
        + (" — parked again:" if result.still_parked else "")
    )
    for line in result.dead:
        console.print(f"  [red]{line}[/red]")
    if result.still_parked:
        raise typer.Exit(1)


class Rate(ProgressColumn):
    """Events per second of a task."""

    def render(self, task: Task) -> Text:
        """The task's speed."""
        return Text(f"{task.speed or 0:,.0f} events/s", style="progress.data.speed")


@projections_app.command()
def rebuild(
    name: Annotated[str, typer.Argument(help="the projection to rebuild")],
    from_: Annotated[
        Source, typer.Option("--from", help="replay the event stores or Kafka from offset 0")
    ] = Source.store,
    keep_old: Annotated[
        bool, typer.Option("--keep-old", help="keep the previous version's tables")
    ] = False,
) -> None:
    """Build a new version beside the live one, catch up, switch atomically, drop the old one."""
    from annals.projections.process import key_store, registries
    from annals.projections.rebuild import Rebuild, RebuildResult

    [projection] = _pick([name])
    settings = ProjectorSettings()
    columns = (
        TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), Rate(),
        TextColumn("ETA"), TimeRemainingColumn(),
    )  # fmt: skip
    with Progress(*columns, console=console, refresh_per_second=5) as progress:
        tasks: dict[str, object] = {}

        def report(phase: str, done: int, total: int | None) -> None:
            task = tasks.get(phase)
            if task is None:
                task = tasks[phase] = progress.add_task(phase, total=total)
            progress.update(task, completed=done, total=total)  # type: ignore[arg-type]

        async def go() -> RebuildResult:
            async with key_store(settings) as keys:
                job = Rebuild(
                    projection, settings, source=from_.value, keep_old=keep_old, keys=keys,
                    registries=registries(), progress=report,
                )  # fmt: skip
                return await job.run()

        try:
            result = asyncio.run(go())
        except Exception as exc:
            console.print(f"[red]error[/red] rebuild of {name} failed: {type(exc).__name__}: {exc}")
            raise typer.Exit(1) from None
    old = "-" if result.previous is None else f"v{result.previous}"
    fate = "dropped" if result.dropped_previous else "kept" if result.previous else ""
    was = f"{old}, {fate}" if fate else old
    console.print(
        f"[green]✓[/green] {name}: v{result.version} is live (was {was}); "
        f"{result.store_events:,} events from the store, {result.kafka_records:,} Kafka records, "
        f"{result.seconds:.1f}s ({result.rate:,.0f} events/s)"
    )


def _valid_settings() -> None:
    """Exit 1 with the invalid settings named (no traceback) before anything is started."""
    from pydantic import ValidationError

    try:
        ProjectorSettings()
    except ValidationError as exc:
        wrong = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        console.print(f"[red]error[/red] invalid projector settings (ANNALS_PROJECTOR_*): {wrong}")
        raise typer.Exit(1) from None


def _topics_failed(exc: Exception) -> NoReturn:
    console.print(f"[red]error[/red] creating the projectors' topics: {type(exc).__name__}: {exc}")
    raise typer.Exit(1) from None


@projectors_app.command("up")
def projectors_up(
    processes: Annotated[
        int, typer.Option(help="worker processes (one consumer group per projection)")
    ] = 2,
    names: Names = None,
) -> None:
    """Start detached projector workers (pid/log under .stack/, metrics on :9401...)."""
    _pick(names)
    _valid_settings()
    stack = StackSettings()
    try:
        started = launcher.start_projectors(processes, names or [], stack)
    except (OSError, TimeoutError, KafkaError, MessagingError) as exc:
        _topics_failed(exc)
    alive = launcher.wait_alive(stack, 2.0)
    for index, pid in started.items():
        if index not in alive:
            log = stack.log(launcher.component(index))
            console.print(f"[red]error[/red] projector-{index} exited; see {log}")
            raise typer.Exit(1)
        port = launcher.METRICS_BASE + index
        console.print(
            f"[green]✓[/green] projector-{index} pid {pid}, metrics http://127.0.0.1:{port}/metrics"
            f", log {stack.log(launcher.component(index))}"
        )


@projectors_app.command("prepare")
def projectors_prepare(names: Names = None) -> None:
    """Create the projections' topics and dead-letter topics as admin (workers create none)."""
    _pick(names)
    _valid_settings()
    try:
        launcher.prepare_topics(names or [])
    except (OSError, TimeoutError, KafkaError, MessagingError) as exc:
        _topics_failed(exc)
    console.print("[green]✓[/green] the projectors' topics and dead-letter topics exist")


@projectors_app.command("down")
def projectors_down() -> None:
    """Stop the detached projector workers."""
    stopped = launcher.stop_projectors(StackSettings())
    console.print(
        f"projectors stopped: {', '.join(f'projector-{i}' for i in stopped) or 'none were running'}"
    )


@projectors_app.command("status")
def projectors_status() -> None:
    """The projector processes and their projections' status."""
    status_(None)


def _query_spec() -> ServiceSpec:
    from annals.web.launcher import specs

    [spec] = specs("query").values()  # one query API is declared
    return spec


@query_app.command("up")
def query_up(wait: float = 60.0) -> None:
    """Start the query API detached (uvicorn, workers = cores) and wait until ready."""
    from annals.web import launcher as web

    spec = _query_spec()
    settings = spec.settings()
    try:
        pid = web.start(spec, settings, StackSettings(), wait)
    except StackError as exc:
        console.print(f"[red]error[/red] {exc.line()}")
        raise typer.Exit(1) from None
    console.print(
        f"[green]✓[/green] query http://{settings.host}:{settings.port} (pid {pid}, docs /docs)"
    )


@query_app.command("down")
def query_down() -> None:
    """Stop the query API."""
    from annals.web import launcher as web

    stopped = web.stop(_query_spec(), StackSettings())
    console.print(f"query: {'stopped' if stopped else 'not running'}")


@query_app.command("serve")
def query_serve() -> None:
    """Run the query API in the foreground."""
    import os

    from annals.web import launcher as web

    spec = _query_spec()
    args = web.uvicorn_args(spec, spec.settings())
    os.execv(args[0], args)
