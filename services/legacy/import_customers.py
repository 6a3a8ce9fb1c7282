"""The strangler path: legacy_customers become CustomerRegistered events of the customer service.

Each legacy row goes through the customer service's own rules (RegisterCustomer, decide, the
email reservation in the append transaction), into stream `customer-legacy-<legacy_id>` with
an event id derived from the legacy id (uuid5). A second run finds every stream and imports
nothing; a concurrent run loses the race on the stream version and counts the row as done.
The legacy id, customer number and source table are kept in the event metadata.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from customers.domain.commands import RegisterCustomer
from customers.domain.customer import Customer
from customers.service_layer.handlers import registry
from customers.service_layer.reservations import update_reservation
from pydantic import ValidationError

from annals.commands.errors import DomainError
from annals.eventstore.codec import EventCodec
from annals.eventstore.errors import WrongExpectedVersion
from annals.eventstore.postgres import PostgresEventStore
from annals.eventstore.repository import Repository
from legacy.schema import LegacySchema

NAMESPACE = uuid.UUID("6f1c2a51-3f8e-5d0b-9a43-0c7b1e2d9a10")  # fixed: event ids stay stable
SOURCE = "legacy_erp.legacy_customers"
ACTOR = "legacy-import"
BATCH = 500


async def open_customers_store(pool_size: int = 4) -> PostgresEventStore:
    """The customer service's event store, migrated (or checked) as the service does at start."""
    from annals.commands.storage import open_service_database
    from annals.web.launcher import specs

    spec = specs()["customers"]
    settings = spec.settings()
    database = await open_service_database(
        service=spec.name,
        dsn=settings.dsn,
        owner_dsn=settings.owner_dsn,
        app_role=settings.app_role,
        steps=spec.steps,
        grants=spec.grants,
        migrate=settings.migrate,
        pool_size=pool_size,
        server_settings=settings.server_settings,
    )
    return PostgresEventStore.owning(database)


def customer_id(legacy_id: int) -> str:
    """The customer id a legacy customer gets in the customer service."""
    return f"legacy-{legacy_id}"


def registered_event_id(legacy_id: int) -> uuid.UUID:
    """The deterministic id of a legacy customer's CustomerRegistered event."""
    return uuid.uuid5(NAMESPACE, f"{SOURCE}/{legacy_id}/CustomerRegistered")


@dataclass
class ImportReport:
    """What a run did: imported, already there (earlier runs), rejected with reasons."""

    imported: int = 0
    already: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    notes: Counter[str] = field(default_factory=Counter)

    @property
    def seen(self) -> int:
        """Legacy rows read."""
        return self.imported + self.already + len(self.rejected)


def command_for(row: Mapping[str, Any], notes: Counter[str]) -> RegisterCustomer:
    """RegisterCustomer for a legacy row; a phone the service refuses is left out (noted)."""
    values = {
        "customer_id": customer_id(row["legacy_id"]),
        "name": row["full_name"],
        "email": row["email"],
        "phone": row["phone"],
    }
    try:
        return RegisterCustomer.model_validate(values)
    except ValidationError as error:
        fields = {str(e["loc"][0]) for e in error.errors() if e["loc"]}
        if fields != {"phone"}:
            raise
    notes["phone left out (invalid)"] += 1
    return RegisterCustomer.model_validate({**values, "phone": None})


def _reason(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "row"
    return f"{where}: {first['msg']}"


class CustomerImporter:
    """Registers legacy customers in the customer service's event store."""

    def __init__(self, store: PostgresEventStore, run_id: str | None = None) -> None:
        self.store = store
        self.codec = EventCodec(registry(), store.keys)
        self.repository = Repository(store, self.codec, Customer)
        self.run_id = run_id or str(uuid.uuid4())

    async def run(
        self,
        legacy: asyncpg.Connection,
        where: LegacySchema | None = None,
        progress: Callable[[ImportReport], None] | None = None,
    ) -> ImportReport:
        """Import every legacy customer, in legacy_id order, in pages of BATCH rows."""
        table = (where or LegacySchema()).table("legacy_customers")
        report = ImportReport()
        last = -1
        while True:
            rows = await legacy.fetch(
                f"SELECT legacy_id, customer_no, full_name, email, phone FROM {table} "
                "WHERE legacy_id > $1 ORDER BY legacy_id LIMIT $2",
                last,
                BATCH,
            )
            if not rows:
                return report
            for row in rows:
                await self.import_one(row, report)
            last = rows[-1]["legacy_id"]
            if progress is not None:
                progress(report)

    async def import_one(self, row: Mapping[str, Any], report: ImportReport) -> None:
        """Register one legacy customer unless an earlier run did."""
        legacy_id = int(row["legacy_id"])
        cid = customer_id(legacy_id)
        aggregate = await self.repository.load(Customer.decider.stream_id(cid))
        if aggregate.version > 0:
            report.already += 1
            return
        try:
            command = command_for(row, report.notes)
            before = aggregate.state
            aggregate.execute(lambda state: Customer.decider.decide(state, cid, command))
        except ValidationError as error:
            report.rejected.append((legacy_id, _reason(error)))
            return
        except DomainError as error:
            report.rejected.append((legacy_id, error.detail))
            return
        metadata = {
            "legacy_id": legacy_id,
            "legacy_customer_no": row["customer_no"],
            "source": SOURCE,
            "actor": ACTOR,
            "correlation_id": self.run_id,
            "causation_id": f"{SOURCE}/{legacy_id}",
        }
        try:
            async with self.store.database.transaction() as uow:
                await update_reservation(uow, before, aggregate.state)
                await Repository(self.store.bound_to(uow), self.codec, Customer).save(
                    aggregate, metadata, event_ids=[registered_event_id(legacy_id)]
                )
        except WrongExpectedVersion:  # another run registered it meanwhile
            report.already += 1
            return
        except DomainError as error:  # e.g. the email belongs to another active customer
            report.rejected.append((legacy_id, error.detail))
            return
        report.imported += 1
